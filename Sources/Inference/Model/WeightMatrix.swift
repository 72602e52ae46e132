/// A weight matrix as the kernels see it: rows of `columns` elements, either quantized bytes
/// viewed in the mapped file, or F32 values (formats without an integer kernel are dequantized at load).
public struct WeightMatrix: @unchecked Sendable {
    public let rows: Int
    public let columns: Int
    public let type: GGMLType
    public let bytes: UnsafeRawPointer
    public let rowBytes: Int

    public enum Error: Swift.Error, CustomStringConvertible {
        case missing(String)
        case shape(String, expected: [Int], got: [Int])
        case dequantize(String, Dequantize.Error)
        public var description: String {
            switch self {
            case .missing(let name): "model file has no tensor '\(name)'"
            case .shape(let name, let e, let g): "tensor '\(name)' has shape \(g), expected \(e)"
            case .dequantize(let name, let error): "tensor '\(name)': \(error)"
            }
        }
    }

    /// Views `name` in `file` as a rows×columns matrix (ggml's ne = [columns, rows]).
    static func load(_ name: String, from file: GGUFFile, rows: Int, columns: Int, owner: inout [UnsafeMutableRawPointer]) throws(Error) -> WeightMatrix {
        guard let info = file.tensor(named: name) else { throw .missing(name) }
        guard info.rowLength == columns, info.rowCount == rows else { throw .shape(name, expected: [columns, rows], got: info.dimensions) }
        let raw = file.bytes(of: info)
        if info.type == .f32 || QuantizedMatVec.supports(info.type) {
            return WeightMatrix(rows: rows, columns: columns, type: info.type, bytes: raw.baseAddress!, rowBytes: info.rowBytes)
        }
        // No integer kernel for this format yet: dequantize once into an owned F32 copy.
        let floats = UnsafeMutablePointer<Float>.allocate(capacity: rows * columns)
        do {
            for r in 0..<rows {
                try Dequantize.row(info.type, from: raw.baseAddress! + r * info.rowBytes, count: columns, into: floats + r * columns)
            }
        } catch {
            floats.deallocate()
            throw .dequantize(name, error)
        }
        owner.append(UnsafeMutableRawPointer(floats))
        return WeightMatrix(rows: rows, columns: columns, type: .f32, bytes: UnsafeRawPointer(floats), rowBytes: columns * 4)
    }

    /// A vector (norm weights) as F32, copied out (they are tiny).
    static func vector(_ name: String, from file: GGUFFile, count: Int) throws(Error) -> [Float] {
        guard let info = file.tensor(named: name) else { throw .missing(name) }
        guard info.elementCount == count else { throw .shape(name, expected: [count], got: info.dimensions) }
        var out = [Float](repeating: 0, count: count)
        do {
            try out.withUnsafeMutableBufferPointer { (b: inout UnsafeMutableBufferPointer<Float>) throws(Dequantize.Error) in
                try Dequantize.row(info.type, from: file.bytes(of: info).baseAddress!, count: count, into: b.baseAddress!)
            }
        } catch {
            throw .dequantize(name, error)
        }
        return out
    }
}
