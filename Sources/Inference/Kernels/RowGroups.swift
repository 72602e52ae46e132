/// Quantized weights regrouped four rows at a time, the layout the decode and prefill kernels
/// stream: for each group of four rows, block by block, the four rows' Float16 scales side by side
/// (and for Q4_1 their four minimums), then the rows' quants reordered so that a few plain vector
/// operations give a block's even elements and its odd elements as 16-bit lanes, the layout of
/// `QuantizedActivation`. 4-bit rows go in pairs, byte by byte, so one 32-byte load holds four
/// nibbles per 16-bit lane (row r even, row r odd, row r + 1 even, row r + 1 odd) that a mask and
/// shifts take apart — no zero extension, none of the variable shifts AVX2 lacks. Q8_0 rows hold
/// their 16 even bytes, then their 16 odd ones, for two sign-extending loads. A group's blocks are
/// contiguous, so a kernel reads one sequential stream instead of four rows far apart.
///
/// Only the integer part of each block changes its instructions, and integer sums are exact in
/// any order: the float operations — each block's scale product, the fused multiply-add per lane,
/// the final pairwise reduction — are `QuantizedMatVec`'s, in its order, so results are bit for bit
/// those of the row-by-row kernels (tested).
protocol RowGroupFormat: WeightBlockFormat {
    /// Bytes of one block of four rows, regrouped (the same as four blocks of the original).
    static var groupBytes: Int { get }
    static var hasOffset: Bool { get }
    /// Writes block `b` of the four rows starting at `rows` (rows `rowBytes` apart) into `out`.
    static func regroup(block b: Int, rows: UnsafeRawPointer, rowBytes: Int, into out: UnsafeMutableRawPointer)
    /// Row `row`'s integer products with the activation block `a`, summed over quads of elements.
    static func quads(_ group: UnsafeRawPointer, row: Int, _ a: (SIMD16<Int16>, SIMD16<Int16>)) -> SIMD8<Int32>
}

/// Sixteen bytes sign-extended to 16-bit lanes, written element by element: LLVM makes it one
/// vpmovsxbw, where the standard library's generic conversion is an out-of-line call.
@inline(__always) func widen(_ b: SIMD16<Int8>) -> SIMD16<Int16> {
    SIMD16<Int16>(Int16(b[0]), Int16(b[1]), Int16(b[2]), Int16(b[3]), Int16(b[4]), Int16(b[5]), Int16(b[6]), Int16(b[7]),
                  Int16(b[8]), Int16(b[9]), Int16(b[10]), Int16(b[11]), Int16(b[12]), Int16(b[13]), Int16(b[14]), Int16(b[15]))
}

/// Element k (0..<32) of a block's nibbles in ggml's order: byte k holds element k in its low
/// nibble and element k + 16 in its high one.
@inline(__always) private func nibble(_ q: UnsafeRawPointer, _ k: Int) -> UInt8 {
    let byte = q.load(fromByteOffset: k % 16, as: UInt8.self)
    return k < 16 ? byte & 0x0F : byte >> 4
}

/// Regrouped nibbles of row `row` (0..<4) into a group block's quants at `out`: byte 2l + row % 2
/// of the row pair's 32 bytes holds element 2l in its low nibble and element 2l + 1 in its high one.
private func regroupNibbles(_ q: UnsafeRawPointer, row: Int, into out: UnsafeMutableRawPointer) {
    let pair = out + (row / 2) * 32 + row % 2
    for l in 0..<16 { pair.storeBytes(of: nibble(q, 2 * l) | nibble(q, 2 * l + 1) << 4, toByteOffset: 2 * l, as: UInt8.self) }
}

/// Quads of row `row` of a group block whose quants are at `q`, minus `offset` per weight.
@inline(__always) private func nibbleQuads(_ q: UnsafeRawPointer, row: Int, offset: Int16, _ a: (SIMD16<Int16>, SIMD16<Int16>)) -> SIMD8<Int32> {
    let v = q.loadUnaligned(fromByteOffset: (row / 2) * 32, as: SIMD16<UInt16>.self)
    let m = SIMD16<UInt16>(repeating: 0x0F)
    let (evenBits, oddBits) = row % 2 == 0 ? (v & m, (v &>> 4) & m) : ((v &>> 8) & m, v &>> 12)
    let even = unsafeBitCast(evenBits, to: SIMD16<Int16>.self) &- offset
    let odd = unsafeBitCast(oddBits, to: SIMD16<Int16>.self) &- offset
    return narrowQuadSums(even &* a.0 &+ odd &* a.1)
}

/// `QuantizedMatVec.quadSums` in two shifts instead of three, for sums that fit Int16 (4-bit
/// weights: |quad| ≤ 4·15·127): x + (x << 16) holds low + high in its upper half.
@inline(__always) private func narrowQuadSums(_ pairs: SIMD16<Int16>) -> SIMD8<Int32> {
    let x = unsafeBitCast(pairs, to: SIMD8<Int32>.self)
    return (x &+ (x &<< 16)) &>> 16
}

private func copyHalf(from source: UnsafeRawPointer, into out: UnsafeMutableRawPointer, at offset: Int) {
    out.storeBytes(of: source.loadUnaligned(as: UInt16.self), toByteOffset: offset, as: UInt16.self)
}

extension Q4_1Block: RowGroupFormat {
    static var groupBytes: Int { 80 }
    static var hasOffset: Bool { true }
    static func regroup(block b: Int, rows: UnsafeRawPointer, rowBytes: Int, into out: UnsafeMutableRawPointer) {
        for i in 0..<4 {
            let block = rows + i * rowBytes + b * bytes
            copyHalf(from: block, into: out, at: 2 * i)
            copyHalf(from: block + 2, into: out, at: 8 + 2 * i)
            regroupNibbles(block + 4, row: i, into: out + 16)
        }
    }
    @inline(__always) static func quads(_ group: UnsafeRawPointer, row: Int, _ a: (SIMD16<Int16>, SIMD16<Int16>)) -> SIMD8<Int32> {
        nibbleQuads(group + 16, row: row, offset: 0, a)
    }
}

extension Q4_0Block: RowGroupFormat {
    static var groupBytes: Int { 72 }
    static var hasOffset: Bool { false }
    static func regroup(block b: Int, rows: UnsafeRawPointer, rowBytes: Int, into out: UnsafeMutableRawPointer) {
        for i in 0..<4 {
            let block = rows + i * rowBytes + b * bytes
            copyHalf(from: block, into: out, at: 2 * i)
            regroupNibbles(block + 2, row: i, into: out + 8)
        }
    }
    @inline(__always) static func quads(_ group: UnsafeRawPointer, row: Int, _ a: (SIMD16<Int16>, SIMD16<Int16>)) -> SIMD8<Int32> {
        nibbleQuads(group + 8, row: row, offset: 8, a)
    }
}

extension Q8_0Block: RowGroupFormat {
    static var groupBytes: Int { 136 }
    static var hasOffset: Bool { false }
    /// Quants regrouped as the 16 even elements, then the 16 odd ones.
    static func regroup(block b: Int, rows: UnsafeRawPointer, rowBytes: Int, into out: UnsafeMutableRawPointer) {
        for i in 0..<4 {
            let block = rows + i * rowBytes + b * bytes
            copyHalf(from: block, into: out, at: 2 * i)
            let q = out + 8 + 32 * i
            for l in 0..<16 {
                q.storeBytes(of: block.load(fromByteOffset: 2 + 2 * l, as: UInt8.self), toByteOffset: l, as: UInt8.self)
                q.storeBytes(of: block.load(fromByteOffset: 3 + 2 * l, as: UInt8.self), toByteOffset: 16 + l, as: UInt8.self)
            }
        }
    }
    @inline(__always) static func quads(_ group: UnsafeRawPointer, row: Int, _ a: (SIMD16<Int16>, SIMD16<Int16>)) -> SIMD8<Int32> {
        let q = group + 8 + 32 * row
        let even = widen(q.loadUnaligned(as: SIMD16<Int8>.self))
        let odd = widen(q.loadUnaligned(fromByteOffset: 16, as: SIMD16<Int8>.self))
        // |pair sum| ≤ 2·128·127 fits Int16, as in the row kernel.
        return QuantizedMatVec.quadSums(even &* a.0 &+ odd &* a.1)
    }
}

/// A quantized matrix's rows regrouped by four (the last rows % 4 stay in the original layout),
/// in memory it owns.
struct RowGroups: @unchecked Sendable {
    let type: GGMLType
    /// Rows covered by groups: a multiple of 4.
    let groupedRows: Int
    let blocks: Int
    let bytes: UnsafeMutableRawPointer

    static func supports(_ type: GGMLType) -> Bool {
        switch type {
        case .q4_1, .q4_0, .q8_0: true
        default: false
        }
    }

    /// Regroups rows 0..<(rows rounded down to 4) of a rows × columns matrix of `type` at `source`.
    init(type: GGMLType, rows: Int, columns: Int, source: UnsafeRawPointer, rowBytes: Int) {
        precondition(Self.supports(type) && columns % 32 == 0)
        self.type = type
        groupedRows = rows / 4 * 4
        blocks = columns / 32
        bytes = .allocate(byteCount: max(1, groupedRows * rowBytes), alignment: 64)
        switch type {
        case .q4_1: Self.regroup(Q4_1Block.self, groups: groupedRows / 4, blocks: blocks, source: source, rowBytes: rowBytes, into: bytes)
        case .q4_0: Self.regroup(Q4_0Block.self, groups: groupedRows / 4, blocks: blocks, source: source, rowBytes: rowBytes, into: bytes)
        case .q8_0: Self.regroup(Q8_0Block.self, groups: groupedRows / 4, blocks: blocks, source: source, rowBytes: rowBytes, into: bytes)
        default: preconditionFailure("no row groups for \(type)")
        }
    }

    func deallocate() { bytes.deallocate() }

    private static func regroup<Format: RowGroupFormat>(
        _: Format.Type, groups: Int, blocks: Int, source: UnsafeRawPointer, rowBytes: Int, into out: UnsafeMutableRawPointer
    ) {
        for g in 0..<groups {
            for b in 0..<blocks {
                Format.regroup(block: b, rows: source + 4 * g * rowBytes, rowBytes: rowBytes, into: out + (g * blocks + b) * Format.groupBytes)
            }
        }
    }

    /// Groups `groups` times `x`: y[4g…4g+3] for each group g.
    @inline(__always)
    func multiply(groups: Range<Int>, x: QuantizedActivation, y: UnsafeMutablePointer<Float>) {
        multiply(groups: groups, x: x.view, y: y)
    }

    @inline(__always)
    private func multiply(groups: Range<Int>, x: ActivationView, y: UnsafeMutablePointer<Float>) {
        switch type {
        case .q4_1: for g in groups { Self.group(Q4_1Block.self, bytes + g * blocks * Q4_1Block.groupBytes, blocks: blocks, x: x, y: y + 4 * g) }
        case .q4_0: for g in groups { Self.group(Q4_0Block.self, bytes + g * blocks * Q4_0Block.groupBytes, blocks: blocks, x: x, y: y + 4 * g) }
        case .q8_0: for g in groups { Self.group(Q8_0Block.self, bytes + g * blocks * Q8_0Block.groupBytes, blocks: blocks, x: x, y: y + 4 * g) }
        default: preconditionFailure("no row groups for \(type)")
        }
    }

    /// Groups `groups` times each token of `xs`: y[t · stride + 4g…]. Each group's weights are
    /// read from memory once and stay in cache for every token.
    @inline(__always)
    func multiply(groups: Range<Int>, xs: QuantizedBatch, y: UnsafeMutablePointer<Float>, stride: Int) {
        for g in groups {
            for t in 0..<xs.tokens { multiply(groups: g..<(g + 1), x: xs.view(token: t), y: y + t * stride) }
        }
    }

    /// Four rows times `x`, with `QuantizedMatVec.RowAccumulator`'s float operations in its order:
    /// per block the scale product d·dx, one fused multiply-add per lane, for Q4_1 the offset
    /// m·s fused into its own sum; at the end the pairwise reduction plus the offset sum.
    @inline(__always)
    private static func group<Format: RowGroupFormat>(_: Format.Type, _ group: UnsafeRawPointer, blocks: Int, x: ActivationView, y: UnsafeMutablePointer<Float>) {
        var l0 = SIMD8<Float>(), l1 = SIMD8<Float>(), l2 = SIMD8<Float>(), l3 = SIMD8<Float>()
        var offsets = SIMD4<Float>()
        var p = group
        for b in 0..<blocks {
            let a = x.block(b)
            let d = SIMD4<Float>(p.loadUnaligned(as: SIMD4<Float16>.self)) * x.scales[b]
            if Format.hasOffset {
                offsets = offsets.addingProduct(SIMD4<Float>(p.loadUnaligned(fromByteOffset: 8, as: SIMD4<Float16>.self)), x.sums[b])
            }
            l0 = l0.addingProduct(SIMD8(repeating: d[0]), QuantizedMatVec.exactFloat(Format.quads(p, row: 0, a)))
            l1 = l1.addingProduct(SIMD8(repeating: d[1]), QuantizedMatVec.exactFloat(Format.quads(p, row: 1, a)))
            l2 = l2.addingProduct(SIMD8(repeating: d[2]), QuantizedMatVec.exactFloat(Format.quads(p, row: 2, a)))
            l3 = l3.addingProduct(SIMD8(repeating: d[3]), QuantizedMatVec.exactFloat(Format.quads(p, row: 3, a)))
            p += Format.groupBytes
        }
        y[0] = QuantizedMatVec.horizontalSum(l0) + offsets[0]
        y[1] = QuantizedMatVec.horizontalSum(l1) + offsets[1]
        y[2] = QuantizedMatVec.horizontalSum(l2) + offsets[2]
        y[3] = QuantizedMatVec.horizontalSum(l3) + offsets[3]
    }
}

/// A quantized activation's buffers, without the reference counting of the class that owns them.
struct ActivationView {
    let pairs: UnsafeMutablePointer<Int16>
    let scales: UnsafeMutablePointer<Float>
    let sums: UnsafeMutablePointer<Float>

    /// Block b's (even, odd) elements.
    @inline(__always) func block(_ b: Int) -> (SIMD16<Int16>, SIMD16<Int16>) {
        let p = UnsafeRawPointer(pairs + b * 32)
        return (p.loadUnaligned(as: SIMD16<Int16>.self), p.loadUnaligned(fromByteOffset: 32, as: SIMD16<Int16>.self))
    }
}

extension QuantizedActivation {
    var view: ActivationView { ActivationView(pairs: pairs, scales: scales, sums: sums) }
}

extension QuantizedBatch {
    @inline(__always) func view(token t: Int) -> ActivationView { ActivationView(pairs: pairs[t], scales: scales[t], sums: sums[t]) }
}
