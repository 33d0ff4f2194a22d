import SmartSSD
import Testing

/// Fault specs: every kind parses to what it says, prints back the same, and a bad spec is
/// refused with the reason.
@Suite struct FaultPlanTests {
    @Test(arguments: [
        "crash@step=3,phase=write_m", "crash@step=2,phase=read,subgroup=4", "torn@step=3", "hang@step=5,phase=read",
        "eio@read", "eio@write,step=4,offset=8192", "corrupt@grad,step=3,subgroup=1,byte=100", "corrupt@state,step=2", "slow@link=0.1",
    ])
    func specsRoundTrip(spec: String) throws {
        let plan = try FaultPlan(parsing: spec)
        #expect(try FaultPlan(parsing: plan.description) == plan)
    }

    @Test func fieldsAreRead() throws {
        let eio = try FaultPlan(parsing: "eio@write,step=4,offset=8192")
        #expect(eio.kind == .eio && eio.direction == .write && eio.step == 4 && eio.offset == 8192)
        let hang = try FaultPlan(parsing: "hang@step=5")
        #expect(hang.kind == .hang && hang.step == 5 && hang.phase == .read)
        let corrupt = try FaultPlan(parsing: "corrupt@grad")
        #expect(corrupt.step == nil && corrupt.byte == 80)
        #expect(try FaultPlan(parsing: "slow@link=0.25").delay == 0.25)
        let torn = try FaultPlan(parsing: "torn@step=7")
        #expect(torn.kind == .torn && torn.step == 7)
    }

    @Test func badSpecsSayWhy() {
        let cases: [(String, String)] = [
            ("explode@step=1", "expected crash@"),
            ("crash@step=1", "both step= and phase= are required"),
            ("hang@phase=read", "step= is required"),
            ("torn@step=0", "step must be an integer ≥ 1"),
            ("torn@step=2,phase=read", "'phase' is not a key of torn"),
            ("eio@sideways", "eio needs read or write"),
            ("corrupt@memory", "corrupt needs a target"),
            ("slow@link=fast", "link must be a delay"),
            ("slow@step=2", "'step' is not a key of slow"),
            ("crash@step=0,phase=read", "step must be an integer ≥ 1"),
            ("eio@read,offset=-5", "offset must be an integer ≥ 0"),
            ("crash@step=1,phase=boom", "phase 'boom' is not one of"),
        ]
        for (spec, reason) in cases {
            #expect { _ = try FaultPlan(parsing: spec) } throws: { "\($0)".contains(reason) && "\($0)".contains(spec) }
        }
    }
}
