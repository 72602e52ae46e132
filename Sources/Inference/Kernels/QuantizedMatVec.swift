/// y = W·x for a quantized weight matrix W (rows of `rowLength`) and a quantized activation x.
/// Each kernel has a scalar twin in `ScalarReference` that tests compare it with.
public enum QuantizedMatVec {
    /// Rows `rows` of `weights` (type `type`) times `x`, into `y[row]`.
    @inline(__always)
    public static func rows(
        _ rows: Range<Int>, type: GGMLType, weights: UnsafeRawPointer, rowBytes: Int,
        x: QuantizedActivation, y: UnsafeMutablePointer<Float>
    ) {
        let blocks = x.count / 32
        // Four rows at a time: the activation is read once for all four, and four independent
        // accumulation chains hide the latency of each row's fused multiply-adds.
        var r = rows.lowerBound
        switch type {
        case .q4_1:
            while r + 4 <= rows.upperBound {
                dotQ4_1x4(weights + r * rowBytes, rowBytes: rowBytes, x, blocks: blocks, into: y + r)
                r += 4
            }
            while r < rows.upperBound { y[r] = dotQ4_1(weights + r * rowBytes, x, blocks: blocks); r += 1 }
        case .q8_0:
            while r + 4 <= rows.upperBound {
                dotQ8_0x4(weights + r * rowBytes, rowBytes: rowBytes, x, blocks: blocks, into: y + r)
                r += 4
            }
            while r < rows.upperBound { y[r] = dotQ8_0(weights + r * rowBytes, x, blocks: blocks); r += 1 }
        case .q4_0:
            for r in rows { y[r] = dotQ4_0(weights + r * rowBytes, x, blocks: blocks) }
        default:
            preconditionFailure("no quantized kernel for \(type); the model loader routes it to the dequantizing path")
        }
    }

    // The kernels below keep llama.cpp's x86 order of floating-point operations: each block's
    // integer products are summed in eight lanes of four consecutive elements (lanes 0–3 from
    // elements 0–15, 4–7 from 16–31), each lane is accumulated across blocks with a fused
    // multiply-add by the block's combined scale, and the lanes are reduced pairwise at the end.
    // The model is sensitive enough to rounding that a different (equally exact) summation order
    // moves its top probabilities by a few hundredths.
    //
    // They avoid the standard library's generic SIMD conversions, which are not vectorized: bytes
    // are widened by loading pairs as 16-bit lanes and shifting, and integers become floats through
    // the exponent trick (see `exactFloat`). A block is one 256-bit vector of 16-bit lanes: the
    // even elements against the activation's even elements plus the odd against the odd.

    /// Lane j = sum of elements 4j…4j+3, given pair sums (lane i = elements 2i + 2i+1, with lanes
    /// 0–7 covering elements 0–15 and 8–15 covering 16–31).
    @inline(__always)
    static func quadSums(_ pairs: SIMD16<Int16>) -> SIMD8<Int32> {
        let x = unsafeBitCast(pairs, to: SIMD8<Int32>.self)
        return ((x &<< 16) &>> 16) &+ (x &>> 16)
    }

    /// Exactly Float(v) for |v| < 2²²: add v to the bits of 1.5·2²³, whose ulp is 1, and subtract it.
    @inline(__always)
    static func exactFloat(_ v: SIMD8<Int32>) -> SIMD8<Float> {
        unsafeBitCast(v &+ 0x4B40_0000, to: SIMD8<Float>.self) - 12_582_912
    }

    /// The pairwise reduction of eight lanes that llama.cpp's `hsum_float_8` performs.
    @inline(__always)
    static func horizontalSum(_ a: SIMD8<Float>) -> Float {
        let r = a.lowHalf + a.highHalf
        return (r[0] + r[2]) + (r[1] + r[3])
    }

    /// The activation block's (even, odd) elements.
    @inline(__always)
    static func activation(_ x: QuantizedActivation, block b: Int) -> (SIMD16<Int16>, SIMD16<Int16>) {
        let p = UnsafeRawPointer(x.pairs + b * 32)
        return (p.loadUnaligned(as: SIMD16<Int16>.self), p.loadUnaligned(fromByteOffset: 32, as: SIMD16<Int16>.self))
    }

    /// Quad sums of 16 nibble bytes (element j: low nibble of byte j, element 16+j: high nibble)
    /// minus `offset`, times the activation.
    @inline(__always)
    static func nibbleQuads(_ q: UnsafeRawPointer, _ a: (SIMD16<Int16>, SIMD16<Int16>), offset: Int16) -> SIMD8<Int32> {
        let (even, odd) = nibbles(q, offset: offset)
        return quadSums(even &* a.0 &+ odd &* a.1)
    }

    /// The 32 elements of 16 nibble bytes, minus `offset`, as (even elements, odd elements) in the
    /// activation's layout.
    @inline(__always)
    static func nibbles(_ q: UnsafeRawPointer, offset: Int16) -> (SIMD16<Int16>, SIMD16<Int16>) {
        let w = q.loadUnaligned(as: SIMD8<UInt16>.self)
        let both = SIMD16<UInt16>(lowHalf: w, highHalf: w)
        let m = SIMD16<UInt16>(repeating: 0x0F)
        let evenShift = SIMD16<UInt16>(0, 0, 0, 0, 0, 0, 0, 0, 4, 4, 4, 4, 4, 4, 4, 4)
        let oddShift = SIMD16<UInt16>(8, 8, 8, 8, 8, 8, 8, 8, 12, 12, 12, 12, 12, 12, 12, 12)
        let o = SIMD16<Int16>(repeating: offset)
        let even = unsafeBitCast((both &>> evenShift) & m, to: SIMD16<Int16>.self) &- o
        let odd = unsafeBitCast((both &>> oddShift) & m, to: SIMD16<Int16>.self) &- o
        return (even, odd)
    }

    /// Quad sums of 32 signed bytes times the activation. |pair sum| ≤ 2·128·127 = 32512 fits
    /// Int16 because activations stay within ±127.
    @inline(__always)
    static func byteQuads(_ q: UnsafeRawPointer, _ a: (SIMD16<Int16>, SIMD16<Int16>)) -> SIMD8<Int32> {
        let v = q.loadUnaligned(as: SIMD16<Int16>.self)
        return quadSums(((v &<< 8) &>> 8) &* a.0 &+ (v &>> 8) &* a.1)
    }

    @inline(__always)
    static func half(_ p: UnsafeRawPointer, _ offset: Int = 0) -> Float {
        Float(Float16(bitPattern: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
    }

    /// Accumulators of one row: eight lanes and, for Q4_1, the offset term.
    struct RowAccumulator {
        var lanes = SIMD8<Float>(), offsets: Float = 0
        var total: Float { horizontalSum(lanes) + offsets }

        @inline(__always) mutating func add(_ quads: SIMD8<Int32>, scale: Float) {
            lanes = lanes.addingProduct(SIMD8(repeating: scale), exactFloat(quads))
        }
    }

    @inline(__always)
    static func dotQ4_1(_ w: UnsafeRawPointer, _ x: QuantizedActivation, blocks: Int) -> Float {
        var acc = RowAccumulator()
        for b in 0..<blocks {
            let block = w + b * 20
            acc.offsets = acc.offsets.addingProduct(half(block, 2), x.sums[b])
            acc.add(nibbleQuads(block + 4, activation(x, block: b), offset: 0), scale: half(block) * x.scales[b])
        }
        return acc.total
    }

    @inline(__always)
    static func dotQ4_0(_ w: UnsafeRawPointer, _ x: QuantizedActivation, blocks: Int) -> Float {
        var acc = RowAccumulator()
        for b in 0..<blocks {
            let block = w + b * 18
            acc.add(nibbleQuads(block + 2, activation(x, block: b), offset: 8), scale: half(block) * x.scales[b])
        }
        return acc.total
    }

    @inline(__always)
    static func dotQ8_0(_ w: UnsafeRawPointer, _ x: QuantizedActivation, blocks: Int) -> Float {
        var acc = RowAccumulator()
        for b in 0..<blocks {
            let block = w + b * 34
            acc.add(byteQuads(block + 2, activation(x, block: b)), scale: half(block) * x.scales[b])
        }
        return acc.total
    }

    @inline(__always)
    static func dotQ4_1x4(_ w: UnsafeRawPointer, rowBytes: Int, _ x: QuantizedActivation, blocks: Int, into y: UnsafeMutablePointer<Float>) {
        var acc = (RowAccumulator(), RowAccumulator(), RowAccumulator(), RowAccumulator())
        @inline(__always) func step(_ row: inout RowAccumulator, _ block: UnsafeRawPointer, _ a: (SIMD16<Int16>, SIMD16<Int16>), _ sx: Float, _ sum: Float) {
            row.offsets = row.offsets.addingProduct(half(block, 2), sum)
            row.add(nibbleQuads(block + 4, a, offset: 0), scale: half(block) * sx)
        }
        for b in 0..<blocks {
            let a = activation(x, block: b), sx = x.scales[b], sum = x.sums[b]
            let block = w + b * 20
            step(&acc.0, block, a, sx, sum)
            step(&acc.1, block + rowBytes, a, sx, sum)
            step(&acc.2, block + 2 * rowBytes, a, sx, sum)
            step(&acc.3, block + 3 * rowBytes, a, sx, sum)
        }
        y[0] = acc.0.total; y[1] = acc.1.total; y[2] = acc.2.total; y[3] = acc.3.total
    }

    @inline(__always)
    static func dotQ8_0x4(_ w: UnsafeRawPointer, rowBytes: Int, _ x: QuantizedActivation, blocks: Int, into y: UnsafeMutablePointer<Float>) {
        var acc = (RowAccumulator(), RowAccumulator(), RowAccumulator(), RowAccumulator())
        for b in 0..<blocks {
            let a = activation(x, block: b), sx = x.scales[b]
            let block = w + b * 34
            acc.0.add(byteQuads(block + 2, a), scale: half(block) * sx)
            acc.1.add(byteQuads(block + rowBytes + 2, a), scale: half(block + rowBytes) * sx)
            acc.2.add(byteQuads(block + 2 * rowBytes + 2, a), scale: half(block + 2 * rowBytes) * sx)
            acc.3.add(byteQuads(block + 3 * rowBytes + 2, a), scale: half(block + 3 * rowBytes) * sx)
        }
        y[0] = acc.0.total; y[1] = acc.1.total; y[2] = acc.2.total; y[3] = acc.3.total
    }

    /// Whether `type` has an integer kernel here (others are dequantized to F32 at load).
    public static func supports(_ type: GGMLType) -> Bool {
        switch type {
        case .q4_1, .q8_0, .q4_0: true
        default: false
        }
    }
}
