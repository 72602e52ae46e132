/// A model's size by part, read from its GGUF header: what placement needs to put layers on nodes.
/// Sizes are what the engine holds in memory: the file's, except for formats without integer
/// kernels (F16/BF16, Q2_K, Q3_K), held as Float32.
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
            if let i = Int(index), perLayer.indices.contains(i) { perLayer[i] += Self.loadedBytes(tensor) }
        }
        architecture = config.architecture
        layerCount = config.layerCount
        bytesPerLayer = perLayer.max() ?? 0
        let embedding = gguf.tensor(named: "token_embd.weight"), output = gguf.tensor(named: "output.weight")
        // A tied embedding is held as the head in the kernels' format; a separate one is only looked up in the file.
        embeddingBytes = embedding.map { output == nil ? Self.loadedBytes($0) : UInt64($0.byteCount) } ?? 0
        outputBytes = output.map(Self.loadedBytes) ?? 0
        tiedEmbeddings = output == nil
        kvBytesPerLayerPerPosition = UInt64(2 * config.kvDimension * MemoryLayout<Float16>.size)
        contextLength = config.contextLength
    }

    /// Bytes the engine holds for `tensor` once loaded.
    static func loadedBytes(_ tensor: GGUFTensorInfo) -> UInt64 {
        switch tensor.type {
        case .f16, .bf16, .q2_K, .q3_K: return UInt64(tensor.elementCount * 4)
        default: return UInt64(tensor.byteCount)
        }
    }
}
