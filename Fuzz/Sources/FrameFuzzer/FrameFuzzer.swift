import FuzzSupport
import Mesh
import NIOCore

/// Input: one byte picking the payload cap, one picking the size of the chunks the stream arrives in,
/// then the byte stream. Decoding it whole and decoding it as it arrives must agree frame for frame and
/// on the error; every frame must respect the cap and re-encode to exactly the bytes it was read from.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFrameDecoder(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var input = FuzzCursor(fuzzInput(data, size))
    let capChoice = input.byte()
    // Small caps reach the `tooLarge` boundary with short inputs; the top bit keeps the real default.
    let cap = capChoice & 0x80 != 0 ? Frame.defaultMaximumPayload : Int(capChoice) * 8
    let chunk = 1 + Int(input.byte() % 64)
    let stream = input.rest()
    let decoder = FrameDecoder(maximumPayload: cap)

    let whole = decodeAll(ByteBuffer(bytes: stream), decoder)
    let arriving = decodeArriving(stream, chunk: chunk, decoder)
    fuzzCheck(whole.frames == arriving.frames, "whole and chunked decoding disagree on the frames")
    fuzzCheck(whole.error == arriving.error, "whole and chunked decoding disagree: \(String(describing: whole.error)) vs \(String(describing: arriving.error))")

    var reencoded = ByteBuffer()
    for frame in whole.frames {
        fuzzCheck(frame.payload.readableBytes <= cap, "a frame of \(frame.payload.readableBytes) bytes passed the \(cap)-byte cap")
        do { try FrameEncoder.encode(frame, into: &reencoded, maximumPayload: cap) } catch {
            fuzzCheck(false, "a decoded frame does not encode: \(error)")
        }
    }
    fuzzCheck(Array(reencoded.readableBytesView) == Array(stream.prefix(whole.consumed)), "re-encoding differs from the bytes read")
    return 0
}

private struct Decoded {
    var frames: [Frame] = []
    var error: FrameError?
    var consumed = 0
}

private func decodeAll(_ buffer: ByteBuffer, _ decoder: FrameDecoder) -> Decoded {
    var buffer = buffer
    var result = Decoded()
    drain(&buffer, decoder, into: &result)
    return result
}

/// As a connection sees it: bytes appended chunk by chunk, frames taken out after each, read bytes discarded.
private func decodeArriving(_ stream: [UInt8], chunk: Int, _ decoder: FrameDecoder) -> Decoded {
    var buffer = ByteBuffer()
    var result = Decoded()
    var offset = 0
    while offset < stream.count, result.error == nil {
        let end = min(stream.count, offset + chunk)
        buffer.writeBytes(stream[offset..<end])
        offset = end
        drain(&buffer, decoder, into: &result)
        buffer.discardReadBytes()
    }
    return result
}

private func drain(_ buffer: inout ByteBuffer, _ decoder: FrameDecoder, into result: inout Decoded) {
    while true {
        let before = buffer.readableBytes
        do {
            guard let frame = try decoder.decodeFrame(from: &buffer) else {
                fuzzCheck(buffer.readableBytes == before, "needing more data consumed bytes")
                return
            }
            fuzzCheck(before - buffer.readableBytes == frame.wireSize, "a frame consumed other than its wire size")
            result.consumed += frame.wireSize
            result.frames.append(frame)
        } catch {
            result.error = error
            return
        }
    }
}

@_cdecl("LLVMFuzzerInitialize")
public func initializeFrameFuzzer(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    writeSeedsIfRequested(frameSeeds)
    return 0
}

/// A frame of every kind as a connection carries them (sizes from empty to a few KB), whole and cut short,
/// plus a stream whose second frame is over the cap.
private func frameSeeds() -> [(name: String, bytes: [UInt8])] {
    var stream = ByteBuffer()
    for (index, kind) in FrameKind.allCases.enumerated() {
        let payload = (0..<(index * index * 37)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ index) }
        try! FrameEncoder.encode(Frame(kind: kind, bytes: payload), into: &stream)
    }
    let control = Array(#"{"hello":"world","kind":"status"}"#.utf8)
    try! FrameEncoder.encode(Frame(kind: .control, bytes: control), into: &stream)
    let all = Array(stream.readableBytesView)
    var oversized = ByteBuffer()
    try! FrameEncoder.encode(Frame(kind: .ping, bytes: []), into: &oversized)
    oversized.writeInteger(UInt32(1 << 30), endianness: .big)
    oversized.writeInteger(FrameKind.tensor.rawValue)
    return [
        ("every-kind-default-cap", [0x80, 7] + all),
        ("every-kind-cap-1016", [0x7f, 1] + all),
        ("cut-short", [0x80, 13] + all.dropLast(9)),
        ("unknown-kind", [0x80, 3, 0, 0, 0, 1, 99, 0]),
        ("oversized", [0x80, 5] + Array(oversized.readableBytesView)),
    ]
}
