import NIOCore

/// Splits a TCP byte stream into frames. The length is checked against the cap before any payload is
/// buffered, so a peer announcing 4 GiB costs us five bytes, not four gigabytes.
public struct FrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = Frame

    public let maximumPayload: Int

    public init(maximumPayload: Int = Frame.defaultMaximumPayload) {
        self.maximumPayload = maximumPayload
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = try decodeFrame(from: &buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A partial frame left at EOF is simply dropped with the connection.
        try decode(context: context, buffer: &buffer)
    }

    /// The pure part: one frame if the buffer holds a whole one, nil if more bytes are needed.
    public func decodeFrame(from buffer: inout ByteBuffer) throws(FrameError) -> Frame? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, endianness: .big, as: UInt32.self),
              let rawKind = buffer.getInteger(at: buffer.readerIndex + 4, as: UInt8.self)
        else { return nil }
        guard Int(length) <= maximumPayload else { throw .tooLarge(length: Int(length), maximum: maximumPayload) }
        guard let kind = FrameKind(rawValue: rawKind) else { throw .unknownKind(rawKind) }
        guard buffer.readableBytes >= Frame.headerSize + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: Frame.headerSize)
        let payload = buffer.readSlice(length: Int(length))!
        return Frame(kind: kind, payload: payload)
    }
}
