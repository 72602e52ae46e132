import Foundation
import Inference
import Placement

/// One step of one generation through one rank: the tokens of positions `start…`, and (for every rank
/// but the first) their hidden states after the previous rank, carried beside the header as floats.
struct PipelineStep: Codable, Sendable, Equatable {
    var session: UInt64
    /// The plan hash (16 hex digits): a rank only runs steps of the plan it was loaded for.
    var plan: String
    /// The rank that runs this step.
    var rank: Int
    /// Node ids (hex) of the ranks in ring order, so every hop knows the next one without a lookup that
    /// could disagree while the view changes.
    var route: [String]
    /// The node driving the generation: the last rank sends the sampled token there.
    var driver: String
    /// Position of `tokens[0]` in the sequence; a rank whose cache is elsewhere refuses the step.
    var start: Int
    var tokens: [Int32]
    /// After this step the last rank samples a token (false for all but the last chunk of a long prompt).
    var sample: Bool
    /// Present on a session's first step: what every rank needs to open it.
    var opening: SessionOpening?

    var isLastRank: Bool { rank == route.count - 1 }
}

struct SessionOpening: Codable, Sendable, Equatable {
    /// Positions the session may reach (prompt + completion budget).
    var capacity: Int
    var sampling: SamplingParameters
}

/// A header plus float payload, the unit of every pipeline exchange (runner pipe and mesh tensor frames):
/// a 4-byte big-endian header length, the header as JSON, then float32 values in the machine's (little-endian) order.
struct Envelope<Header: Codable & Sendable>: Sendable {
    var header: Header
    var floats: [Float]

    init(_ header: Header, floats: [Float] = []) {
        self.header = header
        self.floats = floats
    }

    func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = try encoder.encode(header)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(4 + json.count + floats.count * 4)
        withUnsafeBytes(of: UInt32(json.count).bigEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: json)
        floats.withUnsafeBytes { bytes.append(contentsOf: $0) }
        return bytes
    }

    /// Malformed bytes (from a peer or a broken runner) are an error value, never a crash.
    static func decode(_ bytes: some Collection<UInt8>) throws(EnvelopeError) -> Envelope {
        let bytes = Array(bytes)
        guard bytes.count >= 4 else { throw .truncated("\(bytes.count) bytes, no header length") }
        let length = Int(bytes[0]) << 24 | Int(bytes[1]) << 16 | Int(bytes[2]) << 8 | Int(bytes[3])
        guard length <= bytes.count - 4 else { throw .truncated("header of \(length) bytes in a \(bytes.count)-byte envelope") }
        let tail = bytes.count - 4 - length
        guard tail % 4 == 0 else { throw .truncated("\(tail) payload bytes is not a whole number of floats") }
        let header: Header
        do { header = try JSONDecoder().decode(Header.self, from: Data(bytes[4..<(4 + length)])) } catch {
            throw .malformedHeader("\(error)")
        }
        var floats = [Float](repeating: 0, count: tail / 4)
        floats.withUnsafeMutableBytes { out in
            bytes.withUnsafeBytes { source in
                out.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[(4 + length)...]))
            }
        }
        return Envelope(header, floats: floats)
    }
}

enum EnvelopeError: Error, Equatable, CustomStringConvertible {
    case truncated(String)
    case malformedHeader(String)

    var description: String {
        switch self {
        case .truncated(let why): "truncated pipeline message: \(why)"
        case .malformedHeader(let why): "malformed pipeline message header: \(why)"
        }
    }
}
