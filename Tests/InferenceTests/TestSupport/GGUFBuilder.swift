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
        /// Any value as a parsed file holds it (to copy a file's metadata).
        case value(GGUFValue)
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
            case .value(let v):
                append(Self.typeCode(v)); appendValue(v)
            }
        }
        func appendValue(_ v: GGUFValue) {
            switch v {
            case .uint8(let x): append(x)
            case .int8(let x): append(x)
            case .uint16(let x): append(x)
            case .int16(let x): append(x)
            case .uint32(let x): append(x)
            case .int32(let x): append(x)
            case .uint64(let x): append(x)
            case .int64(let x): append(x)
            case .float32(let x): append(x.bitPattern)
            case .float64(let x): append(x.bitPattern)
            case .bool(let x): append(UInt8(x ? 1 : 0))
            case .string(let s): appendString(s)
            case .array(let items):
                append(items.first.map(Self.typeCode) ?? 4); append(UInt64(items.count))
                items.forEach(appendValue)
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

    /// GGUF's code for the type of `v`.
    static func typeCode(_ v: GGUFValue) -> UInt32 {
        switch v {
        case .uint8: 0
        case .int8: 1
        case .uint16: 2
        case .int16: 3
        case .uint32: 4
        case .int32: 5
        case .float32: 6
        case .bool: 7
        case .string: 8
        case .array: 9
        case .uint64: 10
        case .int64: 11
        case .float64: 12
        }
    }

    /// `file` with every tensor in a format other than F32 and Q8_0 requantized to Q8_0, as ggml's
    /// reference quantizer does it (per 32 values: d = max|x| / 127 as Float16, q = round(x / d));
    /// metadata copied. `only` limits it to those formats.
    static func requantizedToQ8_0(_ file: GGUFFile, only: Set<GGMLType>? = nil) throws -> GGUFBuilder {
        var builder = GGUFBuilder()
        builder.metadata = file.metadata.sorted { $0.key < $1.key }.map { ($0.key, .value($0.value)) }
        for t in file.tensors {
            let source = file.bytes(of: t)
            guard t.type != .f32, t.type != .q8_0, only?.contains(t.type) ?? true else {
                builder.tensors.append(.init(name: t.name, dimensions: t.dimensions, type: t.type, bytes: Array(source)))
                continue
            }
            var floats = [Float](repeating: 0, count: t.rowLength)
            var bytes: [UInt8] = []
            bytes.reserveCapacity(t.elementCount / 32 * 34)
            for r in 0..<t.rowCount {
                try floats.withUnsafeMutableBufferPointer { f in
                    try Dequantize.row(t.type, from: source.baseAddress! + r * t.rowBytes, count: t.rowLength, into: f.baseAddress!)
                }
                for b in stride(from: 0, to: t.rowLength, by: 32) {
                    let block = floats[b..<(b + 32)]
                    let d = block.map { abs($0) }.max()! / 127
                    let inverse: Float = d != 0 ? 1 / d : 0
                    withUnsafeBytes(of: Float16(d).bitPattern.littleEndian) { bytes += $0 }
                    for x in block { bytes.append(UInt8(bitPattern: Int8((x * inverse).rounded()))) }
                }
            }
            builder.tensors.append(.init(name: t.name, dimensions: t.dimensions, type: .q8_0, bytes: bytes))
        }
        return builder
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
