import Foundation
import Testing
@testable import Inference

/// The default model against llama.cpp's greedy continuations (../shared/fixtures/greedy.json).
@Suite(.serialized) struct ModelGreedyTests {
    struct GreedyCase: Decodable {
        struct Top: Decodable { var id: Int32; var logprob: Double }
        var prompt: String
        var prompt_ids: [Int32]
        var ids: [Int32]
        var first_top5: [Top]
    }

    static let model: LlamaModel? = try? LlamaModel(path: TestResources.modelPath, threads: 2)

    static func cases() throws -> [GreedyCase] { try TestResources.fixture("greedy.json", as: [GreedyCase].self) }

    @Test(arguments: 0..<6)
    func greedyContinuationMatchesLlamaCppTokenForToken(index: Int) throws {
        _ = try TestResources.requireModel()
        let model = try #require(Self.model)
        let c = try Self.cases()[index]
        let cache = model.makeCache(capacity: 256)
        var logits = try model.prefill(c.prompt_ids, cache: cache)
        var generated: [Int32] = []
        for _ in 0..<c.ids.count {
            let next = Int32(logits.indices.max(by: { logits[$0] < logits[$1] })!)
            generated.append(next)
            logits = try model.forward(token: next, cache: cache)
        }
        #expect(generated == c.ids, "prompt \(c.prompt.debugDescription): first difference at \(zip(generated, c.ids).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? -1)")
    }

    @Test(arguments: 0..<6)
    func firstTokenTop5ProbabilitiesWithinOneHundredth(index: Int) throws {
        _ = try TestResources.requireModel()
        let model = try #require(Self.model)
        let c = try Self.cases()[index]
        let logits = Array(try model.prefill(c.prompt_ids, cache: model.makeCache(capacity: 64)))
        let maxLogit = logits.max()!
        let total = logits.reduce(0.0) { $0 + exp(Double($1 - maxLogit)) }
        for top in c.first_top5 {
            let p = exp(Double(logits[Int(top.id)] - maxLogit)) / total
            #expect(abs(p - exp(top.logprob)) < 0.01, "token \(top.id): \(p) vs llama.cpp \(exp(top.logprob))")
        }
    }

    struct StepCase: Decodable {
        struct Top: Decodable { var id: Int32; var prob: Double }
        struct Step: Decodable { var id: Int32; var top5: [Top] }
        var prompt_ids: [Int32]
        var per_step: [Step]
    }

    /// Every step of every prompt (192 distributions): llama.cpp's top five tokens must have our
    /// probabilities within 0.01, feeding llama.cpp's own tokens so one step's error can't carry over.
    @Test func everyStepTop5ProbabilitiesWithinOneHundredth() throws {
        _ = try TestResources.requireModel()
        let model = try #require(Self.model)
        struct File: Decodable { var cases: [StepCase] }
        let cases = try TestResources.fixture("greedy-per-step-top5.json", as: File.self).cases
        var worst = 0.0, total = 0.0, count = 0
        for c in cases {
            let cache = model.makeCache(capacity: 128)
            var logits = Array(try model.prefill(c.prompt_ids, cache: cache))
            for step in c.per_step {
                let maxLogit = logits.max()!
                let sum = logits.reduce(0.0) { $0 + exp(Double($1 - maxLogit)) }
                for top in step.top5 {
                    let error = abs(exp(Double(logits[Int(top.id)] - maxLogit)) / sum - top.prob)
                    worst = max(worst, error)
                    total += error
                    count += 1
                }
                logits = Array(try model.forward(token: step.id, cache: cache))
            }
        }
        print("per-step top-5 probability error over \(count) values: max \(worst), mean \(total / Double(count))")
        #expect(count == 6 * 32 * 5)
        #expect(worst < 0.01, "largest probability difference \(worst)")
    }
}

/// Pipeline ranks run layer ranges: [0, k) on one node and [k, n) on the next must give exactly
/// the logits of one full forward, token after token (each range with its own cache).
@Suite(.serialized) struct LayerRangeTests {
    /// A model of this suite's own: suites run concurrently, and one model runs one sequence at a time.
    static let model: LlamaModel? = try? LlamaModel(path: TestResources.modelPath, threads: 2)

    @Test(arguments: [1, 13, 29])
    func splitForwardIsBitIdenticalToFullForward(split: Int) throws {
        _ = try TestResources.requireModel()
        let model = try #require(Self.model)
        let n = model.config.layerCount
        let tokens: [Int32] = [504, 3575, 282, 4649, 314, 7042, 30]
        let full = model.makeCache(capacity: 16)
        let first = model.makeCache(capacity: 16, layers: 0..<split), second = model.makeCache(capacity: 16, layers: split..<n)
        let hidden = UnsafeMutablePointer<Float>.allocate(capacity: model.config.embeddingLength)
        defer { hidden.deallocate() }
        for token in tokens {
            let expected = Array(try model.forward(token: token, cache: full))
            try model.embed(token, into: hidden)
            try model.forwardLayers(0..<split, hidden: hidden, cache: first)
            // What would travel between ranks: the hidden state, as bytes.
            let wire = Array(UnsafeBufferPointer(start: hidden, count: model.config.embeddingLength))
            wire.withUnsafeBufferPointer { hidden.update(from: $0.baseAddress!, count: $0.count) }
            try model.forwardLayers(split..<n, hidden: hidden, cache: second)
            first.length += 1
            second.length += 1
            let split = Array(model.logits(hidden: hidden))
            #expect(split == expected)
        }
    }

    /// Batched prefill (several chunks) leaves the same logits and the same cache, bit for bit, as
    /// feeding the prompt one token at a time.
    @Test func batchedPrefillIsBitIdenticalToTokenByToken() throws {
        _ = try TestResources.requireModel()
        let model = try #require(Self.model)
        let tokens: [Int32] = (0..<75).map { Int32(200 + ($0 * 37) % 5000) }
        let batched = model.makeCache(capacity: 128), single = model.makeCache(capacity: 128)
        let fromBatch = Array(try model.prefill(tokens, cache: batched))
        var last: [Float] = []
        for token in tokens { last = Array(try model.forward(token: token, cache: single)) }
        #expect(fromBatch == last)
        #expect(batched.length == single.length)
        for layer in [0, 15, 29] {
            let a = UnsafeBufferPointer(start: batched.key(layer: layer, position: 0), count: tokens.count * model.config.kvDimension)
            let b = UnsafeBufferPointer(start: single.key(layer: layer, position: 0), count: tokens.count * model.config.kvDimension)
            #expect(a.elementsEqual(b) { $0.bitPattern == $1.bitPattern }, "keys of layer \(layer)")
            let va = UnsafeBufferPointer(start: batched.value(layer: layer, position: 0), count: tokens.count * model.config.kvDimension)
            let vb = UnsafeBufferPointer(start: single.value(layer: layer, position: 0), count: tokens.count * model.config.kvDimension)
            #expect(va.elementsEqual(vb) { $0.bitPattern == $1.bitPattern }, "values of layer \(layer)")
        }
    }

    /// Work is split between threads by rows, tokens and heads, never inside one sum: one thread
    /// and three give the same bits, for a batched prefill and for decode steps whose attention is
    /// long enough to be spread over threads.
    @Test func resultsDoNotDependOnTheThreadCount() throws {
        _ = try TestResources.requireModel()
        let tokens: [Int32] = (0..<70).map { Int32(300 + ($0 * 53) % 7000) }
        var outputs: [[[Float]]] = []
        for threads in [1, 3] {
            let model = try LlamaModel(path: TestResources.modelPath, threads: threads)
            let cache = model.makeCache(capacity: 128)
            var logits = [Array(try model.prefill(tokens, cache: cache))]
            for token: Int32 in [17, 1_000, 42] { logits.append(Array(try model.forward(token: token, cache: cache))) }
            outputs.append(logits)
        }
        #expect(outputs[0] == outputs[1])
    }
}
