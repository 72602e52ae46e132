import Foundation
import Mesh
import Testing
@testable import Gossip

@Suite("Record validation (real Ed25519)")
struct RecordValidatorTests {
    let alice = try! NodeIdentity.ephemeral(epoch: 5)
    let mallory = try! NodeIdentity.ephemeral(epoch: 5)
    let validator = RecordValidator(verifier: Ed25519Verifier())

    func signed(_ record: NodeRecord, by identity: NodeIdentity? = nil) throws -> SignedRecord {
        try SignedRecord.sign(record, with: Ed25519Signer(identity: identity ?? alice))
    }

    func reason(_ verdict: RecordValidator.Verdict) -> RejectReason? {
        if case .reject(let r) = verdict { r } else { nil }
    }

    @Test func aValidRecordIsAcceptedAndItsBytesAreKeptAsSigned() throws {
        let record = NodeRecord(node: alice.id, epoch: 5, version: 3, addresses: ["10.0.0.1"], apiPort: 52415)
        let s = try signed(record)
        guard case .accept(let decoded) = validator.check(s, held: Stamp(epoch: 5, version: 2)) else {
            Issue.record("valid record rejected"); return
        }
        #expect(decoded == record)
        // Round trip through the wire keeps the exact payload bytes.
        let wire = try JSONDecoder().decode(SignedRecord.self, from: JSONEncoder().encode(s))
        #expect(wire.payload == s.payload)
        #expect(Ed25519Verifier().isValid(signature: wire.signature, of: wire.payload, by: alice.id))
    }

    @Test func alteredBytesFailTheSignature() throws {
        let s = try signed(NodeRecord(node: alice.id, epoch: 5, apiPort: 1))
        var bytes = s.payload
        let i = bytes.firstIndex(of: UInt8(ascii: "1"))!
        bytes[i] = UInt8(ascii: "2")
        let altered = SignedRecord(payload: bytes, signature: s.signature, signer: s.signer, stamp: s.stamp)
        #expect(reason(validator.check(altered, held: nil)) == .badSignature)
    }

    @Test func aForgedSignatureIsRejected() throws {
        // Mallory signs a record about Alice but claims Alice signed it.
        let theirs = try signed(NodeRecord(node: alice.id, epoch: 5), by: mallory)
        let forged = SignedRecord(payload: theirs.payload, signature: theirs.signature, signer: alice.id, stamp: theirs.stamp)
        #expect(reason(validator.check(forged, held: nil)) == .badSignature)
    }

    @Test func aRecordSignedBySomeoneElseIsRejected() throws {
        let s = try SignedRecord.sign(NodeRecord(node: alice.id, epoch: 5), with: Ed25519Signer(identity: mallory))
        #expect(reason(validator.check(s, held: nil)) == .wrongSigner)
    }

    @Test func olderVersionsAreReplaysAndOlderEpochsRollbacks() throws {
        let s = try signed(NodeRecord(node: alice.id, epoch: 5, version: 3))
        #expect(reason(validator.check(s, held: Stamp(epoch: 5, version: 4))) == .replayed)
        #expect(reason(validator.check(s, held: Stamp(epoch: 6, version: 1))) == .epochRollback)
        guard case .duplicate = validator.check(s, held: s.stamp) else { Issue.record("same stamp is a duplicate"); return }
    }

    @Test func theOuterStampMustMatchTheSignedOne() throws {
        let s = try signed(NodeRecord(node: alice.id, epoch: 5, version: 3))
        let lying = SignedRecord(payload: s.payload, signature: s.signature, signer: s.signer, stamp: Stamp(epoch: 5, version: 9))
        #expect(reason(validator.check(lying, held: Stamp(epoch: 5, version: 4))) == .stampMismatch)
    }

    @Test(arguments: ["not json", "{}", "{\"format\":1}", ""])
    func validlySignedGarbageIsMalformed(_ text: String) throws {
        let bytes = Array(text.utf8)
        let s = SignedRecord(payload: bytes, signature: try alice.sign(bytes), signer: alice.id, stamp: Stamp(epoch: 5, version: 1))
        #expect(reason(validator.check(s, held: nil)) == .malformed)
    }

    @Test func anotherFormatVersionIsUnknownFormat() throws {
        var record = NodeRecord(node: alice.id, epoch: 5)
        record.format = 2
        #expect(reason(validator.check(try signed(record), held: nil)) == .unknownFormat)
    }

    static let absurdities: [(String, @Sendable (inout NodeRecord) -> Void)] = [
        ("health above 1", { $0.health.score = 1.5 }),
        ("negative throughput", { $0.resources.throughputBytesPerSecond = -1 }),
        ("available above total", { $0.resources = .init(memoryTotalBytes: 1, memoryAvailableBytes: 2) }),
        ("negative cores", { $0.resources.cores = -1 }),
        ("version zero", { $0.version = 0 }),
        ("negative rank", { $0.runners = [.init(instance: "i", rank: -1, state: "Idle", planHash: "h")] }),
        ("huge address list", { $0.addresses = Array(repeating: "x", count: 5000) }),
        ("bad link key", { $0.links = ["nope": .init(rttMicroseconds: 1, throughputBytesPerSecond: 1)] }),
        ("max below min", { $0.intents = [.init(id: "a", model: "m", policy: "p", minNodes: 3, maxNodes: 2, createdAt: 1, proposer: $0.node)] }),
    ]

    @Test(arguments: 0..<absurdities.count)
    func absurdFieldsAreRejected(_ index: Int) throws {
        var record = NodeRecord(node: alice.id, epoch: 5, version: 2)
        Self.absurdities[index].1(&record)
        let s = try signed(record)
        #expect(reason(validator.check(s, held: nil)) == .absurdField, "\(Self.absurdities[index].0)")
    }

    @Test func oversizedPayloadsAreRejectedBeforeVerifying() throws {
        var limits = RecordLimits()
        limits.maxPayloadBytes = 64
        let small = RecordValidator(verifier: Ed25519Verifier(), limits: limits)
        let s = try signed(NodeRecord(node: alice.id, epoch: 5))
        #expect(reason(small.check(s, held: nil)) == .oversized)
    }
}
