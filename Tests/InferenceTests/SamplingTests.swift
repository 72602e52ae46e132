import Foundation
import Testing
@testable import Inference

/// The sampling chain: each stage on known candidates, and seeded draws being reproducible.
struct SamplingTests {
    static func randomLogits(count: Int, seed: UInt64) -> [Float] {
        var g = SeededGenerator(seed: seed)
        return (0..<count).map { _ in Float(g.nextUnit() * 20 - 10) }
    }

    static func sorted(_ logits: [Float]) -> [TokenCandidate] {
        logits.enumerated().map { TokenCandidate(id: Int32($0.offset), logit: $0.element) }.sorted { $0.logit > $1.logit }
    }

    @Test(arguments: [UInt64(1), 2, 3, 42])
    func greedyPicksTheLargestLogit(seed: UInt64) {
        var logits = Self.randomLogits(count: 1000, seed: seed)
        let expected = Int32(logits.indices.max { logits[$0] < logits[$1] }!)
        var sampler = Sampler(.greedy)
        let got = logits.withUnsafeMutableBufferPointer { sampler.sample($0) }
        #expect(got == expected)
    }

    @Test(arguments: [UInt64(7), 8, 9])
    func sameSeedGivesTheSameTokens(seed: UInt64) {
        let base = Self.randomLogits(count: 500, seed: 99)
        func run(_ seed: UInt64) -> [Int32] {
            var sampler = Sampler(SamplingParameters(temperature: 1.5, topK: 0, topP: 1, minP: 0, seed: seed))
            return (0..<50).map { _ in var l = base; return l.withUnsafeMutableBufferPointer { sampler.sample($0) } }
        }
        #expect(run(seed) == run(seed))
        #expect(run(seed) != run(seed &+ 1000))
    }

    @Test func topKKeepsExactlyTheKBest() {
        var c = Self.sorted(Self.randomLogits(count: 100, seed: 5))
        let best = Array(c.prefix(10))
        TopK(k: 10).apply(to: &c)
        #expect(c == best)
    }

    @Test func topPKeepsTheSmallestPrefixReachingP() {
        // Probabilities 0.5, 0.25, 0.125, ... : p = 0.7 needs the first two.
        var c = (0..<8).map { TokenCandidate(id: Int32($0), logit: -Float($0) * log(2)) }
        TopP(p: 0.7).apply(to: &c)
        #expect(c.map(\.id) == [0, 1])
    }

    @Test func minPDropsTokensBelowAFractionOfTheBest() {
        var c = (0..<8).map { TokenCandidate(id: Int32($0), logit: -Float($0) * log(2)) }
        MinP(p: 0.2).apply(to: &c) // keeps ratios 1, 1/2, 1/4
        #expect(c.map(\.id) == [0, 1, 2])
    }

    @Test func repetitionPenaltyLowersRecentTokensWhateverTheirSign() {
        var logits: [Float] = [2, -2, 2, -2]
        logits.withUnsafeMutableBufferPointer { RepetitionPenalty(penalty: 2).apply(to: $0, recent: [0, 1, 1]) }
        #expect(logits == [1, -4, 2, -2])
    }

    @Test func lowTemperatureDrawsApproachGreedy() {
        var base = Self.randomLogits(count: 300, seed: 11)
        let best = Int32(base.indices.max { base[$0] < base[$1] }!)
        // Random logits can nearly tie; a clear margin of 0.2 makes T=0.01 pick the best with p > 1 - 1e-8.
        base[Int(best)] += 0.2
        var sampler = Sampler(SamplingParameters(temperature: 0.01, topK: 0, topP: 1, minP: 0, seed: 3))
        for _ in 0..<20 {
            var l = base
            #expect(l.withUnsafeMutableBufferPointer { sampler.sample($0) } == best)
        }
    }

    @Test func drawsFollowTheSoftmaxDistribution() {
        // Two tokens with probabilities 0.8 / 0.2: over 20,000 draws the share is close to 0.8.
        let base: [Float] = [log(0.8), log(0.2)]
        var sampler = Sampler(SamplingParameters(temperature: 1, topK: 0, topP: 1, minP: 0, seed: 17))
        var zeros = 0
        for _ in 0..<20_000 {
            var l = base
            if l.withUnsafeMutableBufferPointer({ sampler.sample($0) }) == 0 { zeros += 1 }
        }
        #expect(abs(Double(zeros) / 20_000 - 0.8) < 0.02)
    }
}
