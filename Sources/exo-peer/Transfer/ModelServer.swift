import Foundation
import Logging
import Mesh

#if canImport(Glibc)
import Glibc
#endif

/// Serves this node's model files to peers that fetch them: piece lists and 4 MiB pieces, read straight
/// from the file. At most `perPeerLimit` requests per peer are served at once (more are refused as busy),
/// and uploads are paced by a byte-rate limit, so a fetching peer cannot crowd out gossip or inference.
actor ModelServer {
    struct Settings: Sendable {
        var bytesPerSecond: Double
        var perPeerLimit = 4
    }

    private let settings: Settings
    /// The local file with this SHA-256 and its piece digests, if this node holds it.
    private let lookup: @Sendable (String) -> (path: String, manifest: ModelManifest)?
    private let send: @Sendable (TransferMessage, [UInt8], NodeID) async -> Bool
    private let logger: Logger
    private var busy: [NodeID: Int] = [:]
    private var bucket: TokenBucket
    private let epoch = ContinuousClock.now
    private(set) var servedBytes: UInt64 = 0

    init(settings: Settings, lookup: @escaping @Sendable (String) -> (path: String, manifest: ModelManifest)?,
         send: @escaping @Sendable (TransferMessage, [UInt8], NodeID) async -> Bool, logger: Logger) {
        self.settings = settings
        self.lookup = lookup
        self.send = send
        self.logger = logger
        bucket = TokenBucket(bytesPerSecond: settings.bytesPerSecond, burst: Double(2 * ModelManifest.defaultChunkBytes))
    }

    func receive(_ message: TransferMessage, from peer: NodeID) async {
        switch message {
        case .manifestRequest(let id, let sha256):
            guard let file = lookup(sha256) else {
                _ = await send(.refused(request: id, sha256: sha256, chunk: nil, reason: "this node does not hold \(sha256.prefix(12))"), [], peer)
                return
            }
            _ = await send(.manifest(request: id, manifest: file.manifest), [], peer)
        case .chunkRequest(let id, let sha256, let chunk):
            await serve(chunk: chunk, of: sha256, request: id, to: peer)
        case .manifest, .chunk, .refused:
            return
        }
    }

    private func serve(chunk: Int, of sha256: String, request id: UInt64, to peer: NodeID) async {
        func refuse(_ reason: String) async {
            _ = await send(.refused(request: id, sha256: sha256, chunk: chunk, reason: reason), [], peer)
        }
        guard let file = lookup(sha256) else { return await refuse("this node does not hold \(sha256.prefix(12))") }
        guard file.manifest.chunks.indices.contains(chunk) else { return await refuse("piece \(chunk) is outside the file") }
        guard busy[peer, default: 0] < settings.perPeerLimit else { return await refuse("busy: \(settings.perPeerLimit) requests in progress") }
        busy[peer, default: 0] += 1
        defer { busy[peer, default: 1] -= 1 }
        let range = file.manifest.range(ofChunk: chunk)
        let elapsed = ContinuousClock.now - epoch
        let delay = bucket.take(Int(range.count), now: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
        if delay > 0 { try? await Task.sleep(for: .seconds(delay)) }
        let path = file.path
        let bytes = await Task.detached(priority: .utility) { Self.read(path: path, range: range) }.value
        guard let bytes else { return await refuse("cannot read the file") }
        if await send(.chunk(request: id, sha256: sha256, chunk: chunk), bytes, peer) { servedBytes += UInt64(bytes.count) }
    }

    private static func read(path: String, range: Range<UInt64>) -> [UInt8]? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        return FileBytes.read(fd, range: range)
    }
}
