import Foundation
import Testing
@testable import Inference

/// Token ids against llama.cpp's on every fixture string, and chat renderings byte for byte.
@Suite struct TokenizerFixtureTests {
    struct TokenCase: Decodable { var text: String; var ids: [Int32] }
    struct ChatCase: Decodable { var messages: [ChatMessage]; var rendered: String }

    static let file: GGUFFile? = try? GGUFFile(path: TestResources.modelPath)

    func tokenizer() throws -> Tokenizer {
        _ = try TestResources.requireModel()
        return try Tokenizer(gguf: try #require(Self.file))
    }

    @Test func everyFixtureStringTokenizesExactlyAsLlamaCpp() throws {
        let tokenizer = try tokenizer()
        for c in try TestResources.fixture("tokenizer.json", as: [TokenCase].self) {
            let got = tokenizer.encode(c.text, parseSpecial: c.text.contains("<|im_start|>"))
            #expect(got == c.ids, "\(c.text.debugDescription)")
            #expect(tokenizer.decode(got) == c.text, "round trip of \(c.text.debugDescription)")
        }
    }

    @Test func greedyPromptsTokenizeToTheirFixtureIds() throws {
        struct Greedy: Decodable { var prompt: String; var prompt_ids: [Int32] }
        let tokenizer = try tokenizer()
        for c in try TestResources.fixture("greedy.json", as: [Greedy].self) {
            #expect(tokenizer.encode(c.prompt) == c.prompt_ids, "\(c.prompt.debugDescription)")
        }
    }

    @Test func chatRenderingsMatchTheModelsTemplateByteForByte() throws {
        let template = ChatTemplate(gguf: try #require(Self.file))
        #expect(template.family == .chatML && template.warning == nil)
        for c in try TestResources.fixture("chat.json", as: [ChatCase].self) {
            #expect(template.render(c.messages) == c.rendered)
        }
    }

    @Test func unknownTemplatesFallBackToChatMLWithAWarning() {
        let template = ChatTemplate(templateSource: "{{ messages }}")
        #expect(template.family == .chatML)
        #expect(template.warning != nil)
        #expect(template.render([ChatMessage(role: "user", content: "hi")]) == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")
    }

    @Test func streamingDetokenizerNeverEmitsBrokenUTF8() throws {
        let tokenizer = try tokenizer()
        for text in ["Emoji: 😀🚀👍🏽", "中文字符测试", "Crème brûlée", "Привет, мир!"] {
            let ids = tokenizer.encode(text)
            var detokenizer = StreamingDetokenizer(tokenizer: tokenizer)
            var streamed = ""
            for id in ids {
                let chunk = detokenizer.append(id)
                #expect(!chunk.contains("\u{FFFD}"), "broken character streamed for \(text)")
                streamed += chunk
            }
            streamed += detokenizer.flush()
            #expect(streamed == text)
        }
    }

    @Test(arguments: [[0xF0, 0x9F], [0xE4], [0x41, 0xC3], [0x41]] as [[UInt8]])
    func incompleteSequencesAreHeldBack(bytes: [UInt8]) {
        let complete = StreamingDetokenizer.completePrefixLength(bytes)
        #expect(complete == (bytes.last! < 0x80 ? bytes.count : bytes.count - (bytes.first! >= 0xC0 ? bytes.count : 1)))
    }
}
