import Foundation
import Mesh
import Synchronization

/// A GGUF file in the models directory, identified by name and sha256.
struct ModelFile: Sendable, Codable, Equatable {
    var id: String          // file name without `.gguf`
    var path: String
    var sizeBytes: UInt64
    var sha256: String
    /// BLAKE2b-256 of each `ModelManifest.defaultChunkBytes` piece, for peers that fetch the file.
    var chunks: [String] = []

    var manifest: ModelManifest { ModelManifest(sha256: sha256, sizeBytes: sizeBytes, chunkBytes: ModelManifest.defaultChunkBytes, chunks: chunks) }
}

/// The models on this node's disk. Hashing a model takes a moment, so digests (of the file and of each
/// piece) are cached by (path, size, modification time) in `<home>/model-digests.json`.
struct ModelCatalog: Sendable {
    let directory: URL
    let cacheFile: URL
    /// The digest cache as last read or written: a scan runs on every runner reconciliation, and the file
    /// (piece digests included) is parsed once, not on each.
    private let loaded = LoadedDigests()

    init(directory: URL, cacheFile: URL) {
        self.directory = directory
        self.cacheFile = cacheFile
    }

    private struct CacheKey: Codable, Hashable { var path: String; var size: UInt64; var modified: Double }

    /// A file's cache key by its resolved path, size and modification time; nil when it cannot be read.
    private static func key(resolvedPath path: String) -> CacheKey? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              let size = (attributes[.size] as? NSNumber)?.uint64Value,
              let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 else { return nil }
        return CacheKey(path: path, size: size, modified: modified)
    }

    func scan() -> [ModelFile] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { return [] }
        var cache = loadCache()
        var reread = false
        var changed = false
        var models: [ModelFile] = []
        for name in names.sorted() where name.hasSuffix(".gguf") {
            let path = directory.appendingPathComponent(name).resolvingSymlinksInPath().path
            guard let key = Self.key(resolvedPath: path) else { continue }
            if cache[key]?.pieces == nil, !reread {
                // Another process (`exo-peer models add`) may have hashed it since the file was read.
                cache = loadCache(fromDisk: true)
                reread = true
            }
            let digest: Digest
            if let cached = cache[key], cached.pieces != nil {
                digest = cached
            } else if let computed = try? Sodium.digests(fileAt: path, chunkSize: ModelManifest.defaultChunkBytes) {
                digest = Digest(sha256: computed.sha256, pieces: computed.pieces)
                cache[key] = digest
                changed = true
            } else {
                continue
            }
            models.append(ModelFile(id: String(name.dropLast(5)), path: path, sizeBytes: key.size, sha256: digest.sha256, chunks: digest.pieces ?? []))
        }
        if changed { saveCache(cache) }
        return models
    }

    /// Finds a model by id (file name with or without `.gguf`) or by a path to a file.
    func resolve(_ nameOrPath: String) -> ModelFile? {
        let id = nameOrPath.hasSuffix(".gguf") ? String(nameOrPath.dropLast(5)) : nameOrPath
        return scan().first { $0.id == id || $0.path == nameOrPath }
    }

    /// Records the digests of a file this node verified itself (a fetched model), so the next scan does not hash it again.
    func remember(path: String, sha256: String, chunks: [String]) {
        guard let key = Self.key(resolvedPath: URL(fileURLWithPath: path).resolvingSymlinksInPath().path) else { return }
        var cache = loadCache()
        cache[key] = Digest(sha256: sha256, pieces: chunks)
        saveCache(cache)
    }

    private struct Digest: Codable { var sha256: String; var pieces: [String]? }

    private final class LoadedDigests: Sendable {
        let cache = Mutex<[CacheKey: Digest]?>(nil)
    }

    private func loadCache(fromDisk: Bool = false) -> [CacheKey: Digest] {
        if !fromDisk, let cache = loaded.cache.withLock({ $0 }) { return cache }
        var cache: [CacheKey: Digest] = [:]
        if let data = try? Data(contentsOf: cacheFile), let entries = try? JSONDecoder().decode([CacheEntry].self, from: data) {
            cache = Dictionary(entries.map { ($0.key, Digest(sha256: $0.sha256, pieces: $0.pieces)) }, uniquingKeysWith: { a, _ in a })
        }
        loaded.cache.withLock { $0 = cache }
        return cache
    }

    private func saveCache(_ cache: [CacheKey: Digest]) {
        loaded.cache.withLock { $0 = cache }
        let entries = cache.map { CacheEntry(key: $0.key, sha256: $0.value.sha256, pieces: $0.value.pieces) }.sorted { $0.key.path < $1.key.path }
        if let data = try? JSONEncoder().encode(entries) { try? data.write(to: cacheFile, options: .atomic) }
    }

    /// `pieces` (BLAKE2b-256 per piece) is absent in caches written before model transfer; such entries are hashed again once.
    private struct CacheEntry: Codable { var key: CacheKey; var sha256: String; var pieces: [String]? }
}

/// The complete model files a node holds, by SHA-256, as last scanned: what it serves to peers that fetch them.
final class HeldModelFiles: Sendable {
    private let files = Mutex<[String: ModelFile]>([:])

    func replace(with list: [ModelFile]) {
        let bySHA = Dictionary(list.map { ($0.sha256, $0) }, uniquingKeysWith: { first, _ in first })
        files.withLock { $0 = bySHA }
    }

    func file(sha256: String) -> ModelFile? { files.withLock { $0[sha256] } }
}
