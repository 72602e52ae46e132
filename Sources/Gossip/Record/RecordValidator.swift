import Foundation
import Mesh

/// Why a record was dropped. Each is counted; none changes the view.
public enum RejectReason: String, CaseIterable, Sendable, Codable {
    /// Larger than `RecordLimits.maxPayloadBytes`.
    case oversized
    /// The signature does not verify under the signer's key (forged or altered bytes).
    case badSignature
    /// Validly signed, but by a node other than the one the record is about.
    case wrongSigner
    /// The payload is not a NodeRecord.
    case malformed
    /// A format version this build does not read.
    case unknownFormat
    /// The stamp outside the payload disagrees with the signed one.
    case stampMismatch
    /// A field outside any sane range (negative sizes, health outside 0…1, huge lists).
    case absurdField
    /// An older version of the same epoch than one already held (or buried).
    case replayed
    /// An older epoch than one already held (or buried): a restart's old records never win.
    case epochRollback
}

/// Bounds beyond which a record is absurd rather than merely large.
public struct RecordLimits: Sendable {
    public var maxPayloadBytes = 1 << 20
    public var maxListEntries = 4096
    public var maxVectorEntries = 100_000
    public var maxStringBytes = 1024
    public init() {}
}

/// Verifies a signed record against what is already held: pure, no state of its own.
public struct RecordValidator: Sendable {
    public let verifier: any SignatureVerifier
    public let limits: RecordLimits
    private let decoder = JSONDecoder()

    public init(verifier: any SignatureVerifier, limits: RecordLimits = RecordLimits()) {
        self.verifier = verifier
        self.limits = limits
    }

    public enum Verdict: Sendable {
        /// Newer than anything held: apply it.
        case accept(NodeRecord)
        /// The very stamp already held: a harmless duplicate, not counted as an attack.
        case duplicate
        case reject(RejectReason)
    }

    /// `held` is the newest stamp known for the signer, live or buried.
    public func check(_ signed: SignedRecord, held: Stamp?) -> Verdict {
        if let held {
            if signed.stamp == held { return .duplicate }
            if signed.stamp.epoch < held.epoch { return .reject(.epochRollback) }
            if signed.stamp < held { return .reject(.replayed) }
        }
        guard signed.payload.count <= limits.maxPayloadBytes else { return .reject(.oversized) }
        guard verifier.isValid(signature: signed.signature, of: signed.payload, by: signed.signer) else {
            return .reject(.badSignature)
        }
        let record: NodeRecord
        do {
            record = try decoder.decode(NodeRecord.self, from: Data(signed.payload))
        } catch {
            return .reject(Self.formatOf(signed.payload, decoder) == nil ? .malformed : .unknownFormat)
        }
        guard record.format == NodeRecord.currentFormat else { return .reject(.unknownFormat) }
        guard record.node == signed.signer else { return .reject(.wrongSigner) }
        guard record.stamp == signed.stamp else { return .reject(.stampMismatch) }
        guard isSane(record) else { return .reject(.absurdField) }
        return .accept(record)
    }

    /// A payload that fails to decode but names another format is "unknown format", not "malformed".
    private static func formatOf(_ payload: [UInt8], _ decoder: JSONDecoder) -> Int? {
        struct Probe: Decodable { let format: Int }
        guard let probe = try? decoder.decode(Probe.self, from: Data(payload)), probe.format != NodeRecord.currentFormat else { return nil }
        return probe.format
    }

    private func isSane(_ r: NodeRecord) -> Bool {
        let lists = [r.addresses.count, r.links.count, r.models.count, r.runners.count, r.intents.count, r.health.recentErrors.count, r.transfers?.count ?? 0]
        guard lists.allSatisfy({ $0 <= limits.maxListEntries }), r.seen.count <= limits.maxVectorEntries else { return false }
        guard r.version >= 1, r.epoch >= 1, r.contentVersion <= r.version else { return false }
        guard r.health.score.isFinite, (0...1).contains(r.health.score) else { return false }
        guard r.resources.memoryAvailableBytes <= r.resources.memoryTotalBytes, r.resources.cores >= 0 else { return false }
        guard r.resources.throughputBytesPerSecond.isFinite, r.resources.throughputBytesPerSecond >= 0 else { return false }
        guard r.links.values.allSatisfy({ $0.throughputBytesPerSecond.isFinite && $0.throughputBytesPerSecond >= 0 }) else { return false }
        guard r.links.keys.allSatisfy({ NodeID(hex: $0) != nil }), r.seen.keys.allSatisfy({ NodeID(hex: $0) != nil }) else { return false }
        let strings = r.addresses + r.models.flatMap { [$0.id, $0.sha256, $0.chunkRoot ?? ""] } + r.runners.flatMap { [$0.instance, $0.state, $0.planHash] }
            + r.intents.flatMap { [$0.id, $0.model, $0.policy] } + r.health.recentErrors
            + (r.transfers ?? []).flatMap { [$0.model, $0.sha256] }
        guard strings.allSatisfy({ $0.utf8.count <= limits.maxStringBytes }) else { return false }
        guard r.models.allSatisfy({ ($0.chunkBytes ?? 1) >= 1 }),
              (r.transfers ?? []).allSatisfy({ $0.verifiedBytes <= $0.sizeBytes }) else { return false }
        return r.runners.allSatisfy { $0.rank >= 0 }
            && r.intents.allSatisfy { ($0.minNodes ?? 1) >= 1 && ($0.maxNodes ?? Int.max) >= ($0.minNodes ?? 1) }
    }
}
