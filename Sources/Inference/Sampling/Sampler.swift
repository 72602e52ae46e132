import Foundation

/// Settings of the sampling chain, applied in llama.cpp's order: repetition penalty, top-k,
/// top-p, min-p, temperature, then a seeded draw. A temperature of 0 (or below) is greedy.
public struct SamplingParameters: Sendable, Equatable, Codable {
    public var temperature: Float = 0.7
    public var topK: Int = 40
    public var topP: Float = 0.95
    public var minP: Float = 0.05
    public var repetitionPenalty: Float = 1.0
    /// How many of the most recent tokens the repetition penalty looks at.
    public var repetitionWindow: Int = 64
    public var seed: UInt64 = 0

    public init(temperature: Float = 0.7, topK: Int = 40, topP: Float = 0.95, minP: Float = 0.05,
                repetitionPenalty: Float = 1.0, repetitionWindow: Int = 64, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.repetitionPenalty = repetitionPenalty
        self.repetitionWindow = repetitionWindow
        self.seed = seed
    }

    public static let greedy = SamplingParameters(temperature: 0)
}

/// A candidate token during sampling.
public struct TokenCandidate: Sendable, Equatable {
    public var id: Int32
    public var logit: Float
    public var probability: Float = 0
}

/// One step of the chain: a small value that narrows or reshapes the candidates (sorted by
/// descending logit on entry and exit).
public protocol SamplingStage: Sendable {
    func apply(to candidates: inout [TokenCandidate])
}

/// Divides positive logits by the penalty and multiplies negative ones (llama.cpp's rule), for
/// tokens seen recently, so a repeated token becomes less likely whatever its sign.
public struct RepetitionPenalty: Sendable {
    public var penalty: Float
    public init(penalty: Float) { self.penalty = penalty }

    public func apply(to logits: UnsafeMutableBufferPointer<Float>, recent: some Sequence<Int32>) {
        guard penalty != 1 else { return }
        var seen = Set<Int32>()
        for id in recent where seen.insert(id).inserted && id >= 0 && Int(id) < logits.count {
            let l = logits[Int(id)]
            logits[Int(id)] = l > 0 ? l / penalty : l * penalty
        }
    }
}

public struct TopK: SamplingStage {
    public var k: Int
    public init(k: Int) { self.k = k }
    public func apply(to candidates: inout [TokenCandidate]) {
        if k > 0, candidates.count > k { candidates.removeSubrange(k...) }
    }
}

/// Keeps the smallest prefix whose probabilities sum to at least `p`.
public struct TopP: SamplingStage {
    public var p: Float
    public init(p: Float) { self.p = p }
    public func apply(to candidates: inout [TokenCandidate]) {
        guard p < 1, !candidates.isEmpty else { return }
        normalize(&candidates, temperature: 1)
        var sum: Float = 0
        for (i, c) in candidates.enumerated() {
            sum += c.probability
            if sum >= p { candidates.removeSubrange((i + 1)...); return }
        }
    }
}

/// Drops tokens less likely than `p` times the most likely one.
public struct MinP: SamplingStage {
    public var p: Float
    public init(p: Float) { self.p = p }
    public func apply(to candidates: inout [TokenCandidate]) {
        guard p > 0, let best = candidates.first else { return }
        // p_i / p_max = exp(l_i - l_max), so compare logits directly.
        let threshold = best.logit + log(p)
        candidates.removeAll { $0.logit < threshold }
    }
}

/// Softmax of `logit / temperature` into `probability`; candidates must be sorted descending.
func normalize(_ candidates: inout [TokenCandidate], temperature: Float) {
    guard let maxLogit = candidates.first?.logit else { return }
    var total: Float = 0
    for i in candidates.indices {
        let e = Foundation.exp((candidates[i].logit - maxLogit) / temperature)
        candidates[i].probability = e
        total += e
    }
    for i in candidates.indices { candidates[i].probability /= total }
}

/// Chooses the next token from logits. A value type holding its own seeded random source, so
/// two samplers with the same parameters produce the same tokens from the same logits.
public struct Sampler: Sendable {
    public let parameters: SamplingParameters
    private var random: SeededGenerator
    private var recent: [Int32] = []
    private var candidates: [TokenCandidate] = []

    public init(_ parameters: SamplingParameters) {
        self.parameters = parameters
        random = SeededGenerator(seed: parameters.seed)
    }

    /// Tokens the repetition penalty should count (e.g. the prompt).
    public mutating func remember(_ tokens: some Sequence<Int32>) {
        for t in tokens { remember(t) }
    }

    public mutating func remember(_ token: Int32) {
        guard parameters.repetitionPenalty != 1, parameters.repetitionWindow > 0 else { return }
        recent.append(token)
        if recent.count > parameters.repetitionWindow { recent.removeFirst(recent.count - parameters.repetitionWindow) }
    }

    /// The next token. `logits` may be modified (repetition penalty). Remembers the chosen token.
    public mutating func sample(_ logits: UnsafeMutableBufferPointer<Float>) -> Int32 {
        precondition(!logits.isEmpty, "sampling needs at least one logit")
        RepetitionPenalty(penalty: parameters.repetitionPenalty).apply(to: logits, recent: recent)
        let chosen = parameters.temperature <= 0 ? Self.argmax(logits) : draw(logits)
        remember(chosen)
        return chosen
    }

    /// The index of the largest logit; the lowest index wins a tie, as in llama.cpp.
    public static func argmax(_ logits: UnsafeBufferPointer<Float>) -> Int32 {
        var best = 0
        var bestValue = logits[0]
        for i in 1..<logits.count where logits[i] > bestValue {
            best = i
            bestValue = logits[i]
        }
        return Int32(best)
    }

    static func argmax(_ logits: UnsafeMutableBufferPointer<Float>) -> Int32 {
        argmax(UnsafeBufferPointer(logits))
    }

    private mutating func draw(_ logits: UnsafeMutableBufferPointer<Float>) -> Int32 {
        candidates.removeAll(keepingCapacity: true)
        // Partial selection: only the top-k need sorting, not the whole vocabulary.
        let k = parameters.topK > 0 ? min(parameters.topK, logits.count) : logits.count
        for (i, l) in logits.enumerated() where l.isFinite || l == .infinity {
            candidates.append(TokenCandidate(id: Int32(i), logit: l))
        }
        if candidates.isEmpty { return Self.argmax(logits) }
        if k < candidates.count {
            candidates.sort { $0.logit > $1.logit || ($0.logit == $1.logit && $0.id < $1.id) }
            candidates.removeSubrange(k...)
        } else {
            candidates.sort { $0.logit > $1.logit || ($0.logit == $1.logit && $0.id < $1.id) }
        }
        let stages: [any SamplingStage] = [TopP(p: parameters.topP), MinP(p: parameters.minP)]
        for stage in stages { stage.apply(to: &candidates) }
        normalize(&candidates, temperature: parameters.temperature)
        let u = Float(random.nextUnit())
        var sum: Float = 0
        for c in candidates {
            sum += c.probability
            if u < sum { return c.id }
        }
        return candidates[candidates.count - 1].id
    }
}
