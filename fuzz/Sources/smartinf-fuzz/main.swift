// smartinf-fuzz: runs the decoders of untrusted bytes (FuzzTargets) under libFuzzer when it is
// linked in (`-sanitize=fuzzer,address`), or under FuzzTargets' own mutation engine otherwise.
//
//     smartinf-fuzz list
//     smartinf-fuzz seed TARGET|all DIR          write the seeds (made by the real encoders)
//     smartinf-fuzz run TARGET [options] [-- libFuzzer flags]
//         --seconds N       time budget (default 60)
//         --engine E        libfuzzer (default when linked) or mutation
//         --out DIR         working corpus, crash and hang inputs, log (default out/fuzz/TARGET)
//         --corpus DIR      extra seed directory (repeatable; default fuzz/corpus/TARGET)
//         --dict FILE       libFuzzer dictionary (default fuzz/dict/TARGET.dict when present)
//         --seed S          the mutation engine's seed (default 1)
//     smartinf-fuzz replay TARGET FILE...        run inputs once (to reproduce a crash)
//
// Every run ends with one line, `smartinf-fuzz: TARGET: N execs in S s (R/s) ...`, which
// `make fuzz` collects. A crash leaves its input in the --out directory (libFuzzer's
// crash-<sha1>, or the mutation engine's crash-input) and the process dies with the signal.

import CFuzzing
import Foundation
import FuzzTargets

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("smartinf-fuzz: \(message)\n".utf8))
    exit(2)
}

func makeTarget(_ name: String) -> any FuzzTarget {
    do {
        guard let target = try FuzzTargets.make(name) else {
            fail("no target '\(name)'; targets: \(FuzzTargets.names.joined(separator: ", "))")
        }
        return target
    } catch {
        fail("cannot set up target '\(name)': \(error)")
    }
}

func files(in directory: String) -> [String] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
    return names.sorted().map { "\(directory)/\($0)" }.filter {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: $0, isDirectory: &isDirectory) && !isDirectory.boolValue
    }
}

func readBytes(_ path: String) -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else { fail("cannot read \(path)") }
    return [UInt8](data)
}

func writeSeeds(_ target: any FuzzTarget, to directory: String) -> Int {
    let seeds: [[UInt8]]
    do { seeds = try target.seeds() } catch { fail("cannot make the seeds of '\(target.name)': \(error)") }
    try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    for (i, seed) in seeds.enumerated() {
        let path = "\(directory)/seed-\(String(format: "%02d", i))"
        guard FileManager.default.createFile(atPath: path, contents: Data(seed)) else { fail("cannot write \(path)") }
    }
    return seeds.count
}

// MARK: libFuzzer

nonisolated(unsafe) var activeTarget: (any FuzzTarget)?
nonisolated(unsafe) var executions = 0
nonisolated(unsafe) var startTime = ContinuousClock.now
nonisolated(unsafe) var summaryName = ""

func printSummary() {
    let seconds = (ContinuousClock.now - startTime) / .seconds(1)
    print("smartinf-fuzz: \(summaryName): \(executions) execs in \(Int(seconds.rounded())) s "
          + "(\(Int((Double(executions) / max(seconds, 1e-9)).rounded()))/s), engine libfuzzer")
    fflush(nil)
}

func runLibFuzzer(_ target: any FuzzTarget, seconds: Int, out: String, corpora: [String], dictionary: String?,
                  extra: [String]) -> Never {
    let work = "\(out)/corpus"
    _ = writeSeeds(target, to: work)
    let longest = ([work] + corpora).flatMap(files(in:)).map { (try? FileManager.default.attributesOfItem(atPath: $0)[.size] as? Int) ?? 0 }
        .max() ?? 0
    var arguments = [CommandLine.arguments[0], "-max_total_time=\(seconds)", "-timeout=10", "-rss_limit_mb=2048",
                     "-max_len=\(max(4096, 2 * longest))", "-use_value_profile=1", "-detect_leaks=0", "-print_final_stats=1",
                     "-artifact_prefix=\(out)/"]
    if let dictionary { arguments.append("-dict=\(dictionary)") }
    arguments += extra + [work] + corpora
    activeTarget = target
    summaryName = target.name
    startTime = ContinuousClock.now
    atexit { printSummary() }
    var argc = Int32(arguments.count)
    let pointers = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: arguments.count + 1)
    for (i, argument) in arguments.enumerated() { pointers[i] = strdup(argument) }
    pointers[arguments.count] = nil
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = pointers
    let status = LLVMFuzzerRunDriver(&argc, &argv) { data, size in
        let input = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
        executions += 1
        do {
            _ = try activeTarget!.execute(input)
        } catch {
            fatalError("check failed: \(error)")
        }
        return 0
    }
    exit(status)
}

// MARK: Mutation engine

func runMutation(_ target: any FuzzTarget, seconds: Int, out: String, corpora: [String], seed: UInt64) -> Never {
    var seeds: [[UInt8]]
    do { seeds = try target.seeds() } catch { fail("cannot make the seeds of '\(target.name)': \(error)") }
    for directory in corpora {
        for file in files(in: directory) {
            let bytes = readBytes(file)
            if !seeds.contains(bytes) { seeds.append(bytes) }
        }
    }
    let crashPath = "\(out)/crash-input"
    let hangPath = "\(out)/hang-input"
    guard cfuzz_install_crash_saver(crashPath) == 0, cfuzz_start_watchdog(hangPath, 10) == 0 else {
        fail("cannot install the crash handlers")
    }
    let fuzzer = MutationFuzzer(target: target, seeds: seeds, seed: seed)
    fuzzer.willExecute = { input in
        cfuzz_set_current_input(input.baseAddress?.assumingMemoryBound(to: UInt8.self), input.count)
    }
    let start = ContinuousClock.now
    print("smartinf-fuzz: \(target.name): mutation engine, seed \(seed), \(seeds.count) seeds, \(seconds) s")
    let finding = fuzzer.run(seconds: Double(seconds)) { fuzzer, elapsed in
        print("  \(Int(elapsed)) s: \(fuzzer.executions) execs, \(fuzzer.accepted) accepted, \(fuzzer.outcomes.count) distinct outcomes")
        fflush(nil)
    }
    cfuzz_input_done()
    let elapsed = (ContinuousClock.now - start) / .seconds(1)
    let rate = Int((Double(fuzzer.executions) / max(elapsed, 1e-9)).rounded())
    if let (input, violation) = finding {
        _ = FileManager.default.createFile(atPath: crashPath, contents: Data(input))
        print("smartinf-fuzz: \(target.name): \(fuzzer.executions) execs in \(Int(elapsed.rounded())) s (\(rate)/s), "
              + "engine mutation, CRASH: \(violation); input saved in \(crashPath)")
        exit(1)
    }
    print("smartinf-fuzz: \(target.name): \(fuzzer.executions) execs in \(Int(elapsed.rounded())) s (\(rate)/s), "
          + "engine mutation, no crash (\(fuzzer.accepted) accepted, \(fuzzer.outcomes.count) distinct outcomes)")
    exit(0)
}

// MARK: Commands

var arguments = Array(CommandLine.arguments.dropFirst())
guard let command = arguments.first else {
    fail("usage: smartinf-fuzz list | seed TARGET|all DIR | run TARGET [options] [-- libFuzzer flags] | replay TARGET FILE...")
}
arguments.removeFirst()

switch command {
case "list":
    print(FuzzTargets.names.joined(separator: "\n"))

case "seed":
    guard arguments.count == 2 else { fail("usage: smartinf-fuzz seed TARGET|all DIR") }
    let names = arguments[0] == "all" ? FuzzTargets.names : [arguments[0]]
    for name in names {
        let directory = arguments[0] == "all" ? "\(arguments[1])/\(name)" : arguments[1]
        print("\(name): \(writeSeeds(makeTarget(name), to: directory)) seeds in \(directory)")
    }

case "replay":
    guard arguments.count >= 2 else { fail("usage: smartinf-fuzz replay TARGET FILE...") }
    let target = makeTarget(arguments[0])
    var violations = 0
    for file in arguments.dropFirst() {
        do {
            print("\(file): \(try target.execute(readBytes(file)))")
        } catch {
            print("\(file): CHECK FAILED: \(error)")
            violations += 1
        }
    }
    exit(violations == 0 ? 0 : 1)

case "run":
    guard let name = arguments.first else { fail("usage: smartinf-fuzz run TARGET [options] [-- libFuzzer flags]") }
    arguments.removeFirst()
    var seconds = 60
    var engine = cfuzz_libfuzzer_linked() != 0 ? "libfuzzer" : "mutation"
    var out = "out/fuzz/\(name)"
    var corpora: [String] = []
    var dictionary: String?
    var seed: UInt64 = 1
    var extra: [String] = []
    while !arguments.isEmpty {
        let option = arguments.removeFirst()
        if option == "--" {
            extra = arguments
            break
        }
        guard let value = arguments.first else { fail("\(option) needs a value") }
        arguments.removeFirst()
        switch option {
        case "--seconds":
            guard let number = Int(value), number > 0 else { fail("--seconds \(value): expected whole seconds") }
            seconds = number
        case "--engine": engine = value
        case "--out": out = value
        case "--corpus": corpora.append(value)
        case "--dict": dictionary = value
        case "--seed":
            guard let number = UInt64(value) else { fail("--seed \(value): expected a whole number") }
            seed = number
        default: fail("unknown option \(option)")
        }
    }
    if corpora.isEmpty, FileManager.default.fileExists(atPath: "fuzz/corpus/\(name)") { corpora = ["fuzz/corpus/\(name)"] }
    if dictionary == nil, FileManager.default.fileExists(atPath: "fuzz/dict/\(name).dict") { dictionary = "fuzz/dict/\(name).dict" }
    do {
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
    } catch {
        fail("cannot create \(out): \(error)")
    }
    let target = makeTarget(name)
    switch engine {
    case "libfuzzer":
        guard cfuzz_libfuzzer_linked() != 0 else { fail("libFuzzer is not linked in: build with -sanitize=fuzzer (see fuzz/README.md)") }
        runLibFuzzer(target, seconds: seconds, out: out, corpora: corpora, dictionary: dictionary, extra: extra)
    case "mutation":
        runMutation(target, seconds: seconds, out: out, corpora: corpora, seed: seed)
    default:
        fail("--engine \(engine): expected libfuzzer or mutation")
    }

default:
    fail("unknown command '\(command)'; expected list, seed, run or replay")
}
