/// Why a generation ended.
public enum FinishReason: String, Sendable, Equatable {
    case endOfGeneration = "stop"
    case maxTokens = "length"
    case cancelled
}

/// Produces tokens one at a time from a prompt: prefill, then sample/forward per `next()`.
/// The caller owns the cache (so a server can keep one per conversation) and decides when to
/// stop reading; `next()` returns nil once finished and checks task cancellation each step.
public struct Generator {
    public let model: LlamaModel
    public let cache: KVCache
    public private(set) var sampler: Sampler
    public let maxTokens: Int
    public let isEndOfGeneration: @Sendable (Int32) -> Bool
    public private(set) var generated = 0
    public private(set) var finishReason: FinishReason?
    private var pendingToken: Int32?
    private let prompt: [Int32]
    private var prefilled = false

    public init(model: LlamaModel, prompt: [Int32], cache: KVCache, sampling: SamplingParameters,
                maxTokens: Int, isEndOfGeneration: @escaping @Sendable (Int32) -> Bool) {
        self.model = model
        self.prompt = prompt
        self.cache = cache
        self.sampler = Sampler(sampling)
        self.maxTokens = maxTokens
        self.isEndOfGeneration = isEndOfGeneration
        sampler.remember(prompt)
    }

    /// Runs the prompt through the model; called by the first `next()` if not called before,
    /// separate so callers can time prefill apart from decode.
    public mutating func prefill() throws(LlamaModel.Error) {
        guard !prefilled else { return }
        prefilled = true
        guard !prompt.isEmpty else { finishReason = .endOfGeneration; return }
        let logits = try model.prefill(prompt, cache: cache)
        pendingToken = sampler.sample(logits)
    }

    /// The next generated token, or nil when finished (see `finishReason`).
    public mutating func next() throws(LlamaModel.Error) -> Int32? {
        try prefill()
        guard finishReason == nil, let token = pendingToken else { return nil }
        if Task.isCancelled { finishReason = .cancelled; return nil }
        if isEndOfGeneration(token) { finishReason = .endOfGeneration; return nil }
        if generated >= maxTokens { finishReason = .maxTokens; return nil }
        generated += 1
        // Only run the model for a token whose successor may still be needed.
        if generated < maxTokens {
            pendingToken = sampler.sample(try model.forward(token: token, cache: cache))
        } else {
            pendingToken = nil
            finishReason = .maxTokens
        }
        return token
    }
}
