import ArgumentParser
import Foundation
import Inference

/// `exo-peer bench`: prefill and decode speed of the engine at 1…N threads, next to the machine's
/// memory bandwidth measured in the same run (decode of a quantized model reads every weight once
/// per token, so bandwidth ÷ bytes per token is the ceiling it is compared with), and — given a
/// Python with llama-cpp-python (`scripts/bench.sh` makes one) — llama.cpp's figures on the same
/// file, prompt, token counts and threads, measured in the same run.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure prefill and decode tok/s against this machine's memory-bandwidth ceiling and llama.cpp."
    )

    @Option(help: "Model name in the models directory, or a path to a .gguf file.")
    var model = DefaultModel.name

    @Option(help: "Prompt tokens for the prefill measurement.")
    var prompt = 128

    @Option(help: "Tokens to decode.")
    var decode = 128

    @Option(help: "Thread counts to measure (repeatable). Default: 1 and all cores.")
    var threads: [Int] = []

    @Option(help: "Repetitions; the best is reported (the host is shared, so the best is the least disturbed).")
    var repeats = 3

    @Option(help: "Context length at which resident memory is measured (a prompt of this many tokens is prefilled); 0 skips it.")
    var rssContext = 2048

    @Option(help: "Python interpreter with llama-cpp-python, to measure llama.cpp in the same run (see scripts/bench.sh).")
    var llamaCppPython: String?

    @Option(help: "The llama.cpp measuring script (scripts/llama_cpp_bench.py).")
    var llamaCppScript: String?

    func validate() throws {
        guard prompt >= 1, decode >= 2, repeats >= 1 else { throw ValidationError("--prompt ≥ 1, --decode ≥ 2, --repeats ≥ 1") }
        guard threads.allSatisfy({ (1...512).contains($0) }) else { throw ValidationError("--threads must be 1…512") }
        guard (llamaCppPython == nil) == (llamaCppScript == nil) else {
            throw ValidationError("--llama-cpp-python and --llama-cpp-script go together")
        }
    }

    /// One thread count's best figures.
    struct Figures {
        var prefill = 0.0, decode = 0.0
    }

    /// Set in the child process that measures resident memory alone.
    @Flag(help: .hidden)
    var residentMemoryOnly = false

    func run() throws {
        let path: String
        do { path = try ModelLocator.resolve(model) } catch { throw CommandFailure("\(error)") }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let counts = threads.isEmpty ? Array(Set([1, cores])).sorted() : threads
        if residentMemoryOnly {
            try reportResidentMemory(path: path, threads: counts.max() ?? 1)
            return
        }
        let weightBytes = try Self.bytesReadPerToken(path: path)
        print(String(format: "model: %@ (%.1f MB read per decoded token)", (path as NSString).lastPathComponent, Double(weightBytes) / 1e6))
        print("kernels: \(KernelPath.name), chosen at build time from the CPU's flags")
        // The ceiling at each thread count is what that many threads can read: decode at 2 threads
        // is compared with the bandwidth 2 threads get, not 1.
        var ceilings: [Int: Double] = [:]
        for count in counts {
            let bandwidth = MemoryBandwidth.measure(bytes: 512 << 20, repeats: repeats, threads: count)
            ceilings[count] = bandwidth / Double(weightBytes)
            print(String(format: "memory read bandwidth, %d thread%@ (same run): %.1f GB/s → decode ceiling %.0f tok/s",
                         count, count == 1 ? "" : "s", bandwidth / 1e9, ceilings[count]!))
        }
        // A fixed, ordinary prompt of the requested length (token ids of repeated text).
        let text = String(repeating: "The quick brown fox jumps over the lazy dog. ", count: prompt / 8 + 2)
        var ours: [Int: Figures] = [:]
        print("exo-peer:")
        print("threads  prefill tok/s  decode tok/s  decode / ceiling")
        for count in counts {
            let engine: TextEngine
            do { engine = try TextEngine(path: path, threads: count) } catch { throw CommandFailure("\(error)") }
            let tokens = Array(engine.promptTokens(text: text).prefix(prompt))
            var best = Figures()
            for _ in 0..<repeats {
                let outcome = try engine.generate(prompt: tokens, sampling: .greedy, maxTokens: decode, stop: []) { _ in true }
                best.prefill = max(best.prefill, outcome.prefillTokensPerSecond)
                best.decode = max(best.decode, outcome.decodeTokensPerSecond)
            }
            ours[count] = best
            print(String(format: "%7d  %13.1f  %12.1f  %15.2f", count, best.prefill, best.decode, best.decode / ceilings[count]!))
        }
        if rssContext > 0 { try measureResidentMemoryInAFreshProcess(path: path, threads: counts.max() ?? 1) }
        if let python = llamaCppPython, let script = llamaCppScript {
            let reference = try Self.llamaCpp(python: python, script: script, model: path, prompt: prompt, decode: decode,
                                               threads: counts, repeats: repeats, text: text)
            print("llama.cpp (llama-cpp-python, same run):")
            print("threads  prefill tok/s  decode tok/s  decode / ceiling  ours/llama.cpp prefill  ours/llama.cpp decode")
            for count in counts {
                guard let theirs = reference[count], let mine = ours[count] else { continue }
                print(String(format: "%7d  %13.1f  %12.1f  %15.2f  %22.2f  %21.2f", count, theirs.prefill, theirs.decode,
                             theirs.decode / ceilings[count]!, mine.prefill / theirs.prefill, mine.decode / theirs.decode))
            }
        }
    }

    /// Resident memory is measured by a child process that does nothing else (this one has touched the
    /// bandwidth probe's 512 MB and run an engine per thread count, and the allocator keeps some of it).
    func measureResidentMemoryInAFreshProcess(path: String, threads: Int) throws {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: RunnerProcess.ownExecutable)
        child.arguments = ["bench", "--model", path, "--threads", "\(threads)", "--rss-context", "\(rssContext)", "--resident-memory-only"]
        fflush(nil)  // our table first: the child writes to the same stdout
        try child.run()
        child.waitUntilExit()
        guard child.terminationStatus == 0 else { throw CommandFailure("the resident-memory measurement exited with \(child.terminationStatus)") }
    }

    /// Resident memory of this process after prefilling `rssContext` tokens into a cache of that
    /// size (the model's pages that were read, its own buffers, the KV cache), next to the file size.
    func reportResidentMemory(path: String, threads: Int) throws {
        let text = String(repeating: "The quick brown fox jumps over the lazy dog. ", count: 64)
        let engine: TextEngine
        do { engine = try TextEngine(path: path, threads: threads) } catch { throw CommandFailure("\(error)") }
        let context = min(rssContext, engine.model.config.contextLength)
        let long = String(repeating: text, count: context / max(1, engine.promptTokens(text: text).count) + 2)
        let tokens = Array(engine.promptTokens(text: long).prefix(context - 1))
        let cache = engine.model.makeCache(capacity: context)
        do { _ = try engine.model.prefill(tokens, cache: cache) } catch { throw CommandFailure("\(error)") }
        let fileBytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        let status = Self.memoryStatus()
        print(String(format: "resident memory at %d-token context (a fresh process): %.1f MB (peak %.1f MB); model file %.1f MB; budget file + 100 MB = %.1f MB (%.2f×)",
                     context, Double(status.resident) / 1e6, Double(status.peak) / 1e6, Double(fileBytes) / 1e6, Double(fileBytes) / 1e6 + 100,
                     Double(status.resident) / (Double(fileBytes) + 100e6)))
        withExtendedLifetime(cache) {}
    }

    /// VmRSS and VmHWM of this process, in bytes (0 where /proc is absent).
    static func memoryStatus() -> (resident: Int, peak: Int) {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return (0, 0) }
        func field(_ name: String) -> Int {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return 0 }
            return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
        }
        return (field("VmRSS"), field("VmHWM"))
    }

    /// Runs the llama.cpp script: one JSON line per thread count.
    static func llamaCpp(python: String, script: String, model: String, prompt: Int, decode: Int, threads: [Int],
                         repeats: Int, text: String) throws -> [Int: Figures] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script, "--model", model, "--prompt", "\(prompt)", "--decode", "\(decode)",
                             "--repeats", "\(repeats)", "--text", text] + threads.flatMap { ["--threads", "\($0)"] }
        let output = Pipe()
        process.standardOutput = output
        do { try process.run() } catch { throw CommandFailure("cannot run \(python): \(error)") }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw CommandFailure("the llama.cpp measurement failed (exit \(process.terminationStatus)); see its output above") }
        var figures: [Int: Figures] = [:]
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let count = object["threads"] as? Int, let prefill = object["prefill"] as? Double, let decode = object["decode"] as? Double
            else { continue }
            figures[count] = Figures(prefill: prefill, decode: decode)
        }
        return figures
    }

    /// Bytes of every weight a decode step reads: all tensors (the embedding doubles as the head
    /// when tied, and is read whole for it).
    static func bytesReadPerToken(path: String) throws -> Int {
        let file = try GGUFFile(path: path)
        return file.tensors.reduce(0) { $0 + $1.byteCount }
    }
}
