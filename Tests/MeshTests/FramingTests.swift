import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing
@testable import Mesh

@Suite struct FramingTests {
    private func wire(_ frames: [Frame]) throws -> ByteBuffer {
        var out = ByteBuffer()
        for frame in frames { try FrameEncoder.encode(frame, into: &out) }
        return out
    }

    @Test func aFrameIsLengthKindPayloadBigEndian() throws {
        let bytes = try wire([Frame(kind: .gossip, bytes: [0xAA, 0xBB, 0xCC])])
        #expect(Array(bytes.readableBytesView) == [0, 0, 0, 3, FrameKind.gossip.rawValue, 0xAA, 0xBB, 0xCC])
    }

    @Test func everySplitOfTheInputDecodesToTheSameFrames() throws {
        let frames = [
            Frame(kind: .hello, bytes: Array(0..<74)),
            Frame(kind: .control, bytes: Array("{\"a\":1}".utf8)),
            Frame(kind: .ping, bytes: []),
            Frame(kind: .tensor, bytes: (0..<300).map { UInt8($0 & 0xff) }),
        ]
        try ByteToMessageDecoderVerifier.verifyDecoder(
            inputOutputPairs: [(try wire(frames), frames), (try wire([frames[2]]), [frames[2]])],
            decoderFactory: { FrameDecoder(maximumPayload: 1024) })
    }

    @Test func framesRoundTripThroughEncoderAndDecoderOnAChannel() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers([
            ByteToMessageHandler(FrameDecoder()), MessageToByteHandler(FrameEncoder()),
        ])
        let sent = Frame(kind: .gossip, bytes: Array("digest".utf8))
        try channel.writeOutbound(sent)
        let bytes = try #require(try channel.readOutbound(as: ByteBuffer.self))
        try channel.writeInbound(bytes)
        #expect(try channel.readInbound(as: Frame.self) == sent)
        #expect(try channel.finish().isClean)
    }

    @Test(arguments: [1025, 1 << 20, Int(UInt32.max)])
    func aLengthAboveTheCapIsRejectedBeforeThePayloadArrives(length: Int) throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(maximumPayload: 1024)))
        var header = ByteBuffer()
        header.writeInteger(UInt32(length), endianness: .big)
        header.writeInteger(FrameKind.tensor.rawValue)
        #expect(throws: FrameError.tooLarge(length: length, maximum: 1024)) { try channel.writeInbound(header) }
        _ = try? channel.finish()
    }

    @Test(arguments: [0, 6, 15, 20, 200, 255] as [UInt8])
    func anUnknownKindIsRejected(kind: UInt8) throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder()))
        var bytes = ByteBuffer()
        bytes.writeInteger(UInt32(1), endianness: .big)
        bytes.writeInteger(kind)
        bytes.writeInteger(UInt8(0))
        #expect(throws: FrameError.unknownKind(kind)) { try channel.writeInbound(bytes) }
        _ = try? channel.finish()
    }

    @Test func theEncoderRefusesAFrameAboveTheCap() {
        var out = ByteBuffer()
        #expect(throws: FrameError.tooLarge(length: 11, maximum: 10)) {
            try FrameEncoder.encode(Frame(kind: .tensor, bytes: [UInt8](repeating: 0, count: 11)), into: &out, maximumPayload: 10)
        }
        #expect(out.readableBytes == 0)
    }

    @Test func randomBytesNeverCrashTheDecoder() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            var buffer = ByteBuffer(bytes: (0..<Int.random(in: 0...64, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) })
            let decoder = FrameDecoder(maximumPayload: 32)
            // Either frames, a need for more bytes, or a typed error: nothing else may happen.
            while true {
                do { guard try decoder.decodeFrame(from: &buffer) != nil else { break } } catch { break }
            }
        }
    }
}
