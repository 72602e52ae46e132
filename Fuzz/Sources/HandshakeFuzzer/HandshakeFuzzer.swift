import FuzzSupport
import Mesh
import NIOCore

/// We are node A; the input plays the peer. Its first byte picks our role, whether the mesh has a network
/// key and whom we expect to answer; the rest is the byte stream the peer sends: frames, fed to the
/// handshake until it finishes, then (with a network key) opened by the session cipher.
///
/// Our nonce and clock are fixed, so the transcript depends on the input alone: the seeds hold B's real hello
/// and proof for each configuration, and mutating them walks every refusal path next to the success one.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHandshake(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var input = FuzzCursor(fuzzInput(data, size))
    let config = Configuration(input.byte())
    var stream = ByteBuffer(bytes: input.rest())
    var ours = config.handshake(for: Keys.a, role: config.role, nonce: Keys.nonceA)
    _ = ours.start()

    let decoder = FrameDecoder()
    var session: PeerSession?
    var failed = false
    while let frame = try? decoder.decodeFrame(from: &stream) {
        if var cipher = session?.cipher {
            _ = try? cipher.open(frame)
            session?.cipher = cipher
            continue
        }
        if failed || session != nil {
            fuzzCheck(ours.receive(frame).isEmpty, "a finished handshake acted on another frame")
            continue
        }
        for action in ours.receive(frame) {
            switch action {
            case .send(let reply):
                fuzzCheck(reply.kind == .proof, "the handshake answered with a \(reply.kind) frame")
            case .established(let established):
                // Nobody but B holds a key the input could have signed with.
                fuzzCheck(established.peer == Keys.b.id, "established with \(established.peer), who cannot have signed")
                fuzzCheck(config.expectedPeer == nil || config.expectedPeer == established.peer, "established with an unexpected peer")
                fuzzCheck((established.cipher != nil) == (config.networkKey != nil), "encryption does not match the network key")
                fuzzCheck(ours.isFinished, "established but not finished")
                session = established
            case .fail:
                fuzzCheck(ours.isFinished, "failed but not finished")
                failed = true
            }
        }
    }
    let timeout = ours.timeoutFired()
    fuzzCheck(ours.isFinished, "still running after the timeout")
    fuzzCheck((session != nil || failed) == timeout.isEmpty, "the timeout fired on a finished handshake, or not on a running one")
    return 0
}

/// The choices a byte makes: bit 0 our role, bit 1 a network key, bits 2-3 no expected peer, B, or a stranger.
private struct Configuration {
    let role: Handshake.Role
    let networkKey: NetworkKey?
    let expectedPeer: NodeID?

    init(_ byte: UInt8) {
        role = byte & 1 == 0 ? .initiator : .responder
        networkKey = byte & 2 == 0 ? nil : Keys.networkKey
        expectedPeer = switch (byte >> 2) & 3 {
        case 1: Keys.b.id
        case 2: NodeID(publicKey: [UInt8](repeating: 7, count: 32))
        default: nil
        }
    }

    func handshake(for identity: NodeIdentity, role: Handshake.Role, nonce: [UInt8], networkKey: NetworkKey?? = nil,
                   expectedPeer: NodeID? = nil, version: UInt16 = Handshake.protocolVersion) -> Handshake {
        Handshake(identity: identity, role: role, networkKey: networkKey ?? self.networkKey, listenPort: 7000,
                  expectedPeer: expectedPeer ?? self.expectedPeer, protocolVersion: version, nonce: nonce, nowMillis: 1_000)
    }
}

/// Fixed Ed25519 keys (libsodium layout: seed then public key), made for this harness and nothing else.
private enum Keys {
    static let a = identity("b7011b1f3d3cb43eeadbbbbdd8e0563efa6402f97c2d280502490d19fc319a5e3e3a2837c59ce066ac15c68a4d8fb8a824c0ccc5aa55fe06dc2c703c487c8cbe")
    static let b = identity("5f3798a0258de1bc590228467ec1e2ba15c679de313121bb36b623f8a63eb6da006a7790a689235be59905f086653d4bdb30ad8e3d54820fa5e3b102ea3af6a0")
    static let nonceA = [UInt8](repeating: 0xa1, count: Hello.nonceBytes)
    static let nonceB = [UInt8](repeating: 0xb2, count: Hello.nonceBytes)
    static let networkKey = NetworkKey(material: Array("exo-peer fuzz network key".utf8))

    static func identity(_ hex: String) -> NodeIdentity {
        let bytes = stride(from: 0, to: hex.count, by: 2).map { i in
            UInt8(hex[hex.index(hex.startIndex, offsetBy: i)..<hex.index(hex.startIndex, offsetBy: i + 2)], radix: 16)!
        }
        return try! NodeIdentity(secretKey: bytes, epoch: 1)
    }
}

@_cdecl("LLVMFuzzerInitialize")
public func initializeHandshakeFuzzer(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    writeSeedsIfRequested(handshakeSeeds)
    return 0
}

/// B's side of a real handshake with us for every configuration byte: its hello, its proof and, on an
/// encrypted session, a few sealed frames. Plus B with the wrong network key and with another protocol.
private func handshakeSeeds() -> [(name: String, bytes: [UInt8])] {
    var seeds: [(name: String, bytes: [UInt8])] = []
    for byte in UInt8(0)..<16 {
        let config = Configuration(byte)
        let peerRole: Handshake.Role = config.role == .initiator ? .responder : .initiator
        let variants: [(String, NetworkKey??, UInt16)] = [
            ("", nil, Handshake.protocolVersion),
            ("-wrong-key", .some(NetworkKey(material: Array("another mesh".utf8))), Handshake.protocolVersion),
            ("-protocol-2", nil, 2),
        ]
        for (suffix, key, version) in variants where byte < 4 || suffix.isEmpty {
            var theirs = config.handshake(for: Keys.b, role: peerRole, nonce: Keys.nonceB, networkKey: key, expectedPeer: Keys.a.id, version: version)
            var ours = config.handshake(for: Keys.a, role: config.role, nonce: Keys.nonceA)
            var out = ByteBuffer()
            out.writeInteger(byte)
            var theirSession: PeerSession?
            func perform(_ actions: [Handshake.Action]) -> [Frame] {
                actions.compactMap { action in
                    switch action {
                    case .send(let frame): try! FrameEncoder.encode(frame, into: &out); return frame
                    case .established(let session): theirSession = session; return nil
                    case .fail: return nil
                    }
                }
            }
            let theirHello = perform(theirs.start())
            let ourFrames = ours.start() + theirHello.flatMap { ours.receive($0) }
            for case .send(let frame) in ourFrames { _ = perform(theirs.receive(frame)) }
            if var cipher = theirSession?.cipher {
                for frame in [Frame(kind: .ping, bytes: []), Frame(kind: .gossip, bytes: Array(#"{"stamp":{}}"#.utf8)), Frame(kind: .pong, bytes: [])] {
                    try! FrameEncoder.encode(try! cipher.seal(frame), into: &out)
                }
            }
            seeds.append(("config-\(byte)\(suffix)", Array(out.readableBytesView)))
        }
    }
    return seeds
}
