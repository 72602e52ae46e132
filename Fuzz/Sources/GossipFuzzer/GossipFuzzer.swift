import Foundation
import FuzzSupport
import Gossip
import Mesh

/// Input: a byte choosing what the rest is, then JSON. Even: a gossip message off the wire, decoded and
/// each record it carries validated. Odd: a record payload, validated with a verifier that accepts any
/// signature, so the input reaches the record decoder and the sanity checks a forged signature never would.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGossip(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var input = FuzzCursor(fuzzInput(data, size))
    let mode = input.byte()
    let bytes = input.rest()
    if mode & 1 == 0 {
        guard let message = try? GossipWire.decode(bytes) else { return 0 }
        // What was read is what gets forwarded: encoding it again must give the same message.
        guard let again = try? GossipWire.encode(message) else { fuzzCheck(false, "a decoded message does not encode"); return 0 }
        fuzzCheck((try? GossipWire.decode(again)) == message, "a message changed on its way through encode and decode")
        if case .records(let records, _) = message.body {
            for record in records {
                check(record, held: nil, verifier: Ed25519Verifier())
                check(record, held: record.stamp, verifier: AcceptingVerifier())
                check(record, held: Stamp(epoch: record.stamp.epoch, version: record.stamp.version / 2), verifier: AcceptingVerifier())
            }
        }
    } else {
        let record = SignedRecord(payload: bytes, signature: [], signer: signer, stamp: Stamp(epoch: 1, version: 1))
        check(record, held: nil, verifier: AcceptingVerifier())
    }
    return 0
}

private let signer = NodeID(publicKey: [UInt8](repeating: 0x5a, count: 32))

private func check(_ record: SignedRecord, held: Stamp?, verifier: any SignatureVerifier) {
    switch RecordValidator(verifier: verifier).check(record, held: held) {
    case .accept(let accepted):
        fuzzCheck(accepted.node == record.signer && accepted.stamp == record.stamp, "accepted a record that is not the signer's own")
        fuzzCheck(held.map { accepted.stamp > $0 } ?? true, "accepted a record no newer than the one held")
    case .duplicate:
        fuzzCheck(record.stamp == held, "a duplicate of a stamp not held")
    case .reject:
        break
    }
}

/// Stands in for a signature check the fuzzer could not pass otherwise.
private struct AcceptingVerifier: SignatureVerifier {
    func isValid(signature: [UInt8], of payload: [UInt8], by signer: NodeID) -> Bool { true }
}

@_cdecl("LLVMFuzzerInitialize")
public func initializeGossipFuzzer(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    writeSeedsIfRequested(gossipSeeds)
    return 0
}

/// A message of every body, one carrying a full record, and that record's payload alone.
private func gossipSeeds() -> [(name: String, bytes: [UInt8])] {
    let other = NodeID(publicKey: [UInt8](repeating: 0x11, count: 32))
    var record = NodeRecord(
        node: signer, epoch: 3, version: 9, addresses: ["10.0.0.2:7000", "[fe80::1]:7000"], meshPort: 7000, apiPort: 52415,
        resources: .init(memoryTotalBytes: 16 << 30, memoryAvailableBytes: 8 << 30, cores: 8, throughputBytesPerSecond: 2e10),
        links: [other.hex: .init(rttMicroseconds: 350, throughputBytesPerSecond: 1.1e8)],
        models: [.init(id: "SmolLM2-135M-Instruct.Q4_1", sizeBytes: 98_000_000, sha256: String(repeating: "ab", count: 32))],
        runners: [.init(instance: "i-1", rank: 0, state: "ready", planHash: "ff00")],
        health: .init(score: 0.9, processAlive: true, recentErrors: ["runner exited"]),
        intents: [.init(id: "i-1", model: "SmolLM2-135M-Instruct.Q4_1", policy: "pipeline", minNodes: 1, maxNodes: 3, createdAt: 1_700_000_000, proposer: signer)],
        seen: [other.hex: Stamp(epoch: 2, version: 4)])
    record.tombstones = ["i-0"]
    let signed = try! SignedRecord.sign(record, with: SimulatedSigner(nodeID: signer))
    let stamp = Stamp(epoch: 3, version: 9)
    let bodies: [(String, GossipMessage.Body)] = [
        ("ping", .ping(seq: 1)), ("ack", .ack(seq: 1)), ("syn", .syn(summary: 0xdead_beef, count: 2)),
        ("digest", .digest(WireVector([other: Stamp(epoch: 2, version: 4), signer: stamp]), reply: true)),
        ("records", .records([signed], hops: 2)),
    ]
    let rumours = [Rumour(kind: .suspect, subject: other, stamp: Stamp(epoch: 2, version: 4))]
    return bodies.map { name, body in
        ("message-\(name)", [0] + (try! GossipWire.encode(GossipMessage(stamp: stamp, rumours: name == "ping" ? rumours : [], body: body))))
    } + [("record-payload", [1] + signed.payload)]
}
