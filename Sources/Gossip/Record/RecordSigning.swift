import Mesh

/// Signs this node's record payloads. Injected so a simulation of 1,000 nodes can use a cheap stand-in.
public protocol RecordSigner: Sendable {
    var nodeID: NodeID { get }
    /// A human name for reports ("Ed25519", "simulated").
    var scheme: String { get }
    func sign(_ payload: [UInt8]) throws(GossipError) -> [UInt8]
}

/// Checks a payload's signature against the public key that is the signer's node id.
public protocol SignatureVerifier: Sendable {
    func isValid(signature: [UInt8], of payload: [UInt8], by signer: NodeID) -> Bool
}

/// Real signatures: libsodium `crypto_sign` with the node's identity key.
public struct Ed25519Signer: RecordSigner {
    private let identity: NodeIdentity
    public init(identity: NodeIdentity) { self.identity = identity }
    public var nodeID: NodeID { identity.id }
    public var scheme: String { "Ed25519" }
    public func sign(_ payload: [UInt8]) throws(GossipError) -> [UInt8] {
        do { return try identity.sign(payload) } catch { throw .signingFailed("\(error)") }
    }
}

public struct Ed25519Verifier: SignatureVerifier {
    public init() {}
    public func isValid(signature: [UInt8], of payload: [UInt8], by signer: NodeID) -> Bool {
        signature.count == Sodium.signatureBytes && Sodium.verify(signature, of: payload, publicKey: signer.publicKey)
    }
}

/// Simulation only: a keyed FNV-1a tag anyone can compute. It catches altered bytes and wrong signers
/// (so the rejection paths run) but is no defence against an adversary.
public struct SimulatedSigner: RecordSigner {
    public let nodeID: NodeID
    public init(nodeID: NodeID) { self.nodeID = nodeID }
    public var scheme: String { "simulated (keyed FNV-1a, not secure)" }
    public func sign(_ payload: [UInt8]) throws(GossipError) -> [UInt8] { Self.tag(payload, nodeID) }

    static func tag(_ payload: [UInt8], _ signer: NodeID) -> [UInt8] {
        var h = FNV1a()
        h.add(signer.hex.utf8)
        h.add(payload)
        return withUnsafeBytes(of: h.value.littleEndian) { Array($0) }
    }
}

public struct SimulatedVerifier: SignatureVerifier {
    public init() {}
    public func isValid(signature: [UInt8], of payload: [UInt8], by signer: NodeID) -> Bool {
        signature == SimulatedSigner.tag(payload, signer)
    }
}

public enum GossipError: Error, Equatable, CustomStringConvertible {
    case signingFailed(String)
    case encodingFailed(String)

    public var description: String {
        switch self {
        case .signingFailed(let why): "could not sign the node record: \(why); check that libsodium works (exo-peer doctor)"
        case .encodingFailed(let why): "could not encode the node record: \(why)"
        }
    }
}
