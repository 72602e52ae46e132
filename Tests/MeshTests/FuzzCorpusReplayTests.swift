import Foundation
import NIOCore
import Testing
@testable import Mesh

/// The inputs the fuzzers kept (Fuzz/corpus, see Fuzz/README.md), replayed through the same entry points:
/// every one decodes or is refused with a typed error, and every handshake ends. The fuzzers themselves
/// run with scripts/fuzz.sh; this keeps what they found from regressing in every test run.
@Suite struct FuzzCorpusReplayTests {
    @Test func everyFrameCorpusInputDecodesTheSameWholeAndInPiecesOrIsRefused() throws {
        let inputs = try FuzzCorpus.inputs("frame")
        for (name, bytes) in inputs {
            guard bytes.count >= 2 else { continue }
            let cap = bytes[0] & 0x80 != 0 ? Frame.defaultMaximumPayload : Int(bytes[0]) * 8
            let decoder = FrameDecoder(maximumPayload: cap)
            let stream = Array(bytes.dropFirst(2))
            let whole = decodeAll(ByteBuffer(bytes: stream), decoder)
            var pieces = ByteBuffer()
            var byPiece: [Frame] = []
            var pieceError: FrameError?
            for chunk in stream.pieces(of: 1 + Int(bytes[1] % 64)) where pieceError == nil {
                pieces.writeBytes(chunk)
                let result = decodeAll(pieces, decoder)
                byPiece += result.frames
                pieceError = result.error
                pieces.moveReaderIndex(forwardBy: result.consumed)
                pieces.discardReadBytes()
            }
            #expect(whole.frames == byPiece, "\(name)")
            #expect(whole.error == pieceError, "\(name)")
            #expect(whole.frames.allSatisfy { $0.payload.readableBytes <= cap }, "\(name)")
        }
        #expect(inputs.count >= 5)
    }

    @Test func everyHandshakeCorpusInputEndsTheHandshake() throws {
        let inputs = try FuzzCorpus.inputs("handshake")
        var established = 0
        for (name, bytes) in inputs {
            guard let config = bytes.first else { continue }
            var ours = Handshake(identity: FuzzKeys.a, role: config & 1 == 0 ? .initiator : .responder,
                                 networkKey: config & 2 == 0 ? nil : FuzzKeys.networkKey, listenPort: 7000,
                                 expectedPeer: [nil, FuzzKeys.b.id, NodeID(publicKey: [UInt8](repeating: 7, count: 32)), nil][Int(config >> 2) & 3],
                                 nonce: [UInt8](repeating: 0xa1, count: Hello.nonceBytes), nowMillis: 1_000)
            _ = ours.start()
            var stream = ByteBuffer(bytes: bytes.dropFirst())
            var session: PeerSession?
            while let frame = try? FrameDecoder().decodeFrame(from: &stream) {
                if var cipher = session?.cipher {
                    _ = try? cipher.open(frame)
                    session?.cipher = cipher
                    continue
                }
                for case .established(let s) in ours.receive(frame) {
                    #expect(s.peer == FuzzKeys.b.id, "\(name)")
                    session = s
                }
            }
            if session != nil { established += 1 }
            _ = ours.timeoutFired()
            #expect(ours.isFinished, "\(name)")
        }
        // The seeds alone hold a real handshake for several configurations.
        #expect(established >= 4)
    }

    private func decodeAll(_ buffer: ByteBuffer, _ decoder: FrameDecoder) -> (frames: [Frame], error: FrameError?, consumed: Int) {
        var buffer = buffer
        var frames: [Frame] = []
        var consumed = 0
        while true {
            do {
                guard let frame = try decoder.decodeFrame(from: &buffer) else { return (frames, nil, consumed) }
                consumed += frame.wireSize
                frames.append(frame)
            } catch {
                return (frames, error, consumed)
            }
        }
    }
}

/// The fixed keys of Fuzz/Sources/HandshakeFuzzer (made for fuzzing, nothing else), so corpus proofs verify.
enum FuzzKeys {
    static let a = identity("b7011b1f3d3cb43eeadbbbbdd8e0563efa6402f97c2d280502490d19fc319a5e3e3a2837c59ce066ac15c68a4d8fb8a824c0ccc5aa55fe06dc2c703c487c8cbe")
    static let b = identity("5f3798a0258de1bc590228467ec1e2ba15c679de313121bb36b623f8a63eb6da006a7790a689235be59905f086653d4bdb30ad8e3d54820fa5e3b102ea3af6a0")
    static let networkKey = NetworkKey(material: Array("exo-peer fuzz network key".utf8))

    static func identity(_ hex: String) -> NodeIdentity {
        let bytes = Array(hex.utf8).pieces(of: 2).map { UInt8(String(decoding: $0, as: UTF8.self), radix: 16)! }
        return try! NodeIdentity(secretKey: bytes, epoch: 1)
    }
}

enum FuzzCorpus {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/corpus")

    /// Every file of Fuzz/corpus/TARGET, by name.
    static func inputs(_ target: String) throws -> [(String, [UInt8])] {
        let dir = root.appendingPathComponent(target)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        return try names.map { ($0, [UInt8](try Data(contentsOf: dir.appendingPathComponent($0)))) }
    }
}

extension Array {
    func pieces(of size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min(count, $0 + size)] }
    }
}
