import Mesh

/// One gossip message on the wire (JSON; the mesh frames it). The sender is the authenticated peer of
/// the connection, so it is not repeated here.
public struct GossipMessage: Codable, Equatable, Sendable {
    /// The sender's own current stamp: a receiver holding less pulls the sender's record.
    public var stamp: Stamp
    /// Failure-detector news piggybacked on every message (SWIM style).
    public var rumours: [Rumour]
    public var body: Body

    public init(stamp: Stamp, rumours: [Rumour] = [], body: Body) {
        self.stamp = stamp
        self.rumours = rumours
        self.body = body
    }

    public enum Body: Codable, Equatable, Sendable {
        /// Direct probe; answered by `ack` with the same sequence number.
        case ping(seq: UInt64)
        case ack(seq: UInt64)
        /// SWIM indirect probe: "ping `target` for me". Sent to a few members when a direct probe goes
        /// unanswered, so one lost packet on one path does not make a live node suspect.
        case pingReq(seq: UInt64, target: NodeID)
        /// `target` answered a `pingReq` with this sequence number.
        case indirectAck(seq: UInt64, target: NodeID)
        /// Anti-entropy opener: the sender's vector summary. A receiver whose summary differs answers `digest`
        /// (small vectors) or `buckets` (large ones).
        case syn(summary: UInt64, count: Int)
        /// The sender's vector summarised per bucket of node ids (`GossipInstance.bucketCount` of them), so two
        /// large vectors that differ in a few entries exchange only those buckets' entries, not the whole vector.
        case buckets([UInt64])
        /// "Send me every record newer than these stamps." With `reply`, the receiver also asks back for what it lacks.
        case digest(WireVector, reply: Bool)
        /// A full digest (`reply` semantics) of only the listed buckets: an entry absent from a listed bucket is a
        /// record the sender lacks; buckets not listed are not discussed.
        case bucketDigest(WireVector, buckets: [Int])
        /// Signed records, forwarded on first receipt while `hops` > 0 (eager push).
        case records([SignedRecord], hops: Int)
    }
}

/// A failure-detector claim about a node's record: the subject refutes it by signing a newer version.
public struct Rumour: Codable, Hashable, Sendable {
    public enum Kind: String, Codable, Sendable {
        case suspect
        case dead
    }

    public var kind: Kind
    public var subject: NodeID
    public var stamp: Stamp

    public init(kind: Kind, subject: NodeID, stamp: Stamp) {
        self.kind = kind
        self.subject = subject
        self.stamp = stamp
    }
}

/// A version vector as a JSON object keyed by node id hex.
public struct WireVector: Codable, Equatable, Sendable {
    public var entries: [NodeID: Stamp]

    public init(_ entries: [NodeID: Stamp]) { self.entries = entries }

    public init(from decoder: any Decoder) throws {
        let raw = try decoder.singleValueContainer().decode([String: Stamp].self)
        var entries: [NodeID: Stamp] = [:]
        entries.reserveCapacity(raw.count)
        for (key, stamp) in raw {
            guard let id = NodeID(hex: key) else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "vector key is not a node id"))
            }
            entries[id] = stamp
        }
        self.entries = entries
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(Dictionary(uniqueKeysWithValues: entries.map { ($0.key.hex, $0.value) }))
    }
}
