import Foundation
import HardwareModel
import Testing

/// A value's `range` (what its sources allow, what `smartinf calibrate` may move it within) and a
/// profile written back as a file.
@Suite struct ProfileRangeTests {
    func profile(_ hostLink: String) throws(ProfileError) -> Profile {
        try Profile(json: Data(("{\"schema\":1,\"kind\":\"host\",\"description\":\"h\",\"link\":{\"shared\":" + hostLink + ","
            + "\"sharedNominal\":{\"value\":\"16GB/s\",\"source\":\"s\"}},\"cpu\":{\"update\":{\"value\":\"32GB/s\",\"source\":\"s\"}},"
            + "\"latency\":{\"command\":{\"value\":\"10us\",\"source\":\"s\"}}}").utf8), name: "h", origin: "h.json")
    }

    func refusal(_ hostLink: String) -> String {
        do { _ = try profile(hostLink); return "accepted" } catch { return error.description }
    }

    @Test func aRangeIsReadInBaseUnits() throws {
        let entry = try #require(try profile(#"{"value": "8GB/s", "source": "s", "range": ["7GB/s", "9000MB/s"]}"#)["link.shared"])
        #expect(entry.range == 7e9...9e9)
        #expect(entry.rangeText == ["7GB/s", "9000MB/s"])
        #expect(try profile(#"{"value": "8GB/s", "source": "s"}"#)["link.shared"]?.range == nil)
    }

    @Test func badRangesAreRefusedNamingTheKey() {
        #expect(refusal(#"{"value": "8GB/s", "source": "s", "range": ["9GB/s", "7GB/s"]}"#)
            == "h.json: key 'link.shared.range': 9GB/s is above 7GB/s; expected [low, high], each a bandwidth such as \"3.2GB/s\", low ≤ high")
        #expect(refusal(#"{"value": "8GB/s", "source": "s", "range": ["1GB/s", "7GB/s"]}"#)
            == "h.json: key 'link.shared': 8GB/s is outside its range 1GB/s to 7GB/s; expected a value within the range its sources allow")
        #expect(refusal(#"{"value": "8GB/s", "source": "s", "range": ["7GB/s"]}"#).hasPrefix("h.json: key 'link.shared.range': expected [low, high]"))
        #expect(refusal(#"{"value": "8GB/s", "source": "s", "range": ["7GB", "9GB/s"]}"#).hasPrefix("h.json: key 'link.shared.range'"))
    }

    /// Every shipped profile written as a document reads back to the same entries, and a value
    /// set with a new source keeps its range.
    @Test func documentsRoundTrip() throws {
        let library = try ProfileLibrary.locate()
        for name in library.names {
            let original = try library.load(name)
            let again = try Profile(json: Data(original.document.utf8), name: name, origin: "again.json")
            #expect(again.entries == original.entries, "\(name)")
            #expect(again.summary == original.summary && again.kind == original.kind)
        }
        let host = try library.load("hpca24-host")
        let edited = try host.setting("link.shared", to: "7.5GB/s", source: "fitted to something").renamed("fitted", summary: "a fit")
        let entry = try #require(edited["link.shared"])
        #expect(entry.number == 7.5e9 && entry.source == "fitted to something" && entry.range == host["link.shared"]?.range)
        let reread = try Profile(json: Data(edited.document.utf8), name: "fitted", origin: "fitted.json")
        #expect(reread.entries == edited.entries && reread.summary == "a fit")
    }
}
