import Foundation
import Mesh

/// A record as it travels: the exact signed payload bytes, the signature, and who signed.
/// The stamp is repeated outside the payload so duplicates and stale copies are dropped
/// without verifying or decoding; it is checked against the payload before anything is applied.
/// Stored and forwarded byte for byte: never re-encoded.
public struct SignedRecord: Codable, Equatable, Sendable {
    public let payload: [UInt8]
    public let signature: [UInt8]
    public let signer: NodeID
    public let stamp: Stamp

    public init(payload: [UInt8], signature: [UInt8], signer: NodeID, stamp: Stamp) {
        self.payload = payload
        self.signature = signature
        self.signer = signer
        self.stamp = stamp
    }

    /// Encodes `record` as JSON with sorted keys and signs those bytes.
    public static func sign(_ record: NodeRecord, with signer: any RecordSigner) throws(GossipError) -> SignedRecord {
        let bytes: [UInt8]
        do { bytes = Array(try Self.encoder.encode(record)) } catch { throw .encodingFailed("\(error)") }
        return SignedRecord(payload: bytes, signature: try signer.sign(bytes), signer: signer.nodeID, stamp: record.stamp)
    }

    private static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    enum CodingKeys: String, CodingKey { case payload, signature, signer, stamp }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        payload = Array(try c.decode(Data.self, forKey: .payload))
        signature = Array(try c.decode(Data.self, forKey: .signature))
        signer = try c.decode(NodeID.self, forKey: .signer)
        stamp = try c.decode(Stamp.self, forKey: .stamp)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(Data(payload), forKey: .payload)
        try c.encode(Data(signature), forKey: .signature)
        try c.encode(signer, forKey: .signer)
        try c.encode(stamp, forKey: .stamp)
    }
}
