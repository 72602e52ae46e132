/// A weight matrix as the kernels see it: rows of `columns` elements, either quantized bytes
/// viewed in the mapped file, or F32 values (formats without an integer kernel are dequantized at load).
public struct WeightMatrix: @unchecked Sendable {
    public let rows: Int
    public let columns: Int
    public let type: GGMLType
    public let bytes: UnsafeRawPointer
    public let rowBytes: Int
    /// The rows regrouped by four for the kernels, when the format has them; `bytes` still views
    /// the file (for the odd rows past the last group, and embedding lookups).
    let groups: RowGroups?

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
    /// `used: false` (a layer another pipeline rank runs) only checks the tensor and views it: no copy,
    /// no dequantization, and its pages are never touched.
    static func load(_ name: String, from file: GGUFFile, rows: Int, columns: Int, regroup: Bool = true, used: Bool = true,
                     owner: inout [UnsafeMutableRawPointer]) throws(Error) -> WeightMatrix {
        guard let info = file.tensor(named: name) else { throw .missing(name) }
        guard info.rowLength == columns, info.rowCount == rows else { throw .shape(name, expected: [columns, rows], got: info.dimensions) }
        let raw = file.bytes(of: info)
        if !used {
            return WeightMatrix(rows: rows, columns: columns, type: info.type, bytes: raw.baseAddress!, rowBytes: info.rowBytes, groups: nil)
        }
        if regroup, RowGroups.supports(info.type) {
            let groups = RowGroups(type: info.type, rows: rows, columns: columns, source: raw.baseAddress!, rowBytes: info.rowBytes)
            owner.append(groups.bytes)
            // The kernels read the copy: the file's pages need not stay resident.
            file.releasePages(of: info)
            return WeightMatrix(rows: rows, columns: columns, type: info.type, bytes: raw.baseAddress!, rowBytes: info.rowBytes, groups: groups)
        }
        if info.type == .f32 || QuantizedMatVec.supports(info.type) {
            return WeightMatrix(rows: rows, columns: columns, type: info.type, bytes: raw.baseAddress!, rowBytes: info.rowBytes, groups: nil)
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
        return WeightMatrix(rows: rows, columns: columns, type: .f32, bytes: UnsafeRawPointer(floats), rowBytes: columns * 4, groups: nil)
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

extension WeightMatrix {
    /// Rows `range` times the quantized activation `x`, into y[row]: whole groups of four through
    /// the regrouped kernel, any other rows through the row kernel (same bits either way).
    @inline(__always)
    func multiply(_ range: Range<Int>, x: QuantizedActivation, y: UnsafeMutablePointer<Float>) {
        let (grouped, rest) = split(range)
        if let groups, !grouped.isEmpty { groups.multiply(groups: grouped, x: x, y: y) }
        if !rest.isEmpty { QuantizedMatVec.rows(rest, type: type, weights: bytes, rowBytes: rowBytes, x: x, y: y) }
    }

    /// Rows `range` times each token of `xs`: y[t · stride + row].
    @inline(__always)
    func multiply(_ range: Range<Int>, xs: QuantizedBatch, y: UnsafeMutablePointer<Float>, stride: Int) {
        let (grouped, rest) = split(range)
        if let groups, !grouped.isEmpty { groups.multiply(groups: grouped, xs: xs, y: y, stride: stride) }
        if !rest.isEmpty { QuantizedMatMat.rows(rest, type: type, weights: bytes, rowBytes: rowBytes, xs: xs, y: y, stride: stride) }
    }

    /// The groups whose four rows all lie in `range`, and the rows after them. Ranges from
    /// `ThreadPool` start at multiples of 16, so only a matrix's last rows % 4 are left over.
    private func split(_ range: Range<Int>) -> (groups: Range<Int>, rest: Range<Int>) {
        guard let groups, range.lowerBound % 4 == 0 else { return (0..<0, range) }
        let end = min(range.upperBound, groups.groupedRows) / 4
        let first = range.lowerBound / 4
        guard end > first else { return (0..<0, range) }
        return (first..<end, (end * 4)..<range.upperBound)
    }
}
