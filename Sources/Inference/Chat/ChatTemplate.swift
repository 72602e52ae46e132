/// A chat message as the template sees it.
public struct ChatMessage: Sendable, Codable, Equatable {
    public var role: String
    public var content: String
    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// Renders a conversation the way the model's own Jinja template does, for the template
/// families we recognise (no Jinja interpreter: the families are few and fixed).
public struct ChatTemplate: Sendable {
    public enum Family: String, Sendable { case chatML, llama3, llama2 }

    public let family: Family
    /// The system prompt the template adds when the conversation has none (ChatML models such as SmolLM).
    public let defaultSystemPrompt: String?
    /// Set when the template was not recognised and ChatML is used instead.
    public let warning: String?

    public init(gguf: GGUFFile) {
        self.init(templateSource: gguf.metadata["tokenizer.chat_template"]?.string)
    }

    public init(templateSource: String?) {
        guard let source = templateSource else {
            family = .chatML; defaultSystemPrompt = nil
            warning = "the model has no chat template; using ChatML"
            return
        }
        if source.contains("<|start_header_id|>") {
            family = .llama3; defaultSystemPrompt = nil; warning = nil
        } else if source.contains("<|im_start|>") {
            family = .chatML; warning = nil
            defaultSystemPrompt = Self.embeddedSystemPrompt(in: source)
        } else if source.contains("[INST]") && source.contains("<<SYS>>") {
            family = .llama2; defaultSystemPrompt = nil; warning = nil
        } else {
            family = .chatML; defaultSystemPrompt = nil
            warning = "unrecognised chat template; using ChatML"
        }
    }

    /// The text a template writes as the system turn when the first message is not a system one:
    /// `'<|im_start|>system\n…<|im_end|>` inside a literal.
    static func embeddedSystemPrompt(in source: String) -> String? {
        // The newline may be a real one or an escaped `\n` inside the Jinja string literal.
        guard let start = source.range(of: "<|im_start|>system\n")?.upperBound ?? source.range(of: "<|im_start|>system\\n")?.upperBound,
              let end = source[start...].range(of: "<|im_end|>")?.lowerBound else { return nil }
        let text = String(source[start..<end])
        // A literal, not a Jinja expression such as `' + message['content'] + '`.
        guard !text.contains("'"), !text.contains("{") else { return nil }
        return text
    }

    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) -> String {
        var out = ""
        switch family {
        case .chatML:
            if let system = defaultSystemPrompt, messages.first?.role != "system" {
                out += "<|im_start|>system\n\(system)<|im_end|>\n"
            }
            for m in messages { out += "<|im_start|>\(m.role)\n\(m.content)<|im_end|>\n" }
            if addGenerationPrompt { out += "<|im_start|>assistant\n" }
        case .llama3:
            out += "<|begin_of_text|>"
            for m in messages {
                out += "<|start_header_id|>\(m.role)<|end_header_id|>\n\n\(m.content.trimmingWhitespace())<|eot_id|>"
            }
            if addGenerationPrompt { out += "<|start_header_id|>assistant<|end_header_id|>\n\n" }
        case .llama2:
            out += Self.renderLlama2(messages)
        }
        return out
    }
}

extension ChatTemplate {
    /// Meta's Llama-2-chat template: a leading system message goes into the first turn inside
    /// `<<SYS>>`; every user turn opens with BOS, every answer closes with EOS; contents are trimmed.
    /// It has no generation prompt: the closing `[/INST]` is where the answer starts. (The Jinja
    /// template refuses roles that do not alternate; here anything but "assistant" is a user turn.)
    static func renderLlama2(_ messages: [ChatMessage]) -> String {
        var turns = messages[...]
        var system: String?
        if let first = turns.first, first.role == "system" {
            system = first.content
            turns = turns.dropFirst()
        }
        var out = ""
        for (i, m) in turns.enumerated() {
            var content = m.content
            if i == 0, let system { content = "<<SYS>>\n\(system)\n<</SYS>>\n\n" + content }
            if m.role == "assistant" {
                out += " \(content.trimmingWhitespace()) </s>"
            } else {
                out += "<s>[INST] \(content.trimmingWhitespace()) [/INST]"
            }
        }
        return out
    }
}

extension String {
    func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
              let last = scalars.lastIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        return String(scalars[first...last])
    }
}
