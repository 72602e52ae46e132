import Foundation
@testable import Inference

/// Writes small GGUF v3 files in memory, for models the tests make up.
struct GGUFBuilder {
    enum Value {
        case uint32(UInt32)
        case float32(Float)
        case bool(Bool)
        case string(String)
        /// Arrays (GGUF type 9) of strings, float32 and int32, as vocabularies store them.
        case strings([String])
        case float32s([Float])
        case int32s([Int32])
    }

    struct Tensor {
        var name: String
        /// ggml order: [columns, rows] for a matrix.
        var dimensions: [Int]
        var type: GGMLType
        var bytes: [UInt8]
    }

    var metadata: [(String, Value)] = []
    var tensors: [Tensor] = []
    let alignment = 32

    func build() -> [UInt8] {
        var out: [UInt8] = []
        func append<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        func appendString(_ s: String) {
            append(UInt64(s.utf8.count))
            out += Array(s.utf8)
        }
        append(UInt32(0x4655_4747))  // "GGUF"
        append(UInt32(3))
        append(UInt64(tensors.count))
        append(UInt64(metadata.count))
        for (key, value) in metadata {
            appendString(key)
            switch value {
            case .uint32(let v): append(UInt32(4)); append(v)
            case .float32(let v): append(UInt32(6)); append(v.bitPattern)
            case .bool(let v): append(UInt32(7)); append(UInt8(v ? 1 : 0))
            case .string(let s): append(UInt32(8)); appendString(s)
            case .strings(let items):
                append(UInt32(9)); append(UInt32(8)); append(UInt64(items.count))
                for s in items { appendString(s) }
            case .float32s(let items):
                append(UInt32(9)); append(UInt32(6)); append(UInt64(items.count))
                for v in items { append(v.bitPattern) }
            case .int32s(let items):
                append(UInt32(9)); append(UInt32(5)); append(UInt64(items.count))
                for v in items { append(v) }
            }
        }
        var offset = 0
        var offsets: [Int] = []
        for tensor in tensors {
            offsets.append(offset)
            offset += (tensor.bytes.count + alignment - 1) / alignment * alignment
        }
        for (tensor, tensorOffset) in zip(tensors, offsets) {
            appendString(tensor.name)
            append(UInt32(tensor.dimensions.count))
            for d in tensor.dimensions { append(UInt64(d)) }
            append(UInt32(tensor.type.rawValue))
            append(UInt64(tensorOffset))
        }
        while out.count % alignment != 0 { out.append(0) }
        for tensor in tensors {
            out += tensor.bytes
            while out.count % alignment != 0 { out.append(0) }
        }
        return out
    }

    /// Parses what `build` wrote; the file keeps the bytes alive.
    func file() throws -> GGUFFile {
        let storage = Storage(build())
        return try GGUFFile(bytes: UnsafeRawBufferPointer(start: storage.pointer, count: storage.count), owner: storage)
    }

    private final class Storage {
        let pointer: UnsafeMutableRawPointer
        let count: Int
        init(_ bytes: [UInt8]) {
            count = bytes.count
            pointer = .allocate(byteCount: max(1, count), alignment: 64)
            bytes.withUnsafeBytes { pointer.copyMemory(from: $0.baseAddress!, byteCount: count) }
        }
        deinit { pointer.deallocate() }
    }
}
