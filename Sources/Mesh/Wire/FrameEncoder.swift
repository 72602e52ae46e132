import NIOCore

/// Writes frames as length, kind, payload. Refuses frames above the cap so we never send what a peer must reject.
public struct FrameEncoder: MessageToByteEncoder {
    public typealias OutboundIn = Frame

    public let maximumPayload: Int

    public init(maximumPayload: Int = Frame.defaultMaximumPayload) {
        self.maximumPayload = maximumPayload
    }

    public func encode(data frame: Frame, out: inout ByteBuffer) throws {
        try Self.encode(frame, into: &out, maximumPayload: maximumPayload)
    }

    public static func encode(_ frame: Frame, into out: inout ByteBuffer, maximumPayload: Int = Frame.defaultMaximumPayload) throws(FrameError) {
        let length = frame.payload.readableBytes
        guard length <= maximumPayload else { throw .tooLarge(length: length, maximum: maximumPayload) }
        out.reserveCapacity(minimumWritableBytes: Frame.headerSize + length)
        out.writeInteger(UInt32(length), endianness: .big)
        out.writeInteger(frame.kind.rawValue)
        var payload = frame.payload
        out.writeBuffer(&payload)
    }
}
