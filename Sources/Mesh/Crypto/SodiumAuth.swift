import CSodium
import Foundation

/// Message authentication and hashing for the handshake, next to the signing and sealing in `Sodium`.
extension Sodium {
    public static let authenticatorBytes = Int(crypto_auth_bytes())
    public static let authenticationKeyBytes = Int(crypto_auth_keybytes())

    /// HMAC-SHA-512-256 of `message` under a 32-byte `key`.
    public static func authenticate<Message: ContiguousBytes>(_ message: Message, key: [UInt8]) throws(SodiumError) -> [UInt8] {
        try ensureInitialized()
        guard key.count == authenticationKeyBytes else { throw .invalidKeyLength(expected: authenticationKeyBytes, got: key.count) }
        var tag = [UInt8](repeating: 0, count: authenticatorBytes)
        _ = message.withUnsafeBytes { m in
            crypto_auth(&tag, m.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(m.count), key)
        }
        return tag
    }

    /// Whether `tag` authenticates `message` under `key`, compared in constant time. Never throws on peer input.
    public static func verifyAuthentication<Message: ContiguousBytes>(_ tag: [UInt8], of message: Message, key: [UInt8]) -> Bool {
        guard (try? ensureInitialized()) != nil, tag.count == authenticatorBytes, key.count == authenticationKeyBytes else { return false }
        return message.withUnsafeBytes { m in
            crypto_auth_verify(tag, m.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(m.count), key) == 0
        }
    }

    /// BLAKE2b-256 of `message` (a transcript digest).
    public static func hash<Message: ContiguousBytes>(_ message: Message) -> [UInt8] {
        deriveKey(from: message)
    }
}
