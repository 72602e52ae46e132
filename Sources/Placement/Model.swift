/// What placement needs to know about a model: its sizes, as read by the caller from the GGUF header.
/// Every transformer block is taken to be the same size.
public struct ModelDescription: Sendable, Hashable, Codable {
    /// Larger layer counts are not models but corrupt headers; the bound keeps the arithmetic exact.
    public static let maxLayerCount = 1 << 20

    public var id: String
    public var layerCount: Int
    /// Weight bytes of one transformer block: what a rank holds, and reads once per token, per layer it owns.
    public var bytesPerLayer: UInt64
    /// Token embedding, held by the first rank (which reads only one row of it per token).
    public var embeddingBytes: UInt64
    /// Final norm and output head, held by the last rank and read in full for every token.
    public var outputBytes: UInt64
    /// The output head is the embedding matrix itself, so a rank that is both first and last holds it once.
    public var tiedEmbeddings: Bool
    /// KV-cache bytes one layer needs for one context position (keys and values).
    public var kvBytesPerLayerPerPosition: UInt64
    /// Positions the KV cache is sized for; every rank reserves it for its own layers.
    public var contextLength: Int

    public init(
        id: String, layerCount: Int, bytesPerLayer: UInt64, embeddingBytes: UInt64 = 0, outputBytes: UInt64 = 0,
        tiedEmbeddings: Bool = false, kvBytesPerLayerPerPosition: UInt64 = 0, contextLength: Int = 0
    ) {
        self.id = id
        self.layerCount = layerCount
        self.bytesPerLayer = bytesPerLayer
        self.embeddingBytes = embeddingBytes
        self.outputBytes = outputBytes
        self.tiedEmbeddings = tiedEmbeddings
        self.kvBytesPerLayerPerPosition = kvBytesPerLayerPerPosition
        self.contextLength = contextLength
    }

    /// Bytes of weights on disk and in memory, counted once: the figure the `spread` size tiers use.
    public var weightBytes: UInt64 {
        let head = tiedEmbeddings ? max(embeddingBytes, outputBytes) : embeddingBytes.saturatingAdd(outputBytes)
        return UInt64(max(layerCount, 0)).saturatingMultiply(bytesPerLayer).saturatingAdd(head)
    }

    /// Why the description cannot be placed, or nil when it can.
    var invalidity: String? {
        if id.isEmpty { return "the model id is empty" }
        if layerCount < 1 { return "model \(id) has \(layerCount) layers; it needs at least one" }
        if layerCount > Self.maxLayerCount { return "model \(id) claims \(layerCount) layers, more than \(Self.maxLayerCount)" }
        if bytesPerLayer == 0 { return "model \(id) has layers of zero bytes" }
        if contextLength < 0 { return "model \(id) has a negative context length" }
        return nil
    }
}
