/// y = W·x for a quantized weight matrix W (rows of `rowLength`) and a quantized activation x.
/// The scalar twin the tests compare these kernels with is `Dequantize` followed by a plain dot.
public enum QuantizedMatVec {
    /// Rows `rows` of `weights` (type `type`) times `x`, into `y[row]`.
    @inline(__always)
    public static func rows(
        _ rows: Range<Int>, type: GGMLType, weights: UnsafeRawPointer, rowBytes: Int,
        x: QuantizedActivation, y: UnsafeMutablePointer<Float>
    ) {
        switch type {
        case .q4_1: self.rows(Q4_1Block.self, rows, weights: weights, rowBytes: rowBytes, x: x, y: y)
        case .q8_0: self.rows(Q8_0Block.self, rows, weights: weights, rowBytes: rowBytes, x: x, y: y)
        case .q4_0: self.rows(Q4_0Block.self, rows, weights: weights, rowBytes: rowBytes, x: x, y: y)
        case .q5_0: self.rows(Q5_0Block.self, rows, weights: weights, rowBytes: rowBytes, x: x, y: y)
        case .q5_1: self.rows(Q5_1Block.self, rows, weights: weights, rowBytes: rowBytes, x: x, y: y)
        default:
            preconditionFailure("no quantized kernel for \(type); the model loader routes it to the dequantizing path")
        }
    }

    /// Four rows at a time: the activation is read once for all four, and four independent
    /// accumulation chains hide the latency of each row's fused multiply-adds.
    @inline(__always)
    static func rows<Format: WeightBlockFormat>(
        _ format: Format.Type, _ rows: Range<Int>, weights: UnsafeRawPointer, rowBytes: Int,
        x: QuantizedActivation, y: UnsafeMutablePointer<Float>
    ) {
        let blocks = x.count / 32
        var r = rows.lowerBound
        while r + 4 <= rows.upperBound {
            var acc = (RowAccumulator(), RowAccumulator(), RowAccumulator(), RowAccumulator())
            let row = weights + r * rowBytes
            for b in 0..<blocks {
                let a = activation(x, block: b), sx = x.scales[b], sum = x.sums[b]
                let block = row + b * Format.bytes
                acc.0.add(Format.load(block), a, scale: sx, sum: sum)
                acc.1.add(Format.load(block + rowBytes), a, scale: sx, sum: sum)
                acc.2.add(Format.load(block + 2 * rowBytes), a, scale: sx, sum: sum)
                acc.3.add(Format.load(block + 3 * rowBytes), a, scale: sx, sum: sum)
            }
            y[r] = acc.0.total; y[r + 1] = acc.1.total; y[r + 2] = acc.2.total; y[r + 3] = acc.3.total
            r += 4
        }
        while r < rows.upperBound {
            var acc = RowAccumulator()
            let row = weights + r * rowBytes
            for b in 0..<blocks {
                acc.add(Format.load(row + b * Format.bytes), activation(x, block: b), scale: x.scales[b], sum: x.sums[b])
            }
            y[r] = acc.total
            r += 1
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

    /// Float(v) lane by lane, written element by element: LLVM makes it one vcvtdq2ps, where the
    /// standard library's generic SIMD conversion stays an out-of-line call. (Exact: the quad sums
    /// it converts are far below 2²⁴.)
    @inline(__always)
    static func exactFloat(_ v: SIMD8<Int32>) -> SIMD8<Float> {
        SIMD8<Float>(Float(v[0]), Float(v[1]), Float(v[2]), Float(v[3]), Float(v[4]), Float(v[5]), Float(v[6]), Float(v[7]))
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

    /// The 32 signed bytes at `q` as (even elements, odd elements) in the activation's layout.
    /// Products with activations fit Int16 pair sums: |pair sum| ≤ 2·128·127 = 32512, because
    /// activations stay within ±127.
    @inline(__always)
    static func signedBytes(_ q: UnsafeRawPointer) -> (SIMD16<Int16>, SIMD16<Int16>) {
        let v = q.loadUnaligned(as: SIMD16<Int16>.self)
        return ((v &<< 8) &>> 8, v &>> 8)
    }

    @inline(__always)
    static func half(_ p: UnsafeRawPointer, _ offset: Int = 0) -> Float {
        Float(Float16(bitPattern: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
    }

    /// Accumulators of one row: eight lanes and, for Q4_1, the offset term.
    struct RowAccumulator {
        var lanes = SIMD8<Float>(), offsets: Float = 0
        var total: Float { horizontalSum(lanes) + offsets }

        /// Adds one block's products with the activation block `a` (scale `scale`, Q8_1 sum `sum`).
        @inline(__always) mutating func add(_ w: WeightBlock, _ a: (SIMD16<Int16>, SIMD16<Int16>), scale: Float, sum: Float) {
            if let m = w.offset { offsets = offsets.addingProduct(m, sum) }
            lanes = lanes.addingProduct(SIMD8(repeating: w.scale * scale), exactFloat(quadSums(w.even &* a.0 &+ w.odd &* a.1)))
        }
    }

    /// Whether `type` has an integer kernel here (K-quants have `KQuantMatMul`; others are dequantized to F32 at load).
    public static func supports(_ type: GGMLType) -> Bool {
        switch type {
        case .q4_1, .q8_0, .q4_0, .q5_0, .q5_1: true
        default: false
        }
    }
}

/// One weight block as the kernels use it: its 32 elements split like the activation (even, odd),
/// its scale, and for formats with a minimum (Q4_1) its offset.
struct WeightBlock {
    var even: SIMD16<Int16>
    var odd: SIMD16<Int16>
    var scale: Float
    var offset: Float?
}

/// A block format with an integer kernel: its size and how a block is unpacked.
protocol WeightBlockFormat {
    static var bytes: Int { get }
    static func load(_ block: UnsafeRawPointer) -> WeightBlock
}

/// Q4_1: Float16 scale d, Float16 minimum m, 16 bytes of nibbles; x = d·q + m.
enum Q4_1Block: WeightBlockFormat {
    static let bytes = 20
    @inline(__always) static func load(_ block: UnsafeRawPointer) -> WeightBlock {
        let (even, odd) = QuantizedMatVec.nibbles(block + 4, offset: 0)
        return WeightBlock(even: even, odd: odd, scale: QuantizedMatVec.half(block), offset: QuantizedMatVec.half(block, 2))
    }
}

/// Q4_0: Float16 scale d, 16 bytes of nibbles; x = d·(q − 8).
enum Q4_0Block: WeightBlockFormat {
    static let bytes = 18
    @inline(__always) static func load(_ block: UnsafeRawPointer) -> WeightBlock {
        let (even, odd) = QuantizedMatVec.nibbles(block + 2, offset: 8)
        return WeightBlock(even: even, odd: odd, scale: QuantizedMatVec.half(block), offset: nil)
    }
}

/// Q8_0: Float16 scale d, 32 signed bytes; x = d·q.
enum Q8_0Block: WeightBlockFormat {
    static let bytes = 34
    @inline(__always) static func load(_ block: UnsafeRawPointer) -> WeightBlock {
        let (even, odd) = QuantizedMatVec.signedBytes(block + 2)
        return WeightBlock(even: even, odd: odd, scale: QuantizedMatVec.half(block), offset: nil)
    }
}

/// The fifth bits of a Q5_0/Q5_1 block (a little-endian UInt32, bit i for element i) as 16 in the
/// activation's (even, odd) lanes: even lane i is element 2i, which for i ≥ 8 is bit 2i − 16 of the upper half.
@inline(__always) func fifthBits(_ qh: UInt32) -> (SIMD16<Int16>, SIMD16<Int16>) {
    let halves = SIMD16<UInt16>(lowHalf: SIMD8(repeating: UInt16(truncatingIfNeeded: qh)), highHalf: SIMD8(repeating: UInt16(truncatingIfNeeded: qh >> 16)))
    let evenShift = SIMD16<UInt16>(0, 2, 4, 6, 8, 10, 12, 14, 0, 2, 4, 6, 8, 10, 12, 14)
    let even = ((halves &>> evenShift) & 1) &<< 4, odd = ((halves &>> (evenShift &+ 1)) & 1) &<< 4
    return (unsafeBitCast(even, to: SIMD16<Int16>.self), unsafeBitCast(odd, to: SIMD16<Int16>.self))
}

/// Q5_0: Float16 scale d, 4 bytes of fifth bits, 16 bytes of nibbles; x = d·(q − 16). llama.cpp's
/// `ggml_vec_dot_q5_0_q8_0` has Q4_0's float order.
enum Q5_0Block: WeightBlockFormat {
    static let bytes = 22
    @inline(__always) static func load(_ block: UnsafeRawPointer) -> WeightBlock {
        let (even, odd) = QuantizedMatVec.nibbles(block + 6, offset: 16)
        let (evenHigh, oddHigh) = fifthBits(block.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
        return WeightBlock(even: even &+ evenHigh, odd: odd &+ oddHigh, scale: QuantizedMatVec.half(block), offset: nil)
    }
}

/// Q5_1: Float16 scale d and minimum m, 4 bytes of fifth bits, 16 bytes of nibbles; x = d·q + m
/// (Q4_1's float order, `ggml_vec_dot_q5_1_q8_1`).
enum Q5_1Block: WeightBlockFormat {
    static let bytes = 24
    @inline(__always) static func load(_ block: UnsafeRawPointer) -> WeightBlock {
        let (even, odd) = QuantizedMatVec.nibbles(block + 8, offset: 0)
        let (evenHigh, oddHigh) = fifthBits(block.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        return WeightBlock(even: even &+ evenHigh, odd: odd &+ oddHigh, scale: QuantizedMatVec.half(block), offset: QuantizedMatVec.half(block, 2))
    }
}
