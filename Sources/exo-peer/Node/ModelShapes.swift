import Gossip
import Inference
import Synchronization

/// Model shapes read from GGUF headers, remembered by file digest (reading a header parses the
/// whole vocabulary, so it is done once per file, not on every record refresh).
enum ModelShapes {
    private static let cache = Mutex<[String: NodeRecord.ModelOnDisk.Shape?]>([:])

    static func shape(of file: ModelFile) -> NodeRecord.ModelOnDisk.Shape? {
        if let known = cache.withLock({ $0[file.sha256] }) { return known }
        let shape: NodeRecord.ModelOnDisk.Shape? = {
            guard let gguf = try? GGUFFile(path: file.path), let s = try? ModelShape(gguf: gguf) else { return nil }
            return .init(architecture: s.architecture, layerCount: s.layerCount, bytesPerLayer: s.bytesPerLayer,
                         embeddingBytes: s.embeddingBytes, outputBytes: s.outputBytes, tiedEmbeddings: s.tiedEmbeddings,
                         kvBytesPerLayerPerPosition: s.kvBytesPerLayerPerPosition, contextLength: s.contextLength)
        }()
        cache.withLock { $0[file.sha256] = shape }
        return shape
    }
}
