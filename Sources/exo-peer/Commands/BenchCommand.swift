import ArgumentParser
import Foundation
import Inference

/// `exo-peer bench`: prefill and decode speed of the engine at 1…N threads, next to the machine's
/// memory bandwidth measured in the same run (decode of a quantized model reads every weight once
/// per token, so bandwidth ÷ bytes per token is the ceiling it is compared with).
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure prefill and decode tok/s against this machine's memory-bandwidth ceiling."
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

    func validate() throws {
        guard prompt >= 1, decode >= 2, repeats >= 1 else { throw ValidationError("--prompt ≥ 1, --decode ≥ 2, --repeats ≥ 1") }
        guard threads.allSatisfy({ (1...512).contains($0) }) else { throw ValidationError("--threads must be 1…512") }
    }

    func run() throws {
        let path: String
        do { path = try ModelLocator.resolve(model) } catch { throw CommandFailure("\(error)") }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let counts = threads.isEmpty ? Array(Set([1, cores])).sorted() : threads
        let bandwidth = MemoryBandwidth.measure(bytes: 512 << 20, repeats: repeats)
        let weightBytes = try Self.bytesReadPerToken(path: path)
        let ceiling = bandwidth / Double(weightBytes)
        print(String(format: "model: %@ (%.1f MB read per decoded token)", (path as NSString).lastPathComponent, Double(weightBytes) / 1e6))
        print(String(format: "memory read bandwidth (1 thread, same run): %.1f GB/s → decode ceiling %.0f tok/s", bandwidth / 1e9, ceiling))
        print("threads  prefill tok/s  decode tok/s  decode / ceiling")
        for count in counts {
            let engine: TextEngine
            do { engine = try TextEngine(path: path, threads: count) } catch { throw CommandFailure("\(error)") }
            // A fixed, ordinary prompt of the requested length (token ids of repeated text).
            let text = String(repeating: "The quick brown fox jumps over the lazy dog. ", count: prompt / 8 + 2)
            let tokens = Array(engine.promptTokens(text: text).prefix(prompt))
            var bestPrefill = 0.0, bestDecode = 0.0
            for _ in 0..<repeats {
                let outcome = try engine.generate(prompt: tokens, sampling: .greedy, maxTokens: decode, stop: []) { _ in true }
                bestPrefill = max(bestPrefill, outcome.prefillTokensPerSecond)
                bestDecode = max(bestDecode, outcome.decodeTokensPerSecond)
            }
            print(String(format: "%7d  %13.1f  %12.1f  %15.2f", count, bestPrefill, bestDecode, bestDecode / ceiling))
        }
    }

    /// Bytes of every weight a decode step reads: all tensors (the embedding doubles as the head
    /// when tied, and is read whole for it).
    static func bytesReadPerToken(path: String) throws -> Int {
        let file = try GGUFFile(path: path)
        return file.tensors.reduce(0) { $0 + $1.byteCount }
    }
}
