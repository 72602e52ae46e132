/// A node's identity on the mesh: its Ed25519 public key, written as lowercase hex.
/// Ordering is by that hex string, so every node sorts ids the same way.
public struct NodeID: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public let hex: String

    /// Accepts exactly 64 hex digits (a 32-byte key); anything else is nil.
    public init?(hex: String) {
        let lower = hex.lowercased()
        guard lower.utf8.count == 64, lower.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) else { return nil }
        self.hex = lower
    }

    public init(publicKey: [UInt8]) {
        self.hex = publicKey.map { byte in
            let digits = Array("0123456789abcdef".utf8)
            return String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 0xf)]], as: UTF8.self)
        }.joined()
    }

    /// The 32 key bytes.
    public var publicKey: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        var high: UInt8? = nil
        for c in hex.utf8 {
            let v: UInt8 = c <= 57 ? c - 48 : c - 87
            if let h = high { bytes.append(h << 4 | v); high = nil } else { high = v }
        }
        return bytes
    }

    /// The first 8 characters, for logs and tables.
    public var short: String { String(hex.prefix(8)) }
    public var description: String { short }

    public static func < (a: NodeID, b: NodeID) -> Bool { a.hex < b.hex }

    public init(from decoder: any Decoder) throws {
        let raw = try decoder.singleValueContainer().decode(String.self)
        guard let id = NodeID(hex: raw) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "node id must be 64 hex digits"))
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(hex)
    }
}
