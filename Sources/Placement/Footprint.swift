/// The memory a rank needs: its layers' weights and KV cache, the embedding if it is first, the output head
/// if it is last, plus the headroom fraction on top (activations, buffers, the runner process itself).
///
/// All in integers so that every node, whatever its CPU, computes the same capacities and the same plan.
struct Footprint: Sendable {
    let model: ModelDescription
    let headroom: Double
    /// Weights and KV cache of one layer.
    let bytesPerLayer: UInt64

    /// Nil when the figures overflow 64 bits: no real model does, so the header was corrupt.
    init?(model: ModelDescription, headroom: Double) {
        guard model.invalidity == nil, headroom.isFinite, headroom >= 0 else { return nil }
        let kv = model.kvBytesPerLayerPerPosition.multipliedReportingOverflow(by: UInt64(model.contextLength))
        let perLayer = model.bytesPerLayer.addingReportingOverflow(kv.partialValue)
        let layers = perLayer.partialValue.multipliedReportingOverflow(by: UInt64(model.layerCount))
        let ends = model.embeddingBytes.addingReportingOverflow(model.outputBytes)
        let total = layers.partialValue.addingReportingOverflow(ends.partialValue)
        guard !kv.overflow, !perLayer.overflow, !layers.overflow, !ends.overflow, !total.overflow,
              Double(total.partialValue) * (1 + headroom) < 1.0e19 else { return nil }
        self.model = model
        self.headroom = headroom
        self.bytesPerLayer = perLayer.partialValue
    }

    /// Bytes a rank holding `layers` layers needs, headroom included.
    func bytes(layers: Int, first: Bool, last: Bool) -> UInt64 {
        var fixed: UInt64 = 0
        switch (first, last) {
        case (true, true): fixed = model.tiedEmbeddings ? max(model.embeddingBytes, model.outputBytes) : model.embeddingBytes + model.outputBytes
        case (true, false): fixed = model.embeddingBytes
        case (false, true): fixed = model.outputBytes
        case (false, false): fixed = 0
        }
        return withHeadroom(fixed + UInt64(layers) * bytesPerLayer)
    }

    /// Bytes of the whole model on one node: the least any placement must find.
    var wholeModelBytes: UInt64 { bytes(layers: model.layerCount, first: true, last: true) }

    /// The most layers (up to all of them) a node with `memory` bytes can hold in the given role; 0 when it
    /// cannot hold even one, which rules it out of that role.
    func capacity(memory: UInt64, first: Bool, last: Bool) -> Int {
        guard bytes(layers: 1, first: first, last: last) <= memory else { return 0 }
        var low = 1, high = model.layerCount
        while low < high {
            let mid = low + (high - low + 1) / 2
            if bytes(layers: mid, first: first, last: last) <= memory { low = mid } else { high = mid - 1 }
        }
        return low
    }

    func withHeadroom(_ bytes: UInt64) -> UInt64 {
        bytes + UInt64((Double(bytes) * headroom).rounded(.up))
    }
}
