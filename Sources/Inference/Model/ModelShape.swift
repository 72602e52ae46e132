/// A model's size by part, read from its GGUF header: what placement needs to put layers on nodes.
public struct ModelShape: Sendable, Equatable {
    public var architecture: String
    public var layerCount: Int
    /// Bytes of the largest layer's weights.
    public var bytesPerLayer: UInt64
    public var embeddingBytes: UInt64
    /// Bytes of a separate output head; 0 when the embedding is the head.
    public var outputBytes: UInt64
    public var tiedEmbeddings: Bool
    /// Float16 keys and values of one layer for one position.
    public var kvBytesPerLayerPerPosition: UInt64
    public var contextLength: Int

    public init(gguf: GGUFFile) throws(LlamaConfig.Error) {
        let config = try LlamaConfig(gguf: gguf)
        var perLayer = [UInt64](repeating: 0, count: config.layerCount)
        for tensor in gguf.tensors where tensor.name.hasPrefix("blk.") {
            let index = tensor.name.dropFirst(4).prefix { $0.isNumber }
            if let i = Int(index), perLayer.indices.contains(i) { perLayer[i] += UInt64(tensor.byteCount) }
        }
        architecture = config.architecture
        layerCount = config.layerCount
        bytesPerLayer = perLayer.max() ?? 0
        embeddingBytes = UInt64(gguf.tensor(named: "token_embd.weight")?.byteCount ?? 0)
        let output = gguf.tensor(named: "output.weight")
        outputBytes = UInt64(output?.byteCount ?? 0)
        tiedEmbeddings = output == nil
        kvBytesPerLayerPerPosition = UInt64(2 * config.kvDimension * MemoryLayout<Float16>.size)
        contextLength = config.contextLength
    }
}
