import NIOCore

/// The mesh handshake as a pure state machine: feed it frames and a timeout, perform the actions it returns.
///
/// Both sides send `hello` at once. On the peer's hello each side signs the transcript (both hellos in
/// initiator-then-responder order, so both fresh nonces) under a label naming its own role: a proof can't
/// be replayed into another session (new nonces) nor reflected back at its sender (other role). With a
/// network key each side also MACs the transcript, and the session keys derive from key and transcript.
public struct Handshake: Sendable {
    public enum Role: String, Sendable { case initiator, responder }

    public enum Action: Sendable, Equatable {
        case send(Frame)
        case established(PeerSession)
        case fail(HandshakeError)
    }

    private enum State: Sendable {
        case idle
        case awaitingHello
        case awaitingProof(peer: Hello, digest: [UInt8])
        case established
        case failed
    }

    public static let protocolVersion: UInt16 = 1

    private let identity: NodeIdentity
    private let role: Role
    private let networkKey: NetworkKey?
    private let expectedPeer: NodeID?
    private let ourHello: Hello
    private let ourHelloBytes: [UInt8]
    private var state: State = .idle

    /// - Parameters:
    ///   - expectedPeer: when dialing an id learned from discovery, the node that must answer.
    ///   - nonce, nowMillis: injected so tests are deterministic; default fresh random and the wall clock.
    public init(identity: NodeIdentity, role: Role, networkKey: NetworkKey?, listenPort: UInt16, expectedPeer: NodeID? = nil,
                protocolVersion: UInt16 = Handshake.protocolVersion,
                nonce: [UInt8] = Sodium.randomBytes(Hello.nonceBytes), nowMillis: UInt64) {
        self.identity = identity
        self.role = role
        self.networkKey = networkKey
        self.expectedPeer = expectedPeer
        self.ourHello = Hello(protocolVersion: protocolVersion, nodeID: identity.id, nonce: nonce, timeMillis: nowMillis, listenPort: listenPort)
        self.ourHelloBytes = ourHello.encoded
    }

    public var isFinished: Bool {
        switch state {
        case .established, .failed: true
        case .idle, .awaitingHello, .awaitingProof: false
        }
    }

    public mutating func start() -> [Action] {
        switch state {
        case .idle:
            state = .awaitingHello
            return [.send(Frame(kind: .hello, bytes: ourHelloBytes))]
        case .awaitingHello, .awaitingProof, .established, .failed:
            return []
        }
    }

    public mutating func receive(_ frame: Frame) -> [Action] {
        switch (state, frame.kind) {
        case (.awaitingHello, .hello):
            return receiveHello(frame.bytes)
        case (.awaitingProof(let peer, let digest), .proof):
            return receiveProof(frame.bytes, from: peer, digest: digest)
        case (.idle, _), (.established, _), (.failed, _):
            return []
        case (.awaitingHello, _), (.awaitingProof, _):
            return fail(.unexpectedFrame(frame.kind))
        }
    }

    /// The handshake deadline passed; fails unless already finished.
    public mutating func timeoutFired() -> [Action] {
        switch state {
        case .idle, .awaitingHello, .awaitingProof: fail(.timedOut)
        case .established, .failed: []
        }
    }

    private mutating func receiveHello(_ bytes: [UInt8]) -> [Action] {
        guard let peer = Hello(decoding: bytes) else { return fail(.malformed("hello of \(bytes.count) bytes")) }
        guard peer.protocolVersion == ourHello.protocolVersion else {
            return fail(.protocolMismatch(ours: ourHello.protocolVersion, theirs: peer.protocolVersion))
        }
        guard peer.nodeID != identity.id else { return fail(.selfConnection) }
        if let expectedPeer, expectedPeer != peer.nodeID { return fail(.unexpectedPeer(expected: expectedPeer, got: peer.nodeID)) }
        guard peer.nonce != ourHello.nonce else { return fail(.malformed("peer echoed our nonce")) }

        let (initiatorHello, responderHello) = role == .initiator ? (ourHelloBytes, bytes) : (bytes, ourHelloBytes)
        let digest = Sodium.hash(Array("exo-peer/handshake/transcript/v1".utf8) + initiatorHello + responderHello)
        var proof: [UInt8]
        do { proof = try identity.sign(Self.signedMessage(role: role, digest: digest)) } catch {
            return fail(.malformed("could not sign: \(error)"))
        }
        if let networkKey {
            guard let tag = try? Sodium.authenticate(Self.macMessage(role: role, digest: digest), key: networkKey.macKey) else {
                return fail(.malformed("could not authenticate"))
            }
            proof += tag
        }
        state = .awaitingProof(peer: peer, digest: digest)
        return [.send(Frame(kind: .proof, bytes: proof))]
    }

    private mutating func receiveProof(_ bytes: [UInt8], from peer: Hello, digest: [UInt8]) -> [Action] {
        let signatureBytes = Sodium.signatureBytes
        guard bytes.count == signatureBytes || bytes.count == signatureBytes + Sodium.authenticatorBytes else {
            return fail(.malformed("proof of \(bytes.count) bytes"))
        }
        let peerRole: Role = role == .initiator ? .responder : .initiator
        let signature = Array(bytes[..<signatureBytes])
        guard Sodium.verify(signature, of: Self.signedMessage(role: peerRole, digest: digest), publicKey: peer.nodeID.publicKey) else {
            return fail(.badSignature(peer.nodeID))
        }
        let tag = Array(bytes[signatureBytes...])
        var cipher: SessionCipher? = nil
        switch (networkKey, tag.isEmpty) {
        case (nil, true):
            break
        case (nil, false):
            return fail(.networkKeyRequiredByPeer)
        case (.some, true):
            return fail(.networkKeyMismatch)
        case (.some(let key), false):
            guard Sodium.verifyAuthentication(tag, of: Self.macMessage(role: peerRole, digest: digest), key: key.macKey) else {
                return fail(.networkKeyMismatch)
            }
            let toResponder = Sodium.hash(Array("exo-peer/session/initiator-to-responder/v1".utf8) + key.sessionSeed + digest)
            let toInitiator = Sodium.hash(Array("exo-peer/session/responder-to-initiator/v1".utf8) + key.sessionSeed + digest)
            cipher = role == .initiator
                ? SessionCipher(sendKey: toResponder, receiveKey: toInitiator)
                : SessionCipher(sendKey: toInitiator, receiveKey: toResponder)
        }
        state = .established
        let session = PeerSession(peer: peer.nodeID, role: role, sessionID: digest, peerListenPort: peer.listenPort,
                                  clockOffsetMillis: Int64(bitPattern: peer.timeMillis &- ourHello.timeMillis), cipher: cipher)
        return [.established(session)]
    }

    private mutating func fail(_ error: HandshakeError) -> [Action] {
        state = .failed
        return [.fail(error)]
    }

    static func signedMessage(role: Role, digest: [UInt8]) -> [UInt8] {
        Array("exo-peer/handshake/proof/\(role.rawValue)/v1".utf8) + digest
    }

    static func macMessage(role: Role, digest: [UInt8]) -> [UInt8] {
        Array("exo-peer/handshake/network-key/\(role.rawValue)/v1".utf8) + digest
    }
}

/// What a finished handshake established about the peer.
public struct PeerSession: Sendable, Equatable {
    public let peer: NodeID
    /// Our role on this connection (initiator: we dialed).
    public let role: Handshake.Role
    /// The transcript digest: the same on both ends, different for every connection.
    public let sessionID: [UInt8]
    public let peerListenPort: UInt16
    /// Peer's clock minus ours at the handshake (milliseconds, includes one-way latency).
    public let clockOffsetMillis: Int64
    /// Set when the mesh has a network key: every later frame is sealed and opened with it.
    public var cipher: SessionCipher?

    public static func == (a: PeerSession, b: PeerSession) -> Bool {
        a.peer == b.peer && a.role == b.role && a.sessionID == b.sessionID && a.peerListenPort == b.peerListenPort
            && a.clockOffsetMillis == b.clockOffsetMillis && (a.cipher == nil) == (b.cipher == nil)
    }
}
