import NIOCore
import Testing
@testable import Mesh

/// Drives two handshakes against each other in memory, optionally tampering with frames on the way.
private struct Pair {
    var initiator: Handshake
    var responder: Handshake
    var initiatorOutcome: Handshake.Action?
    var responderOutcome: Handshake.Action?

    init(initiator: Handshake, responder: Handshake) {
        self.initiator = initiator
        self.responder = responder
    }

    /// Runs to completion; `tamper` sees every frame (true = sent by the initiator) and may replace it.
    mutating func run(tamper: (Frame, Bool) -> Frame = { f, _ in f }) {
        var toResponder: [Frame] = []
        var toInitiator: [Frame] = []
        func collect(_ actions: [Handshake.Action], fromInitiator: Bool, into outcome: inout Handshake.Action?) {
            for action in actions {
                switch action {
                case .send(let frame): if fromInitiator { toResponder.append(tamper(frame, true)) } else { toInitiator.append(tamper(frame, false)) }
                case .established, .fail: outcome = action
                }
            }
        }
        collect(initiator.start(), fromInitiator: true, into: &initiatorOutcome)
        collect(responder.start(), fromInitiator: false, into: &responderOutcome)
        while !toResponder.isEmpty || !toInitiator.isEmpty {
            if !toResponder.isEmpty { collect(responder.receive(toResponder.removeFirst()), fromInitiator: false, into: &responderOutcome) }
            if !toInitiator.isEmpty { collect(initiator.receive(toInitiator.removeFirst()), fromInitiator: true, into: &initiatorOutcome) }
        }
    }
}

private func session(_ action: Handshake.Action?) -> PeerSession? {
    if case .established(let s)? = action { return s }
    return nil
}

private func failure(_ action: Handshake.Action?) -> HandshakeError? {
    if case .fail(let e)? = action { return e }
    return nil
}

@Suite struct HandshakeTests {
    let alice = try! NodeIdentity.ephemeral()
    let bob = try! NodeIdentity.ephemeral()

    private func handshake(_ identity: NodeIdentity, _ role: Handshake.Role, key: NetworkKey? = nil, version: UInt16 = Handshake.protocolVersion,
                           expecting: NodeID? = nil, port: UInt16 = 7000) -> Handshake {
        Handshake(identity: identity, role: role, networkKey: key, listenPort: port, expectedPeer: expecting,
                  protocolVersion: version, nowMillis: 1_000)
    }

    @Test func twoNodesProveTheirKeysToEachOther() throws {
        var pair = Pair(initiator: handshake(alice, .initiator, expecting: bob.id), responder: handshake(bob, .responder, port: 7001))
        pair.run()
        let a = try #require(session(pair.initiatorOutcome))
        let b = try #require(session(pair.responderOutcome))
        #expect(a.peer == bob.id && b.peer == alice.id)
        #expect(a.peerListenPort == 7001 && b.peerListenPort == 7000)
        #expect(a.cipher == nil && b.cipher == nil)
        #expect(pair.initiator.isFinished && pair.responder.isFinished)
    }

    @Test func aSignatureThatDoesNotVerifyFailsTheHandshake() {
        var pair = Pair(initiator: handshake(alice, .initiator), responder: handshake(bob, .responder))
        pair.run { frame, fromInitiator in
            guard fromInitiator, frame.kind == .proof else { return frame }
            var bytes = frame.bytes
            bytes[3] ^= 0x40
            return Frame(kind: .proof, bytes: bytes)
        }
        #expect(failure(pair.responderOutcome) == .badSignature(alice.id))
    }

    @Test func aHelloClaimingAnotherNodesIdCannotProveIt() throws {
        // Mallory sends a hello with Bob's id but signs with her own key.
        let mallory = try NodeIdentity.ephemeral()
        var pair = Pair(initiator: handshake(alice, .initiator), responder: handshake(mallory, .responder))
        pair.run { frame, fromInitiator in
            guard !fromInitiator, frame.kind == .hello, var hello = Hello(decoding: frame.bytes) else { return frame }
            hello.nodeID = bob.id
            return Frame(kind: .hello, bytes: hello.encoded)
        }
        #expect(failure(pair.initiatorOutcome) == .badSignature(bob.id))
    }

    @Test func aProofSignedInOneRoleIsNotValidInTheOther() throws {
        // Both sides sign the same transcript digest; only the role label keeps a proof from being reflected.
        let digest = Sodium.hash(Array("some transcript".utf8))
        let proof = try alice.sign(Handshake.signedMessage(role: .initiator, digest: digest))
        #expect(Sodium.verify(proof, of: Handshake.signedMessage(role: .initiator, digest: digest), publicKey: alice.id.publicKey))
        #expect(!Sodium.verify(proof, of: Handshake.signedMessage(role: .responder, digest: digest), publicKey: alice.id.publicKey))
    }

    @Test func aProofFromAnEarlierSessionIsRejected() {
        var first = Pair(initiator: handshake(alice, .initiator), responder: handshake(bob, .responder))
        var recordedProof: Frame?
        first.run { frame, fromInitiator in
            if !fromInitiator, frame.kind == .proof { recordedProof = frame }
            return frame
        }
        var second = Pair(initiator: handshake(alice, .initiator), responder: handshake(bob, .responder))
        second.run { frame, fromInitiator in
            (!fromInitiator && frame.kind == .proof) ? recordedProof! : frame
        }
        #expect(failure(second.initiatorOutcome) == .badSignature(bob.id))
    }

    @Test func matchingNetworkKeysEstablishAnEncryptedSession() throws {
        let key = NetworkKey(material: Array("our little secret, 32 bytes long".utf8))
        var pair = Pair(initiator: handshake(alice, .initiator, key: key), responder: handshake(bob, .responder, key: key))
        pair.run()
        var a = try #require(session(pair.initiatorOutcome)?.cipher)
        var b = try #require(session(pair.responderOutcome)?.cipher)
        let frame = Frame(kind: .gossip, bytes: Array("state".utf8))
        let sealed = try a.seal(frame)
        #expect(sealed.kind == .sealed && sealed.bytes != frame.bytes)
        #expect(try b.open(sealed) == frame)
        #expect(throws: SessionError.outOfSequence(expected: 1, got: 0)) { try b.open(sealed) }
        // A frame reflected back to its sender does not open (the directions use different keys).
        var a2 = a
        #expect(throws: SessionError.cannotOpen) { try a2.open(try a.seal(frame)) }
        let reply = try b.seal(Frame(kind: .control, bytes: [1]))
        #expect(try a.open(reply) == Frame(kind: .control, bytes: [1]))
        #expect(throws: SessionError.plaintextFrame(.gossip)) { try a.open(frame) }
    }

    @Test func aPeerWithADifferentNetworkKeyFails() {
        let ours = NetworkKey(material: Array("our little secret, 32 bytes long".utf8))
        let theirs = NetworkKey(material: Array("some other secret, 32 bytes long".utf8))
        var pair = Pair(initiator: handshake(alice, .initiator, key: ours), responder: handshake(bob, .responder, key: theirs))
        pair.run()
        #expect(failure(pair.initiatorOutcome) == .networkKeyMismatch)
        #expect(failure(pair.responderOutcome) == .networkKeyMismatch)
    }

    @Test func aPeerWithoutTheNetworkKeyFailsAndSoDoWe() {
        let key = NetworkKey(material: Array("our little secret, 32 bytes long".utf8))
        var pair = Pair(initiator: handshake(alice, .initiator, key: key), responder: handshake(bob, .responder))
        pair.run()
        #expect(failure(pair.initiatorOutcome) == .networkKeyMismatch)
        #expect(failure(pair.responderOutcome) == .networkKeyRequiredByPeer)
    }

    @Test func aDifferentProtocolVersionFails() {
        var pair = Pair(initiator: handshake(alice, .initiator), responder: handshake(bob, .responder, version: 9))
        pair.run()
        #expect(failure(pair.initiatorOutcome) == .protocolMismatch(ours: 1, theirs: 9))
        #expect(failure(pair.responderOutcome) == .protocolMismatch(ours: 9, theirs: 1))
    }

    @Test func connectingToOurselvesIsDetected() {
        var pair = Pair(initiator: handshake(alice, .initiator), responder: handshake(alice, .responder))
        pair.run()
        #expect(failure(pair.initiatorOutcome) == .selfConnection)
    }

    @Test func theWrongNodeAtADiscoveredAddressFails() {
        let carol = try! NodeIdentity.ephemeral()
        var pair = Pair(initiator: handshake(alice, .initiator, expecting: bob.id), responder: handshake(carol, .responder))
        pair.run()
        #expect(failure(pair.initiatorOutcome) == .unexpectedPeer(expected: bob.id, got: carol.id))
    }

    @Test(arguments: [
        Frame(kind: .hello, bytes: [1, 2, 3]),
        Frame(kind: .hello, bytes: [UInt8](repeating: 0xff, count: 200)),
        Frame(kind: .gossip, bytes: Array("not a hello".utf8)),
        Frame(kind: .proof, bytes: [UInt8](repeating: 0, count: 64)),
    ])
    func garbageInsteadOfAHelloFails(frame: Frame) {
        var machine = handshake(alice, .responder)
        _ = machine.start()
        let outcome = failure(machine.receive(frame).first)
        #expect(outcome != nil)
        #expect(machine.isFinished)
        #expect(machine.receive(frame).isEmpty, "a failed handshake stays failed and silent")
    }

    @Test(arguments: [0, 1, 63, 65, 95, 97, 300])
    func aProofOfTheWrongSizeFails(size: Int) throws {
        var machine = handshake(alice, .initiator)
        _ = machine.start()
        var other = handshake(bob, .responder)
        guard case .send(let helloB) = other.start()[0] else { return }
        _ = machine.receive(helloB)
        #expect(failure(machine.receive(Frame(kind: .proof, bytes: [UInt8](repeating: 7, count: size))).first) == .malformed("proof of \(size) bytes"))
    }

    @Test func aHandshakeThatDoesNotFinishTimesOut() {
        var machine = handshake(alice, .initiator)
        _ = machine.start()
        #expect(failure(machine.timeoutFired().first) == .timedOut)
        var done = Pair(initiator: handshake(alice, .initiator), responder: handshake(bob, .responder))
        done.run()
        #expect(done.initiator.timeoutFired().isEmpty, "a finished handshake ignores its timer")
    }

    @Test func helloRoundTripsAndRejectsOtherLengths() {
        let hello = Hello(protocolVersion: 1, nodeID: alice.id, nonce: Array(repeating: 9, count: 32), timeMillis: 123, listenPort: 52416)
        #expect(Hello(decoding: hello.encoded) == hello)
        #expect(Hello(decoding: Array(hello.encoded.dropLast())) == nil)
        #expect(Hello(decoding: hello.encoded + [0]) == nil)
    }

    @Test func randomFramesNeverEstablishASessionOrCrash() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            var machine = handshake(alice, Bool.random(using: &generator) ? .initiator : .responder)
            _ = machine.start()
            for _ in 0..<3 {
                let kind = FrameKind.allCases.randomElement(using: &generator)!
                let size = [0, 1, 64, 76, 96, Int.random(in: 0...200, using: &generator)].randomElement(using: &generator)!
                let frame = Frame(kind: kind, bytes: (0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) })
                for action in machine.receive(frame) {
                    if case .established = action { Issue.record("random bytes established a session") }
                }
            }
        }
    }
}
