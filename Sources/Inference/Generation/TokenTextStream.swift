/// Turns generated tokens into the text a client sees: control tokens are skipped, bytes are held
/// until they form complete UTF-8, and text that may be the start of a stop string is held until it
/// is known not to be. Shared by the local engine and the pipeline driver, so both stop and stream
/// the same way.
public struct TokenTextStream: Sendable {
    private let tokenizer: Tokenizer
    private var text: StreamingDetokenizer
    private var stops: StopStringMatcher
    /// True once a stop string was found: nothing more is emitted.
    public private(set) var stopped = false

    public init(tokenizer: Tokenizer, stop: [String]) {
        self.tokenizer = tokenizer
        text = StreamingDetokenizer(tokenizer: tokenizer)
        stops = StopStringMatcher(stops: stop)
    }

    /// The text `token` completes ("" while held back).
    public mutating func append(_ token: Int32) -> String {
        guard !stopped, !tokenizer.isControl(token) else { return "" }
        switch stops.append(text.append(token)) {
        case .emit(let piece):
            return piece
        case .stop(let before):
            stopped = true
            return before
        }
    }

    /// What was held back, once generation ended without a stop string.
    public mutating func finish() -> String {
        guard !stopped else { return "" }
        switch stops.append(text.flush()) {
        case .emit(let piece):
            return piece + stops.flush()
        case .stop(let before):
            stopped = true
            return before
        }
    }
}

/// A model's tokenizer and chat template without its weights: what the node that drives a pipeline
/// needs to turn a conversation into tokens and tokens back into text.
public final class TextCodec: Sendable {
    public let tokenizer: Tokenizer
    public let template: ChatTemplate
    /// Positions the model was trained for: prompt and completion together.
    public let contextLength: Int

    public init(tokenizer: Tokenizer, template: ChatTemplate, contextLength: Int) {
        self.tokenizer = tokenizer
        self.template = template
        self.contextLength = contextLength
    }

    public convenience init(path: String) throws(TextEngine.Error) {
        do {
            let file = try GGUFFile(path: path)
            self.init(tokenizer: try Tokenizer(gguf: file), template: ChatTemplate(gguf: file), contextLength: try LlamaConfig(gguf: file).contextLength)
        } catch {
            throw .load(path: path, reason: "\(error)")
        }
    }

    /// A conversation rendered with the model's template, special tokens recognised, BOS in front
    /// when the model asks for one.
    public func promptTokens(chat messages: [ChatMessage]) -> [Int32] {
        tokenizer.withBOS(tokenizer.encode(template.render(messages), parseSpecial: true))
    }
}
