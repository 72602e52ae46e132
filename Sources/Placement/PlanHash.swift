/// A plan's name: FNV-1a 64 over a canonical encoding of the model id and the ranks in order (node id and
/// layer bounds). Every node computes the same value for the same plan, so runners' gossiped states can be
/// matched to the plan they belong to. Written as 16 lowercase hex digits: JSON numbers lose bits past 2^53.
public struct PlanHash: RawRepresentable, Sendable, Hashable, Codable, CustomStringConvertible {
    public var rawValue: UInt64

    public init(rawValue: UInt64) {
        self.rawValue = rawValue
    }

    public init(of plan: Plan) {
        var hasher = FNV1a64()
        hasher.combine(byte: Self.encodingVersion)
        hasher.combine(string: plan.model)
        hasher.combine(UInt64(plan.ranks.count))
        for rank in plan.ranks {
            hasher.combine(string: rank.node)
            hasher.combine(UInt64(bitPattern: Int64(rank.layerStart)))
            hasher.combine(UInt64(bitPattern: Int64(rank.layerEnd)))
        }
        rawValue = hasher.value
    }

    /// Parses the 16-hex-digit form.
    public init?(hex: String) {
        let digits = hex.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) || (65...70).contains($0) }
        guard hex.utf8.count == 16, digits, let value = UInt64(hex, radix: 16) else { return nil }
        rawValue = value
    }

    public var description: String {
        let digits = String(rawValue, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let hash = PlanHash(hex: text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "plan hash \(text) is not 16 hex digits")
        }
        self = hash
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    /// Bumped if the encoding ever changes, so old and new hashes never collide by accident.
    static let encodingVersion: UInt8 = 1
}

/// FNV-1a, 64-bit: tiny, fast, and the same on every platform (unlike `Hasher`, which is seeded per process).
struct FNV1a64: Sendable {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    mutating func combine(byte: UInt8) {
        value = (value ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
    }

    mutating func combine<Bytes: Sequence>(bytes: Bytes) where Bytes.Element == UInt8 {
        for byte in bytes { combine(byte: byte) }
    }

    /// Little-endian, eight bytes.
    mutating func combine(_ word: UInt64) {
        for shift in stride(from: 0, to: 64, by: 8) { combine(byte: UInt8(truncatingIfNeeded: word >> UInt64(shift))) }
    }

    /// Length first, so ("ab", "c") and ("a", "bc") differ.
    mutating func combine(string: String) {
        combine(UInt64(string.utf8.count))
        combine(bytes: string.utf8)
    }
}
