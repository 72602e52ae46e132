import Foundation
import Mesh

#if canImport(Glibc)
import Glibc
#endif

/// A model file being fetched, on disk so a restarted node resumes it: `<models>/.partial/<sha256>.gguf`
/// at full size with holes where pieces are missing, and `<sha256>.json` with the manifest and which
/// pieces are written and verified. The catalog ignores the directory; a finished file is moved out of it.
final class PartialModel {
    /// Written once per fetch; the held pieces go in a small file of their own, rewritten per piece
    /// (a manifest of a large model is hundreds of kilobytes).
    struct State: Codable {
        var model: String
        var manifest: ModelManifest
    }

    let model: String
    let manifest: ModelManifest
    let dataPath: String
    private let statePath: String
    /// One bit per piece, lowest piece in the lowest bit of the first byte, as hex.
    private let heldPath: String
    private let descriptor: Int32
    private(set) var held: [Bool]

    static func directory(in models: URL) -> URL { models.appendingPathComponent(".partial", isDirectory: true) }

    /// Opens the partial file of `manifest.sha256` in `directory`, resuming it when its saved state has the
    /// same manifest (held pieces are re-verified against it), else starting it empty.
    init(directory: URL, model: String, manifest: ModelManifest) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.model = model
        self.manifest = manifest
        dataPath = directory.appendingPathComponent("\(manifest.sha256).gguf").path
        statePath = directory.appendingPathComponent("\(manifest.sha256).json").path
        heldPath = directory.appendingPathComponent("\(manifest.sha256).held").path
        // A link left by an earlier finished fetch of this file (see `finish`) must not be written through.
        if (try? FileManager.default.destinationOfSymbolicLink(atPath: dataPath)) != nil { unlink(dataPath) }
        descriptor = open(dataPath, O_RDWR | O_CREAT, 0o644)
        guard descriptor >= 0 else { throw TransferError.disk("cannot open \(dataPath): \(String(cString: strerror(errno)))") }
        guard ftruncate(descriptor, off_t(manifest.sizeBytes)) == 0 else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw TransferError.disk("cannot size \(dataPath) to \(manifest.sizeBytes) bytes: \(reason)")
        }
        held = [Bool](repeating: false, count: manifest.chunkCount)
        var space = statvfs()
        if fstatvfs(descriptor, &space) == 0 {
            // The file is sparse: what is not yet written must still fit on the disk.
            let free = UInt64(space.f_bavail) * UInt64(space.f_frsize)
            let allocated = UInt64(max(0, Self.allocatedBytes(descriptor)))
            if manifest.sizeBytes > allocated, manifest.sizeBytes - allocated > free {
                throw TransferError.disk("\(model) needs \(manifest.sizeBytes - allocated) more bytes on disk, \(free) are free in \(directory.path)")
            }
        }
        if let data = FileManager.default.contents(atPath: statePath),
           let saved = try? JSONDecoder().decode(State.self, from: data), saved.manifest == manifest,
           let bitmap = FileManager.default.contents(atPath: heldPath) {
            let bits = Self.unpack(String(decoding: bitmap, as: UTF8.self), count: manifest.chunkCount)
            for index in bits.indices where bits[index] {
                if let bytes = try? read(chunk: index), Sodium.blake2b(bytes) == manifest.chunks[index] { held[index] = true }
            }
        } else {
            do {
                try JSONEncoder().encode(State(model: model, manifest: manifest)).write(to: URL(fileURLWithPath: statePath), options: .atomic)
            } catch {
                throw TransferError.disk("cannot save \(statePath): \(error)")
            }
        }
        try save()
    }

    deinit { close(descriptor) }

    private static func allocatedBytes(_ descriptor: Int32) -> Int {
        var info = stat()
        return fstat(descriptor, &info) == 0 ? Int(info.st_blocks) * 512 : 0
    }

    var heldCount: Int { held.count { $0 } }

    var heldBytes: UInt64 {
        held.indices.filter { held[$0] }.reduce(UInt64(0)) { $0 + UInt64(manifest.range(ofChunk: $1).count) }
    }

    /// Writes a verified piece and records it as held.
    func write(chunk index: Int, bytes: ArraySlice<UInt8>) throws {
        let range = manifest.range(ofChunk: index)
        guard bytes.count == range.count else { throw TransferError.disk("piece \(index) has \(bytes.count) bytes, expected \(range.count)") }
        let complete = bytes.withUnsafeBytes { FileBytes.write($0, to: descriptor, at: range.lowerBound) }
        guard complete else { throw TransferError.disk("cannot write \(dataPath): \(String(cString: strerror(errno)))") }
        held[index] = true
        try save()
    }

    func read(chunk index: Int) throws -> [UInt8] {
        guard let bytes = FileBytes.read(descriptor, range: manifest.range(ofChunk: index)) else {
            throw TransferError.disk("cannot read \(dataPath): \(String(cString: strerror(errno)))")
        }
        return bytes
    }

    /// Moves the finished file to `destination` and forgets the partial state. A link to the new place stays
    /// behind, so a runner handed the partial path before the move still opens the file.
    func finish(at destination: String) throws {
        guard rename(dataPath, destination) == 0 else {
            throw TransferError.disk("cannot move \(dataPath) to \(destination): \(String(cString: strerror(errno)))")
        }
        symlink(destination, dataPath)
        unlink(statePath)
        unlink(heldPath)
    }

    func discard() {
        unlink(dataPath)
        unlink(statePath)
        unlink(heldPath)
    }

    private func save() throws {
        do {
            try Data(Self.pack(held).utf8).write(to: URL(fileURLWithPath: heldPath), options: .atomic)
        } catch {
            throw TransferError.disk("cannot save \(heldPath): \(error)")
        }
    }

    static func pack(_ bits: [Bool]) -> String {
        var bytes = [UInt8](repeating: 0, count: (bits.count + 7) / 8)
        for (i, bit) in bits.enumerated() where bit { bytes[i / 8] |= 1 << (i % 8) }
        return bytes.map { String(format: "%02x", $0) }.joined()
    }

    static func unpack(_ hex: String, count: Int) -> [Bool] {
        let bytes = HexBytes.decode(hex) ?? []
        return (0..<count).map { i in i / 8 < bytes.count && bytes[i / 8] & (1 << (i % 8)) != 0 }
    }
}

enum TransferError: Error, CustomStringConvertible {
    case disk(String)

    var description: String {
        switch self {
        case .disk(let reason): reason
        }
    }
}

extension PartialModel {
    /// The manifest saved with an earlier, unfinished fetch of `sha256`, if any: a resumed fetch needs no
    /// round trip for it (it is checked against the advertised root like a fetched one).
    static func savedManifest(directory: URL, sha256: String) -> ModelManifest? {
        let path = directory.appendingPathComponent("\(sha256).json").path
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return (try? JSONDecoder().decode(State.self, from: data))?.manifest
    }
}

/// Whole reads and writes at an offset (pread and pwrite may do part of the work per call).
enum FileBytes {
    static func read(_ descriptor: Int32, range: Range<UInt64>) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: Int(range.count))
        var done = 0
        let complete = bytes.withUnsafeMutableBytes { buffer -> Bool in
            while done < buffer.count {
                let n = pread(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(range.lowerBound) + off_t(done))
                guard n > 0 else { return false }
                done += n
            }
            return true
        }
        return complete ? bytes : nil
    }

    static func write(_ buffer: UnsafeRawBufferPointer, to descriptor: Int32, at offset: UInt64) -> Bool {
        var done = 0
        while done < buffer.count {
            let n = pwrite(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            guard n > 0 else { return false }
            done += n
        }
        return true
    }
}
