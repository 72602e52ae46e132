import Foundation
import Mesh

/// The piece list of a model file: its size, the piece size, and each piece's BLAKE2b-256. A fetcher takes it
/// from any peer, checks it against the `chunkRoot` the holder signed into its record, and then checks
/// every piece against it, so a bad piece is caught on arrival, not after the whole file.
struct ModelManifest: Codable, Sendable, Equatable {
    /// 4 MiB: one piece is one frame, short enough on a link that gossip behind it waits milliseconds.
    static let defaultChunkBytes = 4 << 20

    var sha256: String
    var sizeBytes: UInt64
    var chunkBytes: Int
    var chunks: [String]

    var chunkCount: Int { chunks.count }

    /// BLAKE2b-256 over the concatenated raw piece digests.
    var root: String { Self.root(of: chunks) }

    static func root(of chunks: [String]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(chunks.count * 32)
        for chunk in chunks { bytes += HexBytes.decode(chunk) ?? [] }
        return Sodium.blake2b(bytes)
    }

    /// Why the manifest cannot describe the file advertised as `sha256`, `sizeBytes`, `root`; nil if it can.
    func invalidity(sha256 expected: String, sizeBytes expectedSize: UInt64, root expectedRoot: String) -> String? {
        if sha256 != expected { return "it describes file \(sha256.prefix(12)), not \(expected.prefix(12))" }
        if sizeBytes != expectedSize { return "it gives \(sizeBytes) bytes, the record \(expectedSize)" }
        guard chunkBytes >= 4096, chunkBytes <= 32 << 20 else { return "piece size \(chunkBytes) is outside 4 KiB…32 MiB" }
        let expectedCount = Int((sizeBytes + UInt64(chunkBytes) - 1) / UInt64(chunkBytes))
        if chunks.count != expectedCount { return "it lists \(chunks.count) pieces, the size needs \(expectedCount)" }
        if !chunks.allSatisfy({ $0.utf8.count == 64 && HexBytes.decode($0) != nil }) { return "a piece digest is not 64 hex digits" }
        if root != expectedRoot { return "its pieces do not hash to the advertised root" }
        return nil
    }

    /// Byte range of piece `index` in the file.
    func range(ofChunk index: Int) -> Range<UInt64> {
        let start = UInt64(index) * UInt64(chunkBytes)
        return start..<min(start + UInt64(chunkBytes), sizeBytes)
    }

    /// Indices of the pieces that overlap `bytes` (empty for an empty range).
    func chunks(covering bytes: Range<UInt64>) -> Range<Int> {
        guard !bytes.isEmpty, bytes.lowerBound < sizeBytes else { return 0..<0 }
        let first = Int(bytes.lowerBound / UInt64(chunkBytes))
        let last = Int((min(bytes.upperBound, sizeBytes) - 1) / UInt64(chunkBytes))
        return first..<(last + 1)
    }
}

/// Lowercase hex to bytes and back.
enum HexBytes {
    static func decode(_ hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        var i = 0
        while i < digits.count {
            guard let high = value(digits[i]), let low = value(digits[i + 1]) else { return nil }
            bytes.append(high << 4 | low)
            i += 2
        }
        return bytes
    }

    private static func value(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        default: nil
        }
    }
}
