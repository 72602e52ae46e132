import Mesh

/// A record's position in its node's history: `epoch` grows on every restart, `version` on every change.
/// Ordered lexicographically, so a restarted node's first record beats everything it signed before.
public struct Stamp: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public var epoch: UInt64
    public var version: UInt64

    public init(epoch: UInt64, version: UInt64) {
        self.epoch = epoch
        self.version = version
    }

    public static func < (a: Stamp, b: Stamp) -> Bool {
        (a.epoch, a.version) < (b.epoch, b.version)
    }

    public var description: String { "\(epoch).\(version)" }
}

/// What a node holds: node id (hex) -> stamp of the latest record it has of that node.
public typealias VersionVector = [NodeID: Stamp]

extension Dictionary where Key == NodeID, Value == Stamp {
    /// True when this vector holds `stamp` (or newer) for `node`.
    public func covers(_ node: NodeID, _ stamp: Stamp) -> Bool {
        guard let held = self[node] else { return false }
        return held >= stamp
    }

    /// An order-independent 64-bit summary, equal on two nodes exactly when (barring collisions) their vectors are.
    /// Idle anti-entropy sends this instead of the whole vector.
    public var summary: UInt64 {
        var sum: UInt64 = 0
        for (node, stamp) in self { sum &+= vectorEntryHash(node, stamp) }
        return sum
    }
}

/// One vector entry's share of the summary. FNV-1a alone is not enough for a sum: entries that differ only in
/// a version's low bits hash to values a small multiple of the FNV prime apart, so two such changes could
/// cancel in the sum (seen in simulation: two nodes held different stamps of two members with equal
/// summaries, and anti-entropy never reconciled them). The SplitMix64 finaliser spreads every bit.
func vectorEntryHash(_ node: NodeID, _ stamp: Stamp) -> UInt64 {
    var h = FNV1a()
    h.add(node.hex.utf8)
    h.add(stamp.epoch)
    h.add(stamp.version)
    var z = h.value
    z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
    z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
    return z ^ (z >> 31)
}

/// FNV-1a, 64 bit: stable across processes, unlike `Hasher`.
struct FNV1a {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    mutating func add<S: Sequence>(_ bytes: S) where S.Element == UInt8 {
        for b in bytes {
            value ^= UInt64(b)
            value &*= 0x0000_0100_0000_01b3
        }
    }

    mutating func add(_ word: UInt64) {
        withUnsafeBytes(of: word.littleEndian) { add($0) }
    }
}
