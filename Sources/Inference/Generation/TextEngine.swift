import Foundation

/// A loaded model with its tokenizer and chat template: prompts or conversations in, streamed
/// text out. One generation at a time (the model's scratch buffers serve one sequence); the
/// caller serializes requests, as the node's per-model queue and the `generate` command do.
public final class TextEngine: @unchecked Sendable {
    public let path: String
    public let model: LlamaModel
    public let tokenizer: Tokenizer
    public let template: ChatTemplate

    public enum Error: Swift.Error, CustomStringConvertible {
        case load(path: String, reason: String)
        case promptTooLong(tokens: Int, context: Int)
        case model(LlamaModel.Error)

        public var description: String {
            switch self {
            case .load(let path, let reason): "cannot load \(path): \(reason)"
            case .promptTooLong(let t, let c): "the prompt has \(t) tokens but the context holds \(c); shorten the conversation"
            case .model(let e): "\(e)"
            }
        }
    }

    /// How a generation went, with its timings for tok/s figures.
    public struct Outcome: Sendable, Equatable {
        public var finishReason: FinishReason
        public var promptTokens: Int
        public var completionTokens: Int
        public var prefillSeconds: Double
        public var decodeSeconds: Double

        public var prefillTokensPerSecond: Double { prefillSeconds > 0 ? Double(promptTokens) / prefillSeconds : 0 }
        /// Decode rate over the tokens after the first (the first comes out of prefill).
        public var decodeTokensPerSecond: Double { decodeSeconds > 0 ? Double(max(0, completionTokens - 1)) / decodeSeconds : 0 }
    }

    public init(path: String, threads: Int) throws(Error) {
        self.path = path
        do {
            let file = try GGUFFile(path: path)
            model = try LlamaModel(file: file, threads: threads)
            tokenizer = try Tokenizer(gguf: file)
        } catch {
            throw .load(path: path, reason: "\(error)")
        }
        template = ChatTemplate(gguf: model.file)
    }

    /// A conversation rendered with the model's template, special tokens recognised.
    public func promptTokens(chat messages: [ChatMessage]) -> [Int32] {
        TextCodec(tokenizer: tokenizer, template: template, contextLength: model.config.contextLength).promptTokens(chat: messages)
    }

    /// Raw text as a prompt, with the BOS token when the model asks for one.
    public func promptTokens(text: String) -> [Int32] {
        tokenizer.withBOS(tokenizer.encode(text))
    }

    /// Generates up to `maxTokens` (clipped to the context), handing text to `emit` as soon as it
    /// is complete UTF-8 and not part of a stop string. `emit` returns false to cancel.
    public func generate(
        prompt: [Int32], sampling: SamplingParameters, maxTokens: Int, stop: [String] = [],
        emit: (String) -> Bool
    ) throws(Error) -> Outcome {
        let context = model.config.contextLength
        guard !prompt.isEmpty, prompt.count < context else { throw .promptTooLong(tokens: prompt.count, context: context) }
        let budget = max(0, min(maxTokens, context - prompt.count))
        let cache = model.makeCache(capacity: prompt.count + budget + 1)
        let tokenizer = self.tokenizer
        var generator = Generator(model: model, prompt: prompt, cache: cache, sampling: sampling, maxTokens: budget,
                                  isEndOfGeneration: { tokenizer.isEndOfGeneration($0) })
        var text = TokenTextStream(tokenizer: tokenizer, stop: stop)
        let start = DispatchTime.now()
        do { try generator.prefill() } catch { throw .model(error) }
        let prefilled = DispatchTime.now()
        var reason: FinishReason?
        do {
            while reason == nil, let token = try generator.next() {
                let piece = text.append(token)
                if !piece.isEmpty, !emit(piece) { reason = .cancelled }
                if text.stopped { reason = .endOfGeneration }
            }
        } catch {
            throw .model(error)
        }
        if reason == nil {
            let tail = text.finish()
            if !tail.isEmpty { _ = emit(tail) }
        }
        let end = DispatchTime.now()
        return Outcome(
            finishReason: reason ?? generator.finishReason ?? .endOfGeneration,
            promptTokens: prompt.count, completionTokens: generator.generated,
            prefillSeconds: Double(prefilled.uptimeNanoseconds - start.uptimeNanoseconds) / 1e9,
            decodeSeconds: Double(end.uptimeNanoseconds - prefilled.uptimeNanoseconds) / 1e9
        )
    }
}
