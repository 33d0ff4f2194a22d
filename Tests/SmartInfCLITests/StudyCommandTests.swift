import Foundation
import Testing

/// The study commands, run as the real executable: JSON documents, files they write, and the
/// errors a user can cause.
@Suite struct StudyCommandTests {
    let dir: String

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("study-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    func json(_ arguments: [String]) throws -> [String: Any] {
        let result = try SmartInfProcess.run(arguments + ["--json"])
        #expect(result.status == 0, "\(arguments): \(result.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
    }

    /// In-sample (`--folds none`: the cross-validation's refits are the slow part, and the fit is
    /// tested on its own in PlanTests): every Fig. 9 and Fig. 3b point, within the goals.
    @Test func validateMeetsTheGoalsAndSaysSo() throws {
        let doc = try json(["validate", "--folds", "none", "--chart", "\(dir)/chart.svg"])
        #expect(doc["goals_met"] as? Bool == true)
        let rows = try #require(doc["points"] as? [[String: Any]])
        #expect(rows.count == 16 + 5)
        for row in rows {
            let seconds = try #require(row["seconds"] as? [String: Double])
            #expect(Set(seconds.keys) == ["fw", "bw_grad_offload", "update"])
            let sum = seconds.values.reduce(0, +)
            #expect(abs(sum - (row["iteration_s"] as? Double ?? 0)) < 1e-9 * sum)
            if let error = row["speedup_error"] as? Double { #expect(abs(error) <= 0.10) }
            if let error = row["total_error"] as? Double { #expect(abs(error) <= 0.15) }
        }
        let inSample = try #require(doc["in_sample"] as? [String: Any])
        let all = try #require(inSample["all"] as? [String: Any])
        #expect(all["count"] as? Int == 16 + 12 + 5)
        let chart = try String(contentsOfFile: "\(dir)/chart.svg", encoding: .utf8)
        #expect(chart.contains("Model vs reference") && chart.components(separatedBy: ": published ").count - 1 == 16 + 12 + 5)
        // A machine the goals do not hold on is reported as such, with a failing status.
        let slow = try SmartInfProcess.run(["validate", "--folds", "none", "--set", "ssd.read=1GB/s"])
        #expect(slow.status != 0)
        #expect(slow.stdout.contains("MISSED"))
    }

    /// Overrides pass through into the resolved configuration and change the answer: halving the
    /// shared link slows base, which moves 32 B per parameter over it.
    @Test func synthPassesOverridesThrough() throws {
        let normal = try json(["synth", "--preset", "gpt2-2.5b", "--devices", "4"])
        let halved = try json(["synth", "--preset", "gpt2-2.5b", "--devices", "4", "--set", "link.shared=4GB/s"])
        let configuration = try #require(halved["configuration"] as? [String: Any])
        #expect(configuration["overrides"] as? [String] == ["link.shared=4GB/s"])
        #expect(configuration["preset"] as? String == "gpt2-2.5b")
        func base(_ doc: [String: Any]) throws -> [String: Any] {
            let results = try #require(doc["results"] as? [[String: Any]])
            #expect(results.map { $0["mode"] as? String } == ["base", "su", "su+o", "su+o+c"])
            return results[0]
        }
        #expect(try base(halved)["iteration_s"] as! Double > base(normal)["iteration_s"] as! Double)
        #expect(try base(normal)["speedup_vs_base"] as? Double == 1)
        let bytes = try #require(try base(normal)["bytes"] as? [String: Any])
        #expect(abs((bytes["shared_link_per_param"] as? Double ?? 0) - 32) < 1e-9)
    }

    /// synth --save → replay: unchanged it reproduces the recorded timeline; changed it re-plans;
    /// export turns it into Perfetto JSON; report draws the study around it.
    @Test func traceRoundTripThroughReplayExportAndReport() throws {
        let trace = "\(dir)/t.jsonl"
        let saved = try SmartInfProcess.run(["synth", "--preset", "gpt2-2.5b", "--devices", "3", "--mode", "su+o", "--save", trace])
        #expect(saved.status == 0, "\(saved.stderr)")
        let same = try json(["replay", trace])
        #expect(same["reproduces_recorded_timeline"] as? Bool == true)
        let recorded = try #require(same["recorded"] as? [String: Any])
        let result = try #require(same["result"] as? [String: Any])
        #expect(recorded["iteration_s"] as? Double == result["iteration_s"] as? Double)
        let more = try json(["replay", trace, "--devices", "6"])
        #expect(more["reproduces_recorded_timeline"] as? Bool == false)
        #expect(try #require((more["result"] as? [String: Any])?["iteration_s"] as? Double) < result["iteration_s"] as! Double)

        let perfetto = "\(dir)/p.json"
        #expect(try SmartInfProcess.run(["export", trace, "--perfetto", perfetto]).status == 0)
        let events = try #require((try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: perfetto)))
            as? [String: Any])?["traceEvents"] as? [[String: Any]])
        #expect(events.contains { $0["ph"] as? String == "X" })

        let report = try SmartInfProcess.run(["report", trace, "--out", "\(dir)/report"])
        #expect(report.status == 0, "\(report.stderr)")
        #expect(FileManager.default.fileExists(atPath: "\(dir)/report/index.html"))
        // With the paper's reference sets drawn against the model on the default profiles.
        let chart = try String(contentsOfFile: "\(dir)/report/model-vs-reference.svg", encoding: .utf8)
        #expect(chart.components(separatedBy: ": published ").count - 1 == 16 + 12 + 5)
        #expect(try String(contentsOfFile: "\(dir)/report/index.html", encoding: .utf8).contains("Model vs reference"))
    }

    /// Today's models and hardware through the same round trip: a Mixtral LoRA trace on the Gen5
    /// profiles keeps its shape and adapters, and replays to the same timeline.
    @Test func todaysModelTraceRoundTrips() throws {
        let trace = "\(dir)/mixtral.jsonl"
        let saved = try SmartInfProcess.run(["synth", "--preset", "mixtral-8x7b", "--seq", "512", "--batch", "1", "--devices", "4",
                                             "--gpu", "h100", "--host", "pcie-gen5-host", "--device", "smartssd-gen5",
                                             "--lora-rank", "8", "--lora-targets", "q,gate", "--mode", "su+o", "--save", trace])
        #expect(saved.status == 0, "\(saved.stderr)")
        #expect(saved.stdout.contains("experts=8 top-2 (12.88 B active)") && saved.stdout.contains("LoRA r=8 on q,gate"), "\(saved.stdout)")
        let same = try json(["replay", trace])
        #expect(same["reproduces_recorded_timeline"] as? Bool == true)
        let workload = try #require((same["configuration"] as? [String: Any])?["workload"] as? [String: Any])
        let model = try #require(workload["model"] as? [String: Any])
        #expect(model["family"] as? String == "mixtral" && model["experts"] as? Int == 8 && model["kv_heads"] as? Int == 8)
        #expect((workload["lora"] as? [String: Any])?["targets"] as? [String] == ["q", "gate"])
        // 32 blocks × rank 8 × (q: 4096 + 4096, gate: 8 experts × (4096 + 14336)).
        #expect(workload["trainable_parameters"] as? Int == 32 * 8 * (8192 + 8 * (4096 + 14336)))
    }

    /// calibrate on a small reference set of one's own: fits within the range, writes the
    /// profile with a source that says what it was fitted to, and the written profile loads.
    @Test func calibrateWritesAFittedProfile() throws {
        let reference = "\(dir)/mine.json"
        let model = #"{"layers": 2, "hidden": 2560, "heads": 20, "seq": 1024, "batch": 4}"#
        try Data((#"{"format": "smartinf-reference", "version": 1, "source": "a test", "points": ["#
            + #"{"model": \#(model), "devices": 1, "mode": "base", "iteration_s": 9.0}, "#
            + #"{"model": \#(model), "devices": 2, "mode": "base", "speedup": 1.6, "relative_to": {"devices": 1, "mode": "base"}}]}"#).utf8)
            .write(to: URL(fileURLWithPath: reference))
        let doc = try json(["calibrate", "--reference", reference, "--fit", "ssd.write", "--folds", "none", "--out", "\(dir)/fitted"])
        let parameters = try #require(doc["parameters"] as? [[String: Any]])
        #expect(parameters.map { $0["key"] as? String } == ["ssd.write"])
        let value = try #require(parameters[0]["value"] as? Double)
        #expect((1.5e9...3.2e9).contains(value))
        let path = "\(dir)/fitted/smartssd-calibrated.json"
        #expect(doc["profiles_written"] as? [String] == [path])
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.contains("fitted by smartinf calibrate (--fit ssd.write) to mine"))
        // The written profile is a valid device profile that the study commands load by path.
        let synth = try json(["synth", "--preset", "gpt2-2.5b", "--devices", "2", "--mode", "base", "--device", path])
        #expect((synth["results"] as? [[String: Any]])?.count == 1)
        // A quantity without a range in its profile is refused, naming it.
        let refused = try SmartInfProcess.run(["calibrate", "--reference", reference, "--fit", "ssd.capacity", "--out", "\(dir)/x"])
        #expect(refused.status != 0 && refused.stderr.contains("ssd.capacity") && refused.stderr.contains("range"))
    }

    /// Many hosts through synth, its trace, replay and sweep: the configuration, the network's
    /// bytes, and a replay of the trace at its own hosts.
    @Test func manyHostsRoundTripThroughSynthReplayAndSweep() throws {
        let common = ["--preset", "llama3-8b", "--seq", "1024", "--batch", "1", "--devices", "4", "--gpu", "h100",
                      "--host", "pcie-gen5-host", "--device", "smartssd-gen5"]
        let one = try json(["synth"] + common + ["--mode", "su+o"])
        let doc = try json(["synth"] + common + ["--mode", "su+o", "--hosts", "8", "--set", "net.bandwidth=400Gb/s"])
        #expect((doc["configuration"] as? [String: Any])?["hosts"] as? Int == 8)
        let result = try #require((doc["results"] as? [[String: Any]])?.first)
        let oneResult = try #require((one["results"] as? [[String: Any]])?.first)
        #expect(result["hosts"] as? Int == 8 && oneResult["hosts"] as? Int == 1)
        let network = try #require((result["bytes"] as? [String: Any])?["network"] as? Double)
        #expect(abs(network / (4 * 8_030_261_248 * 7 / 8) - 1) < 1e-3, "\(network)")
        #expect((oneResult["bytes"] as? [String: Any])?["network"] as? Double == 0)
        #expect(try #require(result["iteration_s"] as? Double) < oneResult["iteration_s"] as! Double)
        // 400 Gb/s is 50 GB/s.
        #expect(abs(try #require(result["network_busy_s"] as? Double) - network / 50e9) < 1e-9)

        let text = try SmartInfProcess.run(["synth"] + common + ["--hosts", "4"])
        #expect(text.status == 0 && text.stdout.contains("4 such hosts (figures per host), network 48 GB/s each way"), "\(text.stdout)")
        #expect(text.stdout.contains("network GB  network busy s"), "\(text.stdout)")

        let trace = "\(dir)/hosts.jsonl"
        #expect(try SmartInfProcess.run(["synth"] + common + ["--mode", "su+o", "--hosts", "4", "--save", trace]).status == 0)
        #expect(try String(contentsOfFile: trace, encoding: .utf8).contains(#""config":{"devices":4,"hosts":4,"mode":"su+o"}"#))
        let same = try json(["replay", trace])
        #expect(same["reproduces_recorded_timeline"] as? Bool == true)
        #expect((same["configuration"] as? [String: Any])?["hosts"] as? Int == 4)
        let replanned = try json(["replay", trace, "--devices", "8"])
        #expect((replanned["result"] as? [String: Any])?["hosts"] as? Int == 4)
        // Perfetto shows the collectives on the network's own track.
        #expect(try SmartInfProcess.run(["export", trace, "--perfetto", "\(dir)/hosts.perfetto.json"]).status == 0)
        let perfetto = try String(contentsOfFile: "\(dir)/hosts.perfetto.json", encoding: .utf8)
        #expect(perfetto.contains(#""name":"network ↑""#) && perfetto.contains("all-gather subgroup 0"))
        let alone = try json(["replay", trace, "--hosts", "1"])
        #expect((alone["result"] as? [String: Any])?["iteration_s"] as? Double == oneResult["iteration_s"] as? Double)

        let csv = "\(dir)/hosts.csv"
        let sweep = try json(["sweep", "--presets", "gpt2-2.5b", "--devices", "4", "--hosts", "1,2,8", "--modes", "base,su+o",
                              "--device", "smartssd,nvme", "--out", csv])
        // smartssd: 3 host counts × 2 modes; nvme (no FPGA): base only.
        #expect(sweep["points"] as? Int == 3 * 2 + 3)
        let rows = try #require(sweep["rows"] as? [[String: Any]])
        #expect(rows.map { $0["hosts"] as? Int } == [1, 1, 2, 2, 8, 8, 1, 2, 8])
        #expect(rows.map { $0["device"] as? String } == Array(repeating: "smartssd", count: 6) + Array(repeating: "nvme", count: 3))
        let lines = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n")
        #expect(lines[0].hasSuffix(",hosts,network_bytes,network_s,what_ifs,device_price_usd,device_cost_usd,steps_per_hour_per_kusd")
            && lines.count == 1 + 9)
    }

    @Test func sweepWritesOneRowPerPoint() throws {
        let csv = "\(dir)/s.csv"
        let doc = try json(["sweep", "--presets", "gpt2-2.5b", "--devices", "2,6", "--ratios", "0.01,0.1", "--out", csv])
        #expect(doc["points"] as? Int == 2 * (3 + 2))
        let lines = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 1 + 10)
        #expect(lines[0].hasPrefix("model,parameters,devices,mode,topk_ratio"))
    }

    /// The workload what-ifs and device prices as sweep axes: every what-if reaches every mode,
    /// a device priced twice gives each point twice with the same times, a device without a
    /// price says n/a, and the report draws the priced ones against their cost.
    @Test func sweepSweepsWhatIfsAndPrices() throws {
        let csv = "\(dir)/cost.csv"
        let doc = try json(["sweep", "--presets", "gpt2-2.5b", "--devices", "2,4", "--modes", "base,su+o", "--state-bits", "32,8",
                            "--overlap-backward", "off,on", "--gpus", "h100", "--host-profiles", "pcie-gen5-host",
                            "--device", "nvme-gen5,smartssd-gen5,smartssd", "--prices", "smartssd-gen5=1000USD,smartssd-gen5=2kUSD",
                            "--out", csv])
        // nvme-gen5: base only, 2 × 2 what-ifs × 2 counts; the SmartSSDs: 2 modes each, the Gen5 one at two prices.
        #expect(doc["points"] as? Int == 8 + 16 * 2 + 16)
        let all = try #require(doc["rows"] as? [[String: Any]])
        func rows(of device: String) -> [[String: Any]] { all.filter { $0["device"] as? String == device } }
        for row in rows(of: "nvme-gen5") {
            #expect(row["device_price_usd"] is NSNull && row["steps_per_hour_per_kusd"] is NSNull)
        }
        for row in rows(of: "smartssd") {
            let devices = Double(row["devices"] as! Int), seconds = row["iteration_s"] as! Double
            #expect(row["device_price_usd"] as? Double == 517 && row["device_cost_usd"] as? Double == devices * 517)
            let steps = try #require(row["steps_per_hour_per_kusd"] as? Double)
            #expect(abs(steps - 3600 / seconds / (devices * 0.517)) < 1e-9 * steps)
        }
        let gen5 = rows(of: "smartssd-gen5")
        // Each (what-if, device count)'s base and su+o at 1000 USD, then again at 2000 USD.
        let quartet: [Double] = [1000, 1000, 2000, 2000]
        let prices: [Double] = (0..<8).flatMap { _ in quartet }
        #expect(gen5.map { $0["device_price_usd"] as? Double ?? -1 } == prices)
        let seconds = gen5.map { $0["iteration_s"] as? Double ?? -1 }
        for group in stride(from: 0, to: seconds.count, by: 4) {
            #expect(seconds[group] == seconds[group + 2] && seconds[group + 1] == seconds[group + 3])
        }
        // 8-bit states reach su+o: fewer bytes inside each device than fp32 at the same point.
        func suO(_ whatIfs: [String], devices: Int) throws -> [String: Any] {
            try #require(rows(of: "smartssd").first {
                $0["mode"] as? String == "su+o" && $0["what_ifs"] as? [String] == whatIfs && $0["devices"] as? Int == devices
            })
        }
        let fp32 = try suO([], devices: 4), eight = try suO(["state-bits=8"], devices: 4)
        let bytes = { (row: [String: Any]) in (row["bytes"] as? [String: Any])?["per_device"] as? Double ?? 0 }
        #expect(bytes(eight) < bytes(fp32))
        #expect(try suO(["state-bits=8", "overlap-backward"], devices: 2)["iteration_s"] as? Double
            != suO(["state-bits=8"], devices: 2)["iteration_s"] as? Double)
        let text = try String(contentsOfFile: csv, encoding: .utf8)
        #expect(text.split(separator: "\n").filter { $0.hasSuffix(",n/a,n/a,n/a") }.count == 8)
        // The report draws the three priced lines of each mode; the Gen5 drives are left out, named.
        #expect(try SmartInfProcess.run(["report", csv, "--out", "\(dir)/cost", "--no-reference"]).status == 0)
        let svg = try String(contentsOfFile: "\(dir)/cost/cost.svg", encoding: .utf8)
        for price in ["data-price=\"517\"", "data-price=\"1000\"", "data-price=\"2000\""] { #expect(svg.contains(price)) }
        let page = try String(contentsOfFile: "\(dir)/cost/index.html", encoding: .utf8)
        #expect(page.contains("Left out, without a price (n/a in the table): nvme-gen5"))
    }

    @Test func userErrorsAreNamed() throws {
        let cases: [([String], String)] = [
            (["synth", "--preset", "gpt2-7b"], "unknown preset 'gpt2-7b'"),
            (["synth", "--layers", "2", "--hidden", "100", "--heads", "3"], "--heads 3 does not divide --hidden 100"),
            (["synth", "--layers", "2", "--hidden", "4611686018427387904", "--heads", "1"], "--hidden 4611686018427387904: expected"),
            (["synth", "--layers", "2", "--hidden", "64", "--heads", "1", "--batch", "9223372036854775807"],
             "--batch 9223372036854775807: expected"),
            (["synth", "--preset", "gpt2-2.5b", "--device", "nvme", "--mode", "su"], "has no fpga section"),
            (["synth", "--preset", "gpt2-2.5b", "--set", "link.shared=fast"], "link.shared"),
            (["sweep", "--ratios", "2", "--out", "\(dir)/x.csv"], "--ratios: '2'"),
            (["sweep", "--modes", "turbo", "--out", "\(dir)/x.csv"], "--modes: 'turbo' is not one of base, su, su+o, su+o+c"),
            (["sweep", "--presets", "llama3-8b,llama3-7b", "--out", "\(dir)/x.csv"],
             "unknown preset 'llama3-7b'; expected one of: gpt2-2.5b"),
            (["sweep", "--presets", "llama3-8b", "--gpus", "h100,h300", "--out", "\(dir)/x.csv"], "no profile named 'h300'"),
            (["synth", "--preset", "gpt2-2.5b", "--mode", "turbo"],
             "The value 'turbo' is invalid for '--mode <mode>'. Please provide one of 'base', 'su', 'su+o' or 'su+o+c'."),
            (["synth", "--layers", "2", "--hidden", "64", "--heads", "1", "--model", "gemma"],
             "The value 'gemma' is invalid for '--model <model>'. Please provide one of 'gpt2', 'bert', 'llama' or 'mixtral'."),
            (["synth", "--layers", "2", "--hidden", "64", "--heads", "4", "--model", "llama", "--kv-heads", "3"],
             "--kv-heads 3: expected a divisor of heads (4)"),
            (["synth", "--preset", "llama3-8b", "--state-bits", "4"], "--state-bits 4: expected 32 (fp32 states) or 8"),
            (["synth", "--preset", "llama3-8b", "--lora-rank", "8", "--lora-targets", "q,qk"],
             "--lora-targets: 'qk' is not one of q, k, v, o, gate, up, down"),
            (["sweep", "--optimizer", "lion", "--out", "\(dir)/x.csv"],
             "The value 'lion' is invalid for '--optimizer <optimizer>'. Please provide one of 'adamw', 'sgd' or 'adagrad'."),
            (["synth", "--preset", "gpt2-2.5b", "--hosts", "0"], "--hosts 0: expected at least 1 host"),
            (["synth", "--preset", "gpt2-2.5b", "--hosts", "70000"], "--hosts 70000: expected at most 65536 hosts"),
            (["synth", "--preset", "gpt2-2.5b", "--hosts", "2", "--set", "net.bandwidth=fast"],
             "--set net.bandwidth=fast: key 'net.bandwidth': \"fast\" does not start with a number"),
            (["sweep", "--hosts", "1,0", "--out", "\(dir)/x.csv"], "--hosts: '0' is not an integer from 1 to 65536"),
            (["sweep", "--device", "nvme", "--modes", "su+o", "--out", "\(dir)/x.csv"], "a plain drive (no fpga section) runs base only"),
            (["sweep", "--state-bits", "32,4", "--out", "\(dir)/x.csv"], "--state-bits 4: expected 32 (fp32 states) or 8"),
            (["sweep", "--host-shares", "0,1", "--out", "\(dir)/x.csv"], "--host-shares: '1.0' is not a fraction in [0, 1)"),
            (["sweep", "--host-shares=-0.1", "--out", "\(dir)/x.csv"], "--host-shares: '-0.1' is not a number in 0.0...1.0"),
            (["sweep", "--overlap-backward", "maybe", "--out", "\(dir)/x.csv"], "--overlap-backward: 'maybe' is not one of off, on"),
            (["sweep", "--activations-to-storage", "yes", "--out", "\(dir)/x.csv"],
             "--activations-to-storage: 'yes' is not one of off, on"),
            (["sweep", "--prices", "smartssd=cheap", "--out", "\(dir)/x.csv"],
             #"--prices: 'smartssd=cheap': "cheap" does not start with a number; expected a price in US dollars such as "517USD""#),
            (["sweep", "--prices", "smartssd=-5USD", "--out", "\(dir)/x.csv"], #"--prices: 'smartssd=-5USD': "-5USD" is negative"#),
            (["sweep", "--prices", "nvme-gen5=900USD", "--out", "\(dir)/x.csv"],
             "--prices: 'nvme-gen5=900USD' names no profile of --device (smartssd)"),
            (["sweep", "--prices", "smartssd", "--out", "\(dir)/x.csv"], "--prices: 'smartssd' is not PROFILE=PRICE"),
            (["synth", "--preset", "gpt2-2.5b", "--set", "device.price=-5USD"],
             #"--set device.price=-5USD: key 'device.price': "-5USD" is negative; expected a price in US dollars"#),
            (["replay", "\(dir)/missing.jsonl"], "missing.jsonl"),
            (["report", "\(dir)/missing.csv", "--out", "\(dir)/r"], "cannot read"),
        ]
        for (arguments, message) in cases {
            let result = try SmartInfProcess.run(arguments)
            #expect(result.status != 0, "\(arguments)")
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
        }
        // A trace from a newer smartinf is refused by version.
        let trace = "\(dir)/new.jsonl"
        #expect(try SmartInfProcess.run(["synth", "--preset", "gpt2-2.5b", "--devices", "1", "--mode", "su", "--save", trace]).status == 0)
        var text = try String(contentsOfFile: trace, encoding: .utf8)
        text = text.replacingOccurrences(of: "\"version\":1", with: "\"version\":2")
        try text.write(toFile: trace, atomically: true, encoding: .utf8)
        let refused = try SmartInfProcess.run(["replay", trace])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("version 2"), "\(refused.stderr)")
    }
}
