import Foundation

/// A llama-family model over a memory-mapped GGUF file. The forward pass allocates nothing: its
/// buffers are allocated once here. One model instance runs one sequence at a time.
public final class LlamaModel: @unchecked Sendable {
    public let config: LlamaConfig
    public let file: GGUFFile

    struct Layer {
        var attentionNorm: [Float]
        var query, key, value, output: WeightMatrix
        /// Biases of the attention projections, for models that have them (Qwen2's q, k, v).
        var queryBias, keyBias, valueBias, outputBias: [Float]?
        /// RMSNorm weights of each query and key head (Qwen 3, Gemma 3).
        var queryNorm, keyNorm: [Float]?
        /// RMSNorm weights of the attention and FFN outputs (Gemma 3).
        var attentionPostNorm, ffnPostNorm: [Float]?
        var ffnNorm: [Float]
        var ffn: FeedForward
    }

    let tokenEmbedding: WeightMatrix
    let layers: [Layer]
    let outputNorm: [Float]
    let head: WeightMatrix
    private var ownedBuffers: [UnsafeMutableRawPointer] = []

    // Run state, allocated once.
    let scratch: ForwardScratch
    /// Buffers for batched prefill, allocated on first use.
    lazy var prefillScratch = PrefillScratch(config: config, kQuants: usesKQuants)
    /// Whether any matrix is in a K-quant format, whose kernels take Q8_K activations.
    let usesKQuants: Bool
    let pool: ThreadPool

    public enum Error: Swift.Error, CustomStringConvertible {
        case config(LlamaConfig.Error)
        case weights(WeightMatrix.Error)
        case tokenOutOfRange(Int32, vocabulary: Int)
        case contextFull(capacity: Int)

        public var description: String {
            switch self {
            case .config(let e): "\(e)"
            case .weights(let e): "\(e)"
            case .tokenOutOfRange(let t, let v): "token id \(t) is outside the vocabulary of \(v)"
            case .contextFull(let c): "the context is full (\(c) positions); start a new conversation or raise the context size"
            }
        }
    }

    public convenience init(path: String, threads: Int = 1) throws {
        try self.init(file: GGUFFile(path: path), threads: threads)
    }

    /// `regroupWeights: false` keeps every quantized matrix in the file's layout, for the row
    /// kernels (tests compare the two; results are the same bits).
    ///
    /// `layers` (a pipeline rank's range; nil: all) limits what is prepared in memory to those layers, the
    /// embedding when the range starts at layer 0 and the head when it ends at the last: a rank's runner
    /// holds its share of the model, not all of it. Running other layers is a programming error.
    public init(file: GGUFFile, threads: Int = 1, regroupWeights: Bool = true, layers range: Range<Int>? = nil) throws(Error) {
        self.file = file
        let config: LlamaConfig
        do { config = try LlamaConfig(gguf: file) } catch { throw .config(error) }
        self.config = config
        let d = config.embeddingLength, kv = config.kvDimension
        // Llama 3.1+: per-angle divisors of the RoPE frequencies, read and checked before any weight
        // is copied, so a bad one leaves nothing to free.
        var ropeFactors: [Float]?
        if file.tensor(named: "rope_freqs.weight") != nil {
            do { ropeFactors = try WeightMatrix.vector("rope_freqs.weight", from: file, count: config.ropeDimension / 2) } catch { throw .weights(error) }
            guard ropeFactors!.allSatisfy({ $0.isFinite && $0 > 0 }) else {
                throw .config(.inconsistent("rope_freqs.weight holds a factor that is not a positive number"))
            }
        }
        var owned: [UnsafeMutableRawPointer] = []
        let runsHead = range.map { $0.upperBound >= config.layerCount } ?? true
        let tied = file.tensor(named: "output.weight") == nil
        do {
            // Embedding lookups read the file's rows; the kernels' copy only serves as a tied head.
            tokenEmbedding = try WeightMatrix.load("token_embd.weight", from: file, rows: config.vocabularySize, columns: d,
                                                   regroup: regroupWeights, used: tied && runsHead, owner: &owned)
            var layers: [Layer] = []
            for i in 0..<config.layerCount {
                let p = "blk.\(i)."
                let used = range?.contains(i) ?? true
                func bias(_ name: String, count: Int) throws(WeightMatrix.Error) -> [Float]? {
                    guard used, file.tensor(named: p + name) != nil else { return nil }
                    return try WeightMatrix.vector(p + name, from: file, count: count)
                }
                let q = config.headCount * config.headDimension
                func norm(_ name: String, count: Int, if present: Bool) throws(WeightMatrix.Error) -> [Float]? {
                    present ? try WeightMatrix.vector(p + name, from: file, count: count) : nil
                }
                layers.append(Layer(
                    attentionNorm: try WeightMatrix.vector(p + "attn_norm.weight", from: file, count: d),
                    query: try WeightMatrix.load(p + "attn_q.weight", from: file, rows: q, columns: d, regroup: regroupWeights, used: used, owner: &owned),
                    key: try WeightMatrix.load(p + "attn_k.weight", from: file, rows: kv, columns: d, regroup: regroupWeights, used: used, owner: &owned),
                    value: try WeightMatrix.load(p + "attn_v.weight", from: file, rows: kv, columns: d, regroup: regroupWeights, used: used, owner: &owned),
                    output: try WeightMatrix.load(p + "attn_output.weight", from: file, rows: d, columns: q, regroup: regroupWeights, used: used, owner: &owned),
                    queryBias: try bias("attn_q.bias", count: q), keyBias: try bias("attn_k.bias", count: kv),
                    valueBias: try bias("attn_v.bias", count: kv), outputBias: try bias("attn_output.bias", count: d),
                    queryNorm: try norm("attn_q_norm.weight", count: config.headDimension, if: config.normalizesQueryAndKeyHeads),
                    keyNorm: try norm("attn_k_norm.weight", count: config.headDimension, if: config.normalizesQueryAndKeyHeads),
                    attentionPostNorm: try norm("post_attention_norm.weight", count: d, if: config.normalizesBlockOutputs),
                    ffnPostNorm: try norm("post_ffw_norm.weight", count: d, if: config.normalizesBlockOutputs),
                    ffnNorm: try WeightMatrix.vector(p + "ffn_norm.weight", from: file, count: d),
                    ffn: try FeedForward.load(layer: p, from: file, config: config, regroup: regroupWeights, used: used, owner: &owned)
                ))
            }
            self.layers = layers
            outputNorm = try WeightMatrix.vector("output_norm.weight", from: file, count: d)
            // Tied embeddings: without an output matrix the token embedding is the head.
            if !tied {
                head = try WeightMatrix.load("output.weight", from: file, rows: config.vocabularySize, columns: d, regroup: regroupWeights, used: runsHead, owner: &owned)
            } else {
                head = tokenEmbedding
            }
        } catch {
            owned.forEach { $0.deallocate() }
            throw .weights(error)
        }
        ownedBuffers = owned
        let matrices = layers.flatMap { [$0.query, $0.key, $0.value, $0.output] + $0.ffn.matrices } + [head]
        usesKQuants = matrices.contains { KQuantMatMul.supports($0.type) }
        scratch = ForwardScratch(config: config, ropeFactors: ropeFactors, kQuants: usesKQuants)
        pool = ThreadPool(threads: max(1, threads))
    }

    deinit {
        ownedBuffers.forEach { $0.deallocate() }
    }

    public var threads: Int { pool.threads }

    /// A cache for `layers` (default: all) holding up to `capacity` positions.
    public func makeCache(capacity: Int? = nil, layers: Range<Int>? = nil) -> KVCache {
        let window = config.slidingWindow
        return KVCache(layers: layers ?? 0..<config.layerCount, capacity: min(capacity ?? config.contextLength, config.contextLength),
                       kvDimension: config.kvDimension, ringSlots: window.map { $0.size + PrefillScratch.batch - 1 },
                       isRing: { window?.isLocal($0) ?? false })
    }

    /// Hidden state for `token`: a row of the embedding, dequantized.
    public func embed(_ token: Int32, into hidden: UnsafeMutablePointer<Float>) throws(Error) {
        guard token >= 0, Int(token) < config.vocabularySize else { throw .tokenOutOfRange(token, vocabulary: config.vocabularySize) }
        let rows = tokenEmbedding.fileRows
        try? Dequantize.row(rows.type, from: rows.bytes + Int(token) * rows.rowBytes, count: config.embeddingLength, into: hidden)
        if config.embeddingScale != 1 { for i in 0..<config.embeddingLength { hidden[i] *= config.embeddingScale } }
    }

    /// Runs layers `range` on `hidden` (in place) for the token at `cache.length`, storing its keys
    /// and values; the caller advances `cache.length` once every layer range has run.
    public func forwardLayers(_ range: Range<Int>, hidden: UnsafeMutablePointer<Float>, cache: KVCache) throws(Error) {
        let position = cache.length
        guard position < cache.capacity else { throw .contextFull(capacity: cache.capacity) }
        precondition(range.lowerBound >= cache.layers.lowerBound && range.upperBound <= cache.layers.upperBound, "cache does not hold layers \(range)")
        scratch.reserveRope(positions: position + 1)
        for l in range { layerForward(l, hidden: hidden, position: position, cache: cache) }
    }

    /// Final norm and output head: logits for the token whose hidden state is `hidden`.
    public func logits(hidden: UnsafeMutablePointer<Float>) -> UnsafeMutableBufferPointer<Float> {
        let s = scratch
        Kernels.rmsNorm(hidden, weight: outputNorm, epsilon: config.normEpsilon, count: config.embeddingLength, into: s.normed)
        matVec(head, input: s.normed, output: s.logits)
        if config.logitScale != 1 {
            let inverse = 1 / config.logitScale  // as llama.cpp: a multiplication by the reciprocal
            for i in 0..<config.vocabularySize { s.logits[i] *= inverse }
        }
        if let cap = config.finalLogitSoftcap { Kernels.softcap(s.logits, count: config.vocabularySize, cap: cap) }
        return UnsafeMutableBufferPointer(start: s.logits, count: config.vocabularySize)
    }

    /// Embedding, every layer and the head for one token; advances the cache.
    public func forward(token: Int32, cache: KVCache) throws(Error) -> UnsafeMutableBufferPointer<Float> {
        try embed(token, into: scratch.hidden)
        try forwardLayers(0..<config.layerCount, hidden: scratch.hidden, cache: cache)
        cache.length += 1
        return logits(hidden: scratch.hidden)
    }

    /// Feeds tokens without computing logits except for the last one. All but the last go through
    /// the layers in batches (`forwardBatch`), which gives the same bits as one at a time, faster.
    public func prefill(_ tokens: [Int32], cache: KVCache) throws(Error) -> UnsafeMutableBufferPointer<Float> {
        precondition(!tokens.isEmpty)
        var start = 0
        let body = tokens.count - 1
        while start < body {
            let chunk = Array(tokens[start..<min(body, start + PrefillScratch.batch)])
            try forwardBatch(chunk, cache: cache)
            start += chunk.count
        }
        return try forward(token: tokens[tokens.count - 1], cache: cache)
    }

    private func layerForward(_ l: Int, hidden x: UnsafeMutablePointer<Float>, position: Int, cache: KVCache) {
        let layer = layers[l]
        let s = scratch
        let c = config
        Kernels.rmsNorm(x, weight: layer.attentionNorm, epsilon: c.normEpsilon, count: c.embeddingLength, into: s.normed)
        s.activation.quantize(s.normed, count: c.embeddingLength)
        matVecQuantized(layer.query, s.query, layer.key, s.key, layer.value, s.value)
        Kernels.addBias(layer.queryBias, to: s.query)
        Kernels.addBias(layer.keyBias, to: s.key)
        Kernels.addBias(layer.valueBias, to: s.value)
        positionQueryAndKey(layer: layer, l, query: s.query, key: s.key, position: position)
        let k = cache.key(layer: l, position: position), v = cache.value(layer: l, position: position)
        for i in 0..<c.kvDimension {
            k[i] = Float16(s.key[i])
            v[i] = Float16(s.value[i])
        }
        Attention.run(query: s.query, keys: cache.key(layer: l, position: 0), values: cache.value(layer: l, position: 0), firstLength: position + 1,
                      span: attentionSpan(layer: l, cache: cache), config: c, pool: pool, output: s.attention)
        matVec(layer.output, input: s.attention, output: s.projected)
        Kernels.addBias(layer.outputBias, to: s.projected)
        if let w = layer.attentionPostNorm { Kernels.rmsNorm(s.projected, weight: w, epsilon: c.normEpsilon, count: c.embeddingLength, into: s.projected) }
        Kernels.addResidual(s.projected, scale: c.residualScale, into: x, count: c.embeddingLength)

        Kernels.rmsNorm(x, weight: layer.ffnNorm, epsilon: c.normEpsilon, count: c.embeddingLength, into: s.normed)
        switch layer.ffn {
        case .dense(let ffn):
            s.activation.quantize(s.normed, count: c.embeddingLength)
            matVecQuantized(ffn.gate, s.gate, ffn.up, s.up)
            activate(gate: s.gate, up: s.up)
            matVec(ffn.down, input: s.gate, output: s.projected)
        case .mixture(let router, let experts):
            mixture(router: router, experts: experts, output: s.projected)
        }
        if let w = layer.ffnPostNorm { Kernels.rmsNorm(s.projected, weight: w, epsilon: c.normEpsilon, count: c.embeddingLength, into: s.projected) }
        Kernels.addResidual(s.projected, scale: c.residualScale, into: x, count: c.embeddingLength)
    }

    /// W·input, quantizing `input` first when W is quantized.
    func matVec(_ w: WeightMatrix, input: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>) {
        if w.type == .f32 {
            Kernels.matVecF32(w, input: input, output: output, pool: pool)
        } else {
            let a = w.columns == config.embeddingLength ? scratch.activation : scratch.wideActivation
            a.quantize(input, count: w.columns)
            matVecQuantized(w, output: output, activation: a)
        }
    }

    /// W·(the already quantized activation) in parallel over rows.
    func matVecQuantized(_ w: WeightMatrix, output: UnsafeMutablePointer<Float>, activation: QuantizedActivation? = nil) {
        if w.type == .f32 {
            Kernels.matVecF32(w, input: scratch.normed, output: output, pool: pool)
            return
        }
        let a = activation ?? scratch.activation
        pool.parallelFor(rows: w.rows) { range in
            w.multiply(range, x: a, y: output)
        }
    }

    /// Two or three matrices times the same quantized activation, as one job over their rows
    /// together: one wake-up and one wait of the pool instead of one per matrix (each row's result
    /// is the same bits whichever chunk computes it). Takes no array, so it allocates nothing of its own.
    func matVecQuantized(
        _ w0: WeightMatrix, _ y0: UnsafeMutablePointer<Float>, _ w1: WeightMatrix, _ y1: UnsafeMutablePointer<Float>,
        _ w2: WeightMatrix? = nil, _ y2: UnsafeMutablePointer<Float>? = nil
    ) {
        guard w0.type != .f32, w1.type != .f32, w2?.type != .f32 else {
            matVecQuantized(w0, output: y0)
            matVecQuantized(w1, output: y1)
            if let w2, let y2 { matVecQuantized(w2, output: y2) }
            return
        }
        let a = scratch.activation
        let first = w0.rows, second = w0.rows + w1.rows
        pool.parallelFor(rows: second + (w2?.rows ?? 0)) { range in
            if range.lowerBound < first { w0.multiply(range.lowerBound..<min(range.upperBound, first), x: a, y: y0) }
            if range.upperBound > first, range.lowerBound < second {
                w1.multiply((max(range.lowerBound, first) - first)..<(min(range.upperBound, second) - first), x: a, y: y1)
            }
            if let w2, let y2, range.upperBound > second {
                w2.multiply((max(range.lowerBound, second) - second)..<(range.upperBound - second), x: a, y: y2)
            }
        }
    }
}
