/// A weight matrix as the kernels see it: rows of `columns` elements, either quantized bytes
/// viewed in the mapped file (regrouped by four rows for the formats that have such kernels), or
/// F32 values (formats without an integer kernel, Q2_K and Q3_K, are dequantized at load).
public struct WeightMatrix: @unchecked Sendable {
    public let rows: Int
    public let columns: Int
    public let type: GGMLType
    /// Rows in `type`: the file's (or, for formats without kernels, a Float32 copy). With row groups
    /// the kernels read them only for rows past the last group of four.
    public let bytes: UnsafeRawPointer
    public let rowBytes: Int
    /// The tensor as stored in the file (embedding lookups read these rows). Its type differs from
    /// `type` when the format was dequantized for want of a kernel.
    let fileRows: (type: GGMLType, bytes: UnsafeRawPointer, rowBytes: Int)
    /// The rows regrouped by four for the kernels, when the format has them.
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
    /// `used: false` (a layer another pipeline rank runs, or an embedding only looked up) only
    /// checks the tensor and views it: no copy, and its pages are touched only by lookups.
    static func load(_ name: String, from file: GGUFFile, rows: Int, columns: Int, regroup: Bool = true, used: Bool = true,
                     owner: inout [UnsafeMutableRawPointer]) throws(Error) -> WeightMatrix {
        guard let info = file.tensor(named: name) else { throw .missing(name) }
        guard info.rowLength == columns, info.rowCount == rows else { throw .shape(name, expected: [columns, rows], got: info.dimensions) }
        let raw = file.bytes(of: info).baseAddress!
        let fileRows = (type: info.type, bytes: UnsafeRawPointer(raw), rowBytes: info.rowBytes)
        if !used {
            return WeightMatrix(rows: rows, columns: columns, type: info.type, bytes: raw, rowBytes: info.rowBytes, fileRows: fileRows, groups: nil)
        }
        let type = info.type, bytes = raw, rowBytes = info.rowBytes
        if regroup, RowGroups.supports(type) {
            let groups = RowGroups(type: type, rows: rows, columns: columns, source: bytes, rowBytes: rowBytes)
            owner.append(groups.bytes)
            // The kernels read the copy: the file's pages need not stay resident.
            file.releasePages(of: info)
            return WeightMatrix(rows: rows, columns: columns, type: type, bytes: bytes, rowBytes: rowBytes, fileRows: fileRows, groups: groups)
        }
        if type == .f32 || QuantizedMatVec.supports(type) || KQuantMatMul.supports(type) {
            // The kernels read the file's own blocks, in place.
            return WeightMatrix(rows: rows, columns: columns, type: type, bytes: bytes, rowBytes: rowBytes, fileRows: fileRows, groups: nil)
        }
        // No integer kernel for this format: dequantize once into an owned F32 copy.
        let floats = UnsafeMutablePointer<Float>.allocate(capacity: rows * columns)
        do {
            for r in 0..<rows {
                try Dequantize.row(type, from: bytes + r * rowBytes, count: columns, into: floats + r * columns)
            }
        } catch {
            floats.deallocate()
            throw .dequantize(name, error)
        }
        owner.append(UnsafeMutableRawPointer(floats))
        return WeightMatrix(rows: rows, columns: columns, type: .f32, bytes: UnsafeRawPointer(floats), rowBytes: columns * 4, fileRows: fileRows, groups: nil)
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
        if KQuantMatMul.supports(type) {
            KQuantMatMul.rows(range, type: type, weights: bytes, rowBytes: rowBytes, x: x.kView, tokens: 1, columns: columns, y: y, stride: 0)
            return
        }
        let (grouped, rest) = split(range)
        if let groups, !grouped.isEmpty { groups.multiply(groups: grouped, x: x, y: y) }
        if !rest.isEmpty { QuantizedMatVec.rows(rest, type: type, weights: bytes, rowBytes: rowBytes, x: x, y: y) }
    }

    /// Rows `range` times each token of `xs`: y[t · stride + row].
    @inline(__always)
    func multiply(_ range: Range<Int>, xs: QuantizedBatch, y: UnsafeMutablePointer<Float>, stride: Int) {
        if KQuantMatMul.supports(type) {
            KQuantMatMul.rows(range, type: type, weights: bytes, rowBytes: rowBytes, x: xs.kViews, tokens: xs.tokens, columns: columns, y: y, stride: stride)
            return
        }
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

extension WeightMatrix {
    /// A matrix whose file rows are its kernel rows (nothing transcoded).
    init(rows: Int, columns: Int, type: GGMLType, bytes: UnsafeRawPointer, rowBytes: Int, groups: RowGroups?) {
        self.init(rows: rows, columns: columns, type: type, bytes: bytes, rowBytes: rowBytes,
                  fileRows: (type, bytes, rowBytes), groups: groups)
    }
}
