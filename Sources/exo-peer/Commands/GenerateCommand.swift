import ArgumentParser
import Foundation
import Inference

/// `exo-peer generate`: run a model on this machine alone, streaming text to stdout and the
/// prefill and decode speeds to stderr.
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate text with a local model (no mesh): text on stdout, tok/s on stderr."
    )

    @Option(help: "Model name in the models directory, or a path to a .gguf file.")
    var model = DefaultModel.name

    @Flag(help: "Wrap the prompt as a user message in the model's chat template.")
    var chat = false

    @Option(help: "The prompt.")
    var prompt: String

    @Option(name: .customLong("system"), help: "System message (with --chat).")
    var system: String?

    @Option(name: .customLong("max-tokens"), help: "Most tokens to generate.")
    var maxTokens = 128

    @Option(help: "Sampling temperature; 0 is greedy.")
    var temperature: Float = 0.8

    @Option(name: .customLong("top-k"), help: "Keep the k most likely tokens (0: all).")
    var topK = 40

    @Option(name: .customLong("top-p"), help: "Nucleus sampling threshold.")
    var topP: Float = 0.95

    @Option(name: .customLong("min-p"), help: "Drop tokens less likely than min-p × the most likely.")
    var minP: Float = 0.05

    @Option(name: .customLong("repeat-penalty"), help: "Repetition penalty (1: off).")
    var repeatPenalty: Float = 1.0

    @Option(help: "Random seed; the same seed gives the same output.")
    var seed: UInt64?

    @Option(help: "Threads. Default: all cores.")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @Option(name: .customLong("stop"), help: "Stop when this text appears (repeatable).")
    var stops: [String] = []

    func validate() throws {
        guard maxTokens >= 0 else { throw ValidationError("--max-tokens must be ≥ 0") }
        guard temperature >= 0 else { throw ValidationError("--temperature must be ≥ 0") }
        guard (1...512).contains(threads) else { throw ValidationError("--threads must be 1…512") }
        guard topP > 0, topP <= 1 else { throw ValidationError("--top-p must be in (0, 1]") }
    }

    func run() throws {
        let path: String
        do { path = try ModelLocator.resolve(model) } catch { throw CommandFailure("\(error)") }
        let engine: TextEngine
        do { engine = try TextEngine(path: path, threads: threads) } catch { throw CommandFailure("\(error)") }
        if chat, let warning = engine.template.warning { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
        var messages: [ChatMessage] = []
        if let system { messages.append(ChatMessage(role: "system", content: system)) }
        messages.append(ChatMessage(role: "user", content: prompt))
        let tokens = chat ? engine.promptTokens(chat: messages) : engine.promptTokens(text: prompt)
        let sampling = SamplingParameters(
            temperature: temperature, topK: topK, topP: topP, minP: minP,
            repetitionPenalty: repeatPenalty, seed: seed ?? UInt64.random(in: 0...UInt64.max)
        )
        let outcome: TextEngine.Outcome
        do {
            outcome = try engine.generate(prompt: tokens, sampling: sampling, maxTokens: maxTokens, stop: stops) { piece in
                FileHandle.standardOutput.write(Data(piece.utf8))
                return true
            }
        } catch {
            throw CommandFailure("\(error)")
        }
        FileHandle.standardOutput.write(Data("\n".utf8))
        let report = String(
            format: "prefill: %d tokens in %.3f s (%.1f tok/s)\ndecode: %d tokens in %.3f s (%.1f tok/s)\nfinish: %@\n",
            outcome.promptTokens, outcome.prefillSeconds, outcome.prefillTokensPerSecond,
            outcome.completionTokens, outcome.decodeSeconds, outcome.decodeTokensPerSecond,
            outcome.finishReason.rawValue
        )
        FileHandle.standardError.write(Data(report.utf8))
    }
}

enum DefaultModel {
    /// The model `make run` installs.
    static let name = "SmolLM2-135M-Instruct.Q4_1"
}
