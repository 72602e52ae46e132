/// Every buffer of a forward pass, allocated once per model.
final class ForwardScratch: @unchecked Sendable {
    let hidden, normed, query, key, value, attention, projected, gate, up, logits: UnsafeMutablePointer<Float>
    let activation: QuantizedActivation
    let wideActivation: QuantizedActivation
    let ropeTable: RopeTable
    private let all: [UnsafeMutablePointer<Float>]

    /// `kQuants`: the model has K-quant matrices, so activations are quantized for them too (Q8_K).
    init(config c: LlamaConfig, ropeFactors: [Float]? = nil, kQuants: Bool = false) {
        func buffer(_ n: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: n)
            p.initialize(repeating: 0, count: n)
            return p
        }
        let qDim = c.headCount * c.headDimension
        hidden = buffer(c.embeddingLength)
        normed = buffer(max(c.embeddingLength, qDim))
        query = buffer(qDim)
        key = buffer(c.kvDimension)
        value = buffer(c.kvDimension)
        attention = buffer(qDim)
        projected = buffer(c.embeddingLength)
        gate = buffer(c.feedForwardLength)
        up = buffer(c.feedForwardLength)
        logits = buffer(c.vocabularySize)
        all = [hidden, normed, query, key, value, attention, projected, gate, up, logits]
        activation = QuantizedActivation(capacity: c.embeddingLength)
        wideActivation = QuantizedActivation(capacity: max(c.feedForwardLength, qDim))
        activation.quantizesK = kQuants
        wideActivation.quantizesK = kQuants
        ropeTable = RopeTable(ropeDimension: c.ropeDimension, base: c.ropeBase, frequencyScale: c.ropeFrequencyScale, factors: ropeFactors)
    }

    deinit {
        all.forEach { $0.deallocate() }
    }
}
