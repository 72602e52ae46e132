import Testing
@testable import Inference

/// The Llama-2 chat family: found from the model's template source, rendered as Meta's Jinja
/// template renders it (expected strings worked out by hand from the template below).
@Suite struct ChatTemplateTests {
    /// `tokenizer.chat_template` of Llama-2-7b-chat (Meta's, as converted GGUFs carry it).
    static let llama2Source = #"""
        {% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\n' + system_message + '\n<</SYS>>\n\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}
        """#

    @Test func theLlama2TemplateIsRecognised() {
        let template = ChatTemplate(templateSource: Self.llama2Source)
        #expect(template.family == .llama2 && template.warning == nil)
        // [INST] without <<SYS>> (Mistral's) is another family: still the ChatML fallback.
        #expect(ChatTemplate(templateSource: "{{ '[INST] ' + message['content'] + ' [/INST]' }}").family == .chatML)
    }

    @Test func llama2PutsTheSystemMessageInTheFirstTurnAndTrimsContents() {
        let template = ChatTemplate(templateSource: Self.llama2Source)
        let messages = [
            ChatMessage(role: "system", content: "Be brief."),
            ChatMessage(role: "user", content: "  Hi there\n"),
            ChatMessage(role: "assistant", content: " Hello! "),
            ChatMessage(role: "user", content: "How are you?"),
        ]
        // The first turn's content is "<<SYS>>\nBe brief.\n<</SYS>>\n\n  Hi there\n", stripped as a whole:
        // only the trailing newline goes. The answer is ' ' + "Hello!" + ' ' + eos.
        #expect(template.render(messages) == "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\n  Hi there [/INST] Hello! </s><s>[INST] How are you? [/INST]")
        #expect(template.render([ChatMessage(role: "user", content: "Hi")]) == "<s>[INST] Hi [/INST]")
    }

    /// The rendering writes BOS itself; the prompt gets it once, not a second time from add_bos_token.
    @Test func aLlama2PromptStartsWithExactlyOneBOS() throws {
        let tokenizer = try SentencePieceTests.main.tokenizer()
        let codec = TextCodec(tokenizer: tokenizer, template: ChatTemplate(templateSource: Self.llama2Source), contextLength: 64)
        // "<s>" is a control token; the text after it starts with a space prefix, as text at the start does.
        #expect(codec.promptTokens(chat: [ChatMessage(role: "user", content: "a")]) == [1] + tokenizer.encode("[INST] a [/INST]"))
    }
}
