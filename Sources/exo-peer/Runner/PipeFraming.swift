import Foundation

/// Length-prefixed messages over a pipe between a node and its runner: a 4-byte big-endian length,
/// then the bytes. Blocking reads and writes on raw descriptors, used from threads of their own.
enum PipeFraming {
    /// A runner's message larger than this means the stream is out of step; it is treated as broken.
    static let maximumMessage = 512 << 20

    enum Failure: Error, Equatable, CustomStringConvertible {
        case closed
        case tooLarge(Int)
        case io(Int32)

        var description: String {
            switch self {
            case .closed: "the pipe was closed"
            case .tooLarge(let n): "a message of \(n) bytes exceeds the \(PipeFraming.maximumMessage)-byte cap"
            case .io(let code): "pipe I/O failed: \(String(cString: strerror(code)))"
            }
        }
    }

    static func write(_ message: [UInt8], to fd: Int32) throws(Failure) {
        let length = UInt32(message.count)
        var framed: [UInt8] = [UInt8(truncatingIfNeeded: length >> 24), UInt8(truncatingIfNeeded: length >> 16),
                               UInt8(truncatingIfNeeded: length >> 8), UInt8(truncatingIfNeeded: length)]
        framed.append(contentsOf: message)
        let result: Result<Void, Failure> = framed.withUnsafeBytes { raw in Result { () throws(Failure) in try writeAll(raw, to: fd) } }
        try result.get()
    }

    /// The next message, or `.closed` at a clean end of stream.
    static func read(from fd: Int32) throws(Failure) -> [UInt8] {
        var header = [UInt8](repeating: 0, count: 4)
        try readExactly(&header, from: fd)
        let length = Int(header[0]) << 24 | Int(header[1]) << 16 | Int(header[2]) << 8 | Int(header[3])
        guard length <= maximumMessage else { throw .tooLarge(length) }
        var body = [UInt8](repeating: 0, count: length)
        try readExactly(&body, from: fd)
        return body
    }

    private static func writeAll(_ bytes: UnsafeRawBufferPointer, to fd: Int32) throws(Failure) {
        var offset = 0
        while offset < bytes.count {
            let n = Foundation.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw errno == EPIPE ? .closed : .io(errno)
            }
            offset += n
        }
    }

    private static func readExactly(_ buffer: inout [UInt8], from fd: Int32) throws(Failure) {
        var offset = 0
        let count = buffer.count
        while offset < count {
            let n = buffer.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress! + offset, count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(errno)
            }
            if n == 0 { throw .closed }
            offset += n
        }
    }
}
