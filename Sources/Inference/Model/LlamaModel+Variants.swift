/// What the llama graph's variants add around attention and the FFN, shared by decode and
/// batched prefill: per-head norms, each layer's RoPE, the query's scale, the sliding window,
/// the FFN's activation.
extension LlamaModel {
    /// Queries and keys of one token made ready for attention, in llama.cpp's order: each head
    /// RMS-normalized (Qwen 3, Gemma 3), rotated with the layer's RoPE, and the query scaled (Gemma 3).
    /// Safe to run for different tokens at once: the RoPE rows are reserved beforehand.
    @inline(__always)
    func positionQueryAndKey(layer: Layer, _ l: Int, query: UnsafeMutablePointer<Float>, key: UnsafeMutablePointer<Float>, position: Int) {
        let c = config
        if let w = layer.queryNorm { Kernels.headNorm(query, heads: c.headCount, headDimension: c.headDimension, weight: w, epsilon: c.normEpsilon) }
        if let w = layer.keyNorm { Kernels.headNorm(key, heads: c.kvHeadCount, headDimension: c.headDimension, weight: w, epsilon: c.normEpsilon) }
        let table = ropeTable(layer: l)
        Kernels.rope(query, heads: c.headCount, headDimension: c.headDimension, ropeDimension: c.ropeDimension, style: c.ropeStyle, position: position, table: table)
        Kernels.rope(key, heads: c.kvHeadCount, headDimension: c.headDimension, ropeDimension: c.ropeDimension, style: c.ropeStyle, position: position, table: table)
        if c.queryScale != 1 {
            for i in 0..<(c.headCount * c.headDimension) { query[i] *= c.queryScale }
        }
    }

    /// A sliding-window layer's RoPE table, or the model's.
    @inline(__always)
    func ropeTable(layer l: Int) -> RopeTable {
        if let local = scratch.localRopeTable, let window = config.slidingWindow, window.isLocal(l) { return local }
        return scratch.ropeTable
    }

    /// The positions layer `l` attends to and where `cache` keeps them.
    @inline(__always)
    func attentionSpan(layer l: Int, cache: KVCache) -> Attention.Span {
        let window = config.slidingWindow.flatMap { $0.isLocal(l) ? $0.size : nil }
        return Attention.Span(window: window, slots: cache.slots(layer: l))
    }

    /// gate ← activation(gate) · up over one token's FFN width.
    @inline(__always)
    func activate(gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>) {
        switch config.feedForwardActivation {
        case .silu: Kernels.swiGLU(gate: gate, up: up, count: config.feedForwardLength)
        case .gelu: Kernels.geGLU(gate: gate, up: up, count: config.feedForwardLength)
        }
    }
}
