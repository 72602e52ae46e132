import Foundation
import Mesh

/// A GGUF file in the models directory, identified by name and sha256.
struct ModelFile: Sendable, Codable, Equatable {
    var id: String          // file name without `.gguf`
    var path: String
    var sizeBytes: UInt64
    var sha256: String
}

/// The models on this node's disk. Hashing a model takes a moment, so digests are cached by
/// (path, size, modification time) in `<home>/model-digests.json`.
struct ModelCatalog: Sendable {
    let directory: URL
    let cacheFile: URL

    private struct CacheKey: Codable, Hashable { var path: String; var size: UInt64; var modified: Double }

    func scan() -> [ModelFile] {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: directory.path) else { return [] }
        var cache = loadCache()
        var changed = false
        var models: [ModelFile] = []
        for name in names.sorted() where name.hasSuffix(".gguf") {
            let path = directory.appendingPathComponent(name).resolvingSymlinksInPath().path
            guard let attributes = try? fm.attributesOfItem(atPath: path),
                  let size = (attributes[.size] as? NSNumber)?.uint64Value,
                  let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 else { continue }
            let key = CacheKey(path: path, size: size, modified: modified)
            let digest: String
            if let cached = cache[key] {
                digest = cached
            } else if let computed = try? Sodium.sha256(fileAt: path) {
                digest = computed
                cache[key] = computed
                changed = true
            } else {
                continue
            }
            models.append(ModelFile(id: String(name.dropLast(5)), path: path, sizeBytes: size, sha256: digest))
        }
        if changed { saveCache(cache) }
        return models
    }

    /// Finds a model by id (file name with or without `.gguf`) or by a path to a file.
    func resolve(_ nameOrPath: String) -> ModelFile? {
        let id = nameOrPath.hasSuffix(".gguf") ? String(nameOrPath.dropLast(5)) : nameOrPath
        return scan().first { $0.id == id || $0.path == nameOrPath }
    }

    private func loadCache() -> [CacheKey: String] {
        guard let data = try? Data(contentsOf: cacheFile),
              let entries = try? JSONDecoder().decode([CacheEntry].self, from: data) else { return [:] }
        return Dictionary(entries.map { ($0.key, $0.sha256) }, uniquingKeysWith: { a, _ in a })
    }

    private func saveCache(_ cache: [CacheKey: String]) {
        let entries = cache.map { CacheEntry(key: $0.key, sha256: $0.value) }.sorted { $0.key.path < $1.key.path }
        if let data = try? JSONEncoder().encode(entries) { try? data.write(to: cacheFile, options: .atomic) }
    }

    private struct CacheEntry: Codable { var key: CacheKey; var sha256: String }
}
