import Gossip
import Inference
import Placement
import Synchronization

/// Model shapes read from GGUF headers, remembered by file digest (reading a header parses the
/// whole vocabulary, so it is done once per file, not on every record refresh).
enum ModelShapes {
    private static let cache = Mutex<[String: NodeRecord.ModelOnDisk.Shape?]>([:])

    static func shape(of file: ModelFile) -> NodeRecord.ModelOnDisk.Shape? {
        if let known = cache.withLock({ $0[file.sha256] }) { return known }
        let shape: NodeRecord.ModelOnDisk.Shape? = {
            guard let gguf = try? GGUFFile(path: file.path), let s = try? ModelShape(gguf: gguf) else { return nil }
            var shape = NodeRecord.ModelOnDisk.Shape(
                architecture: s.architecture, layerCount: s.layerCount, bytesPerLayer: s.bytesPerLayer,
                embeddingBytes: s.embeddingBytes, outputBytes: s.outputBytes, tiedEmbeddings: s.tiedEmbeddings,
                kvBytesPerLayerPerPosition: s.kvBytesPerLayerPerPosition, contextLength: s.contextLength,
                parameterCount: gguf.tensors.reduce(UInt64(0)) { $0 + UInt64($1.elementCount) }
            )
            shape.memoryBytes = wholeModelMemory(shape, id: file.id)
            return shape
        }()
        cache.withLock { $0[file.sha256] = shape }
        return shape
    }

    /// What one node needs to run the whole model, as placement counts it (weights, KV cache at the full
    /// context, default headroom).
    static func wholeModelMemory(_ shape: NodeRecord.ModelOnDisk.Shape, id: String) -> UInt64? {
        let model = NodeRecord.ModelOnDisk(id: id, sizeBytes: 0, sha256: "", shape: shape)
        guard let description = InstanceView.description(of: model) else { return nil }
        let whole = Plan(model: id, ranks: [Plan.Rank(node: "", layerStart: 0, layerEnd: shape.layerCount)])
        return whole.memoryBytes(model: description)?.first
    }
}
