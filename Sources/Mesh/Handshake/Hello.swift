import NIOCore

/// The first frame each side sends: who it claims to be and a fresh nonce the other side must sign over.
public struct Hello: Sendable, Equatable {
    public var protocolVersion: UInt16
    public var nodeID: NodeID
    public var nonce: [UInt8]
    /// Sender's wall clock, milliseconds since 1970 (lets a node report clock skew to its operator).
    public var timeMillis: UInt64
    /// The port the sender accepts mesh connections on (0: none), so a dialed-in peer can be dialed back.
    public var listenPort: UInt16

    public static let nonceBytes = 32
    static let encodedBytes = 2 + 32 + nonceBytes + 8 + 2

    public init(protocolVersion: UInt16, nodeID: NodeID, nonce: [UInt8], timeMillis: UInt64, listenPort: UInt16) {
        self.protocolVersion = protocolVersion
        self.nodeID = nodeID
        self.nonce = nonce
        self.timeMillis = timeMillis
        self.listenPort = listenPort
    }

    /// The exact bytes that travel; the transcript is built from these, never from a re-encoding.
    public var encoded: [UInt8] {
        var buffer = ByteBuffer()
        buffer.writeInteger(protocolVersion, endianness: .big)
        buffer.writeBytes(nodeID.publicKey)
        buffer.writeBytes(nonce)
        buffer.writeInteger(timeMillis, endianness: .big)
        buffer.writeInteger(listenPort, endianness: .big)
        return Array(buffer.readableBytesView)
    }

    /// Parses a hello; anything but exactly the expected layout is nil.
    public init?(decoding bytes: [UInt8]) {
        guard bytes.count == Hello.encodedBytes else { return nil }
        var buffer = ByteBuffer(bytes: bytes)
        guard let version = buffer.readInteger(endianness: .big, as: UInt16.self),
              let key = buffer.readBytes(length: 32),
              let nonce = buffer.readBytes(length: Hello.nonceBytes),
              let time = buffer.readInteger(endianness: .big, as: UInt64.self),
              let port = buffer.readInteger(endianness: .big, as: UInt16.self)
        else { return nil }
        self.init(protocolVersion: version, nodeID: NodeID(publicKey: key), nonce: nonce, timeMillis: time, listenPort: port)
    }
}
