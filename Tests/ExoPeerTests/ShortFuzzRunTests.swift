import Foundation
import Gossip
import Inference
import NIOCore
import Testing
@testable import Mesh
@testable import exo_peer

/// Byte mutations of fuzz seeds, libFuzzer style but small: flips, random bytes, insertions, deletions,
/// duplicated runs, truncation and splices of two seeds. Seeded, so a failure names its reproduction.
struct ByteMutator {
    private var random: SeededRandom

    init(seed: UInt64) { random = SeededRandom(seed: seed) }

    private mutating func next() -> UInt64 { random.next() }

    mutating func below(_ n: Int) -> Int { n <= 1 ? 0 : Int(next() % UInt64(n)) }

    mutating func mutate(_ input: [UInt8], other: [UInt8]) -> [UInt8] {
        var bytes = input
        for _ in 0...below(4) {
            let at = below(bytes.count + 1)
            switch below(7) {
            case 0 where !bytes.isEmpty: bytes[min(at, bytes.count - 1)] ^= UInt8(1 << below(8))
            case 1 where !bytes.isEmpty: bytes[min(at, bytes.count - 1)] = [0, 0xff, 0x7f, 0x80, UInt8(truncatingIfNeeded: next())][below(5)]
            case 2: bytes.insert(UInt8(truncatingIfNeeded: next()), at: at)
            case 3 where !bytes.isEmpty: bytes.removeSubrange(min(at, bytes.count - 1)..<min(bytes.count, at + 1 + below(16)))
            case 4 where !bytes.isEmpty:
                let start = min(at, bytes.count - 1)
                bytes.insert(contentsOf: bytes[start..<min(bytes.count, start + 1 + below(32))], at: below(bytes.count + 1))
            case 5: bytes = Array(bytes.prefix(at))
            case 6 where !other.isEmpty: bytes = Array(bytes.prefix(at)) + other.suffix(from: below(other.count))
            default: break
            }
        }
        return bytes
    }
}

/// A short fuzz run in every test run (issue 8): the committed corpora's seeds, mutated, through the same
/// entry points the libFuzzer harnesses drive (`make fuzz` runs those for minutes, instrumented). Each
/// input must be decoded or refused with a typed error; the run's seed is printed and `EXO_FUZZ_SEED`
/// repeats it.
@Suite(.serialized) struct ShortFuzzRunTests {
    static let seed: UInt64 = ProcessInfo.processInfo.environment["EXO_FUZZ_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 0...UInt64(UInt32.max))
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/corpus")

    static func seeds(_ target: String) throws -> [[UInt8]] {
        let dir = corpus.appendingPathComponent(target)
        return try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted().map { [UInt8](try Data(contentsOf: dir.appendingPathComponent($0))) }
    }

    /// Calls `body` on `count` mutants of `seeds`; `body` returns a failure message or nil.
    static func run(_ target: String, seeds: [[UInt8]], count: Int, _ body: ([UInt8]) -> String?) {
        var mutator = ByteMutator(seed: seed &+ target.utf8.reduce(UInt64(0)) { $0 &* 31 &+ UInt64($1) })
        var failures = 0
        for i in 0..<count {
            let input = mutator.mutate(seeds[mutator.below(seeds.count)], other: seeds[mutator.below(seeds.count)])
            if let failure = body(input) {
                failures += 1
                if failures <= 3 { Issue.record("\(target) mutant \(i) of seed EXO_FUZZ_SEED=\(seed): \(failure); input \(input.prefix(64).map { String(format: "%02x", $0) }.joined())") }
            }
        }
        print("short fuzz run \(target): \(count) mutants, EXO_FUZZ_SEED=\(seed), \(failures) failures")
    }

    @Test func frames() throws {
        let seeds = try Self.seeds("frame")
        try #require(!seeds.isEmpty)
        Self.run("frame", seeds: seeds, count: 100_000) { bytes in
            guard bytes.count >= 2 else { return nil }
            let cap = bytes[0] & 0x80 != 0 ? Frame.defaultMaximumPayload : Int(bytes[0]) * 8
            let decoder = FrameDecoder(maximumPayload: cap)
            var whole = ByteBuffer(bytes: bytes.dropFirst(2))
            var frames: [Frame] = []
            while true {
                do {
                    guard let frame = try decoder.decodeFrame(from: &whole) else { break }
                    guard frame.payload.readableBytes <= cap else { return "a frame above the cap decoded" }
                    frames.append(frame)
                } catch {
                    guard error is FrameError else { return "untyped error \(error)" }
                    break
                }
            }
            return nil
        }
    }

    @Test func handshakes() throws {
        let seeds = try Self.seeds("handshake")
        try #require(!seeds.isEmpty)
        let identity = try NodeIdentity.ephemeral()
        Self.run("handshake", seeds: seeds, count: 20_000) { bytes in
            guard let config = bytes.first else { return nil }
            var handshake = Handshake(identity: identity, role: config & 1 == 0 ? .initiator : .responder,
                                      networkKey: config & 2 == 0 ? nil : NetworkKey(material: Array("k".utf8)), listenPort: 7000,
                                      nonce: [UInt8](repeating: 0xa1, count: Hello.nonceBytes), nowMillis: 1_000)
            _ = handshake.start()
            var stream = ByteBuffer(bytes: bytes.dropFirst())
            while let frame = try? FrameDecoder().decodeFrame(from: &stream) { _ = handshake.receive(frame) }
            _ = handshake.timeoutFired()
            return handshake.isFinished ? nil : "the handshake did not end"
        }
    }

    @Test func gossipMessagesAndRecords() throws {
        let seeds = try Self.seeds("gossip")
        try #require(!seeds.isEmpty)
        let validator = RecordValidator(verifier: Ed25519Verifier())
        Self.run("gossip", seeds: seeds, count: 20_000) { bytes in
            guard bytes.count > 1, let message = try? GossipWire.decode(Array(bytes.dropFirst())) else { return nil }
            guard let again = try? GossipWire.encode(message), (try? GossipWire.decode(again)) == message else { return "a decoded message does not survive encode and decode" }
            if case .records(let records, _) = message.body {
                for record in records {
                    if case .accept(let accepted) = validator.check(record, held: nil), accepted.node != record.signer { return "accepted a record not its signer's" }
                }
            }
            return nil
        }
    }

    @Test func ggufHeaders() throws {
        let seeds = try Self.seeds("gguf")
        try #require(!seeds.isEmpty)
        Self.run("gguf", seeds: seeds, count: 10_000) { bytes in
            bytes.withUnsafeBytes { raw -> String? in
                do {
                    let file = try GGUFFile(bytes: raw, owner: nil)
                    for tensor in file.tensors where tensor.offset + tensor.byteCount > bytes.count - file.dataStart { return "tensor \(tensor.name) out of bounds" }
                    if let tokenizer = try? Tokenizer(gguf: file) { _ = tokenizer.decode(tokenizer.encode("Hi <|im_start|>ü 1\n", parseSpecial: true)) }
                    _ = try? ModelShape(gguf: file)
                    return nil
                } catch {
                    return nil  // typed (GGUFError) by the signature
                }
            }
        }
    }

    @Test func transferAndPipelineMessages() throws {
        let transfer = try [
            TransferMessage.manifestRequest(request: 1, sha256: "ab").encoded(),
            TransferMessage.chunk(request: 2, sha256: "ab", chunk: 3).encoded(payload: [1, 2, 3, 4]),
            TransferMessage.refused(request: 3, sha256: "ab", chunk: nil, reason: "busy").encoded(),
            TransferMessage.manifest(request: 4, manifest: ModelManifest(sha256: "ab", sizeBytes: 10, chunkBytes: 4096, chunks: ["cd"])).encoded(),
        ]
        Self.run("transfer", seeds: transfer, count: 50_000) { bytes in
            guard let decoded = try? TransferMessage.decode(bytes) else { return nil }
            guard let again = try? decoded.message.encoded(payload: Array(decoded.payload)),
                  let redecoded = try? TransferMessage.decode(again), redecoded.message == decoded.message
            else { return "a decoded transfer message does not survive encode and decode" }
            return nil
        }
        let step = PipelineStep(session: 7, plan: "00000000000000ab", rank: 1, route: ["a", "b"], driver: "a", start: 3,
                                tokens: [1, 2], sample: true, opening: SessionOpening(capacity: 9, sampling: .greedy))
        let pipeline = [try Envelope(PipelineMessage.step(step), floats: [1, 2, 3]).encoded()]
        Self.run("pipeline", seeds: pipeline, count: 50_000) { bytes in
            _ = try? Envelope<PipelineMessage>.decode(bytes)
            return nil
        }
    }
}
