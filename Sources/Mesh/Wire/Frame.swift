import NIOCore

/// What a frame carries. The byte values are part of the wire protocol: never renumber, only add.
public enum FrameKind: UInt8, Sendable, CaseIterable {
    /// Handshake: `hello{protocol, node id, nonce, time}`.
    case hello = 1
    /// Handshake: the signature over the transcript that answers the peer's nonce (plus the network-key MAC).
    case proof = 2
    /// An encrypted frame (network key set): the payload opens to a sequence number, an inner kind and payload.
    case sealed = 3
    /// Keep-alive; answered with `pong`.
    case ping = 4
    case pong = 5
    /// JSON control messages (Codable, sorted keys).
    case control = 16
    /// Gossip protocol messages (signed records, digests).
    case gossip = 17
    /// Binary tensor frames for pipeline hops.
    case tensor = 18
    /// Model transfer: manifest and chunk requests and replies (a JSON header, then raw file bytes).
    case transfer = 19
}

/// One unit on the wire: a 4-byte big-endian payload length, a 1-byte kind, then the payload.
public struct Frame: Sendable, Equatable {
    public var kind: FrameKind
    public var payload: ByteBuffer

    public init(kind: FrameKind, payload: ByteBuffer) {
        self.kind = kind
        self.payload = payload
    }

    public init(kind: FrameKind, bytes: some Sequence<UInt8>) {
        self.init(kind: kind, payload: ByteBuffer(bytes: bytes))
    }

    /// The payload as an array (copies).
    public var bytes: [UInt8] { Array(payload.readableBytesView) }

    /// Bytes the frame takes on the wire.
    public var wireSize: Int { Frame.headerSize + payload.readableBytes }

    public static let headerSize = 5
    /// The default cap on a payload; large enough for a tensor hop, small enough that a peer can't exhaust memory.
    public static let defaultMaximumPayload = 64 * 1024 * 1024
}

/// Why a byte stream was not a valid sequence of frames. The connection is closed; the reason is logged.
public enum FrameError: Error, Equatable, CustomStringConvertible {
    case tooLarge(length: Int, maximum: Int)
    case unknownKind(UInt8)

    public var description: String {
        switch self {
        case .tooLarge(let length, let maximum):
            "frame of \(length) bytes exceeds the \(maximum)-byte cap; the peer is misbehaving or runs an incompatible version"
        case .unknownKind(let kind):
            "frame of unknown kind \(kind); the peer runs an incompatible version or is not an exo-peer node"
        }
    }
}
