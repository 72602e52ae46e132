import Foundation
import Mesh

/// What peers say about model files, in `transfer` frames: a 4-byte big-endian header length, the header
/// as JSON, then (for `chunk`) the piece's raw bytes. Requests carry an id the answer repeats.
enum TransferMessage: Codable, Sendable, Equatable {
    case manifestRequest(request: UInt64, sha256: String)
    case manifest(request: UInt64, manifest: ModelManifest)
    case chunkRequest(request: UInt64, sha256: String, chunk: Int)
    /// The piece's bytes follow the header.
    case chunk(request: UInt64, sha256: String, chunk: Int)
    /// The peer will not serve this request now (busy, no such file, bad request).
    case refused(request: UInt64, sha256: String, chunk: Int?, reason: String)

    static let maximumHeaderBytes = 16 << 20

    enum DecodeError: Error, Equatable, CustomStringConvertible {
        case truncated
        case headerTooLarge(Int)
        case badHeader(String)
        case unexpectedPayload(Int)

        var description: String {
            switch self {
            case .truncated: "transfer frame shorter than its header length"
            case .headerTooLarge(let n): "transfer header of \(n) bytes exceeds \(TransferMessage.maximumHeaderBytes)"
            case .badHeader(let reason): "transfer header is not a message: \(reason)"
            case .unexpectedPayload(let n): "transfer message carries \(n) bytes it should not"
            }
        }
    }

    func encoded(payload: [UInt8] = []) throws -> [UInt8] {
        let header = try JSON.encode(self)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(4 + header.count + payload.count)
        let length = UInt32(header.count)
        bytes += [UInt8(length >> 24), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff)]
        bytes += header
        bytes += payload
        return bytes
    }

    static func decode(_ bytes: [UInt8]) throws(DecodeError) -> (message: TransferMessage, payload: ArraySlice<UInt8>) {
        guard bytes.count >= 4 else { throw .truncated }
        let length = Int(bytes[0]) << 24 | Int(bytes[1]) << 16 | Int(bytes[2]) << 8 | Int(bytes[3])
        guard length <= maximumHeaderBytes else { throw .headerTooLarge(length) }
        guard bytes.count - 4 >= length else { throw .truncated }
        let message: TransferMessage
        do {
            message = try JSONDecoder().decode(TransferMessage.self, from: Data(bytes[4..<(4 + length)]))
        } catch {
            throw .badHeader("\(error)")
        }
        let payload = bytes[(4 + length)...]
        if case .chunk = message {} else if !payload.isEmpty { throw .unexpectedPayload(payload.count) }
        return (message, payload)
    }
}
