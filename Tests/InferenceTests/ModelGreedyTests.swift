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
}
