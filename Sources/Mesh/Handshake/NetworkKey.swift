import Foundation

/// The optional shared secret of a private mesh (`--network-key FILE` / `EXO_NETWORK_KEY`).
/// Only keys derived from it are kept; each use gets its own domain-separated key.
public struct NetworkKey: Sendable, Equatable {
    /// Keys the handshake MAC that proves a peer holds the network key.
    let macKey: [UInt8]
    /// Mixed into the per-session encryption keys.
    let sessionSeed: [UInt8]

    public init(material: [UInt8]) {
        macKey = Sodium.hash(Array("exo-peer/network-key/mac/v1".utf8) + material)
        sessionSeed = Sodium.hash(Array("exo-peer/network-key/session/v1".utf8) + material)
    }

    /// Reads a key file. Any content of at least 16 bytes works (e.g. `head -c 32 /dev/urandom > key`).
    public static func load(path: String) throws(NetworkKeyError) -> NetworkKey {
        guard let data = FileManager.default.contents(atPath: path) else { throw .unreadable(path: path) }
        guard data.count >= 16 else { throw .tooShort(path: path, bytes: data.count) }
        return NetworkKey(material: [UInt8](data))
    }
}

public enum NetworkKeyError: Error, Equatable, CustomStringConvertible {
    case unreadable(path: String)
    case tooShort(path: String, bytes: Int)

    public var description: String {
        switch self {
        case .unreadable(let path): "cannot read the network key file \(path); check the path and its permissions"
        case .tooShort(let path, let bytes):
            "network key file \(path) holds \(bytes) bytes; use at least 16 random bytes (head -c 32 /dev/urandom > \(path))"
        }
    }
}
