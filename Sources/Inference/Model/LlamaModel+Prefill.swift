/// Buffers for running a batch of prompt tokens through the layers together.
final class PrefillScratch: @unchecked Sendable {
    /// Tokens per batch: enough to reuse each weight block many times, small enough to stay in cache.
    static let batch = 32

    let hidden, normed, query, key, value, attention, projected, gate, up: UnsafeMutablePointer<Float>
    let narrow: QuantizedBatch
    let wide: QuantizedBatch
    private let all: [UnsafeMutablePointer<Float>]

    init(config c: LlamaConfig, kQuants: Bool = false) {
        let b = Self.batch, d = c.embeddingLength, q = c.headCount * c.headDimension, f = c.feedForwardLength
        func buffer(_ n: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: n * b)
            p.initialize(repeating: 0, count: n * b)
            return p
        }
        hidden = buffer(d); normed = buffer(max(d, q)); query = buffer(q); key = buffer(c.kvDimension)
        value = buffer(c.kvDimension); attention = buffer(q); projected = buffer(d); gate = buffer(f); up = buffer(f)
        all = [hidden, normed, query, key, value, attention, projected, gate, up]
        narrow = QuantizedBatch(capacity: max(d, q), maximumTokens: b)
        wide = QuantizedBatch(capacity: max(f, q), maximumTokens: b)
        narrow.quantizesK = kQuants
        wide.quantizesK = kQuants
    }

    deinit { all.forEach { $0.deallocate() } }
}

extension LlamaModel {
    /// The most hidden states `forwardLayers(_:batch:count:cache:)` takes at once.
    public static var prefillBatch: Int { PrefillScratch.batch }

    /// Runs `tokens` (at most `PrefillScratch.batch`) through every layer at positions
    /// cache.length…, storing their keys and values, and advances the cache. Every per-token
    /// operation is the one `forward` performs, in the same order, so the cache holds the same bits.
    func forwardBatch(_ tokens: [Int32], cache: KVCache) throws(Error) {
        let c = config, p = prefillScratch, n = tokens.count
        precondition(n <= PrefillScratch.batch)
        guard cache.length + n <= cache.capacity else { throw .contextFull(capacity: cache.capacity) }
        let d = c.embeddingLength
        for (t, token) in tokens.enumerated() { try embed(token, into: p.hidden + t * d) }
        try forwardLayers(0..<c.layerCount, batch: p.hidden, count: n, cache: cache)
        cache.length += n
    }

    /// Runs layers `range` on `count` (at most `PrefillScratch.batch`) hidden states in place, rows of
    /// `embeddingLength` at `hidden`, for positions cache.length…; the caller advances `cache.length`
    /// once every range has run (a pipeline rank runs its own range on its own cache). Bit-identical to
    /// `forwardLayers(_:hidden:cache:)` one token at a time.
    public func forwardLayers(_ range: Range<Int>, batch hidden: UnsafeMutablePointer<Float>, count n: Int, cache: KVCache) throws(Error) {
        let c = config, p = prefillScratch
        precondition(n > 0 && n <= PrefillScratch.batch)
        precondition(range.lowerBound >= cache.layers.lowerBound && range.upperBound <= cache.layers.upperBound, "cache does not hold layers \(range)")
        guard cache.length + n <= cache.capacity else { throw .contextFull(capacity: cache.capacity) }
        let d = c.embeddingLength, q = c.headCount * c.headDimension, kv = c.kvDimension, f = c.feedForwardLength
        scratch.reserveRope(positions: cache.length + n)
        for l in range {
            let layer = layers[l]
            perToken(n) { t in Kernels.rmsNorm(hidden + t * d, weight: layer.attentionNorm, epsilon: c.normEpsilon, count: d, into: p.normed + t * d) }
            batchMatVec([(layer.query, p.query, q), (layer.key, p.key, kv), (layer.value, p.value, kv)],
                        input: p.normed, inputStride: d, tokens: n, quantized: p.narrow)
            perToken(n) { t in
                let position = cache.length + t
                Kernels.addBias(layer.queryBias, to: p.query + t * q)
                Kernels.addBias(layer.keyBias, to: p.key + t * kv)
                Kernels.addBias(layer.valueBias, to: p.value + t * kv)
                positionQueryAndKey(layer: layer, l, query: p.query + t * q, key: p.key + t * kv, position: position)
                let keys = cache.key(layer: l, position: position), values = cache.value(layer: l, position: position)
                for i in 0..<kv {
                    keys[i] = Float16(p.key[t * kv + i])
                    values[i] = Float16(p.value[t * kv + i])
                }
            }
            Attention.run(query: p.query, tokens: n, queryStride: q, keys: cache.key(layer: l, position: 0), values: cache.value(layer: l, position: 0),
                          firstLength: cache.length + 1, span: attentionSpan(layer: l, cache: cache), config: c, pool: pool, output: p.attention)
            batchMatVec([(layer.output, p.projected, d)], input: p.attention, inputStride: q, tokens: n, quantized: p.wide)
            if let bias = layer.outputBias { perToken(n) { t in Kernels.addBias(bias, to: p.projected + t * d) } }
            if let w = layer.attentionPostNorm { perToken(n) { t in Kernels.rmsNorm(p.projected + t * d, weight: w, epsilon: c.normEpsilon, count: d, into: p.projected + t * d) } }
            Kernels.addResidual(p.projected, scale: c.residualScale, into: hidden, count: n * d)

            perToken(n) { t in Kernels.rmsNorm(hidden + t * d, weight: layer.ffnNorm, epsilon: c.normEpsilon, count: d, into: p.normed + t * d) }
            switch layer.ffn {
            case .dense(let ffn):
                batchMatVec([(ffn.gate, p.gate, f), (ffn.up, p.up, f)], input: p.normed, inputStride: d, tokens: n, quantized: p.narrow)
                perToken(n) { t in activate(gate: p.gate + t * f, up: p.up + t * f) }
                batchMatVec([(ffn.down, p.projected, d)], input: p.gate, inputStride: f, tokens: n, quantized: p.wide)
            case .mixture(let router, let experts):
                // Each token has experts of its own: they run one token at a time, as in decode.
                for t in 0..<n {
                    scratch.normed.update(from: p.normed + t * d, count: d)
                    mixture(router: router, experts: experts, output: p.projected + t * d)
                }
            }
            if let w = layer.ffnPostNorm { perToken(n) { t in Kernels.rmsNorm(p.projected + t * d, weight: w, epsilon: c.normEpsilon, count: d, into: p.projected + t * d) } }
            Kernels.addResidual(p.projected, scale: c.residualScale, into: hidden, count: n * d)
        }
    }

    /// Runs `body` for tokens 0..<n, spread over the pool's threads (each token's work is
    /// independent of the others', so the order does not matter).
    @inline(__always)
    private func perToken(_ n: Int, _ body: (Int) -> Void) {
        pool.parallelFor(items: n) { tokens in for t in tokens { body(t) } }
    }

    /// W·x for each matrix of `products` (weights, output, output stride) and each of `tokens`
    /// inputs (row t at input + t · inputStride). The inputs are quantized once, and the matrices'
    /// rows run as one job (one wake-up of the pool); formats without a batched kernel fall back
    /// to one product per token.
    private func batchMatVec(
        _ products: [(WeightMatrix, UnsafeMutablePointer<Float>, Int)], input: UnsafeMutablePointer<Float>,
        inputStride: Int, tokens: Int, quantized: QuantizedBatch
    ) {
        guard products.allSatisfy({ QuantizedMatMat.supports($0.0.type) }) else {
            for (w, output, outputStride) in products {
                for t in 0..<tokens { matVec(w, input: input + t * inputStride, output: output + t * outputStride) }
            }
            return
        }
        quantized.quantize(input, tokens: tokens, count: products[0].0.columns, stride: inputStride, pool: pool)
        let total = products.reduce(0) { $0 + $1.0.rows }
        pool.parallelFor(rows: total) { range in
            var offset = 0
            for (w, output, outputStride) in products {
                let start = max(range.lowerBound, offset), end = min(range.upperBound, offset + w.rows)
                if start < end { w.multiply((start - offset)..<(end - offset), xs: quantized, y: output, stride: outputStride) }
                offset += w.rows
            }
        }
    }
}
