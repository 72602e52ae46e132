/// An activation vector quantized to 8 bits in blocks of 32, as llama.cpp does before a quantized
/// dot product (Q8_0 for Q8_0/Q4_0 weights, Q8_1 — with the block sum — for Q4_1 weights).
/// Scales are rounded through Float16 exactly as ggml stores them, so results track llama.cpp's.
/// Buffers are allocated once; `quantize` allocates nothing.
public final class QuantizedActivation: @unchecked Sendable {
    public let capacity: Int
    public private(set) var count = 0
    /// The quantized values widened to Int16 in the layout the kernels consume, 32 per block: the
    /// even elements 0, 2, …, 30, then the odd ones 1, 3, …, 31 (see `value(at:)` for element i).
    public let pairs: UnsafeMutablePointer<Int16>
    public let scales: UnsafeMutablePointer<Float>
    /// scale × sum of the block's quantized values (Q8_1's `s`).
    public let sums: UnsafeMutablePointer<Float>
    /// The same vector quantized for K-quant weights (Q8_K), when `quantizesK` and the count is a multiple of 256.
    public let k: Q8KActivation
    /// `k`'s view, where the K-quant kernels read it.
    let kView: UnsafeMutablePointer<Q8KView>
    /// Whether `quantize` also fills `k` (set for models with K-quant weights).
    public var quantizesK = false

    public init(capacity: Int) {
        self.capacity = capacity
        pairs = .allocate(capacity: capacity + 64)
        scales = .allocate(capacity: capacity / 32 + 1)
        sums = .allocate(capacity: capacity / 32 + 1)
        k = Q8KActivation(capacity: capacity / 256 * 256)
        kView = .allocate(capacity: 1)
        kView.initialize(to: k.view)
    }

    deinit {
        kView.deallocate()
        pairs.deallocate()
        scales.deallocate()
        sums.deallocate()
    }

    /// Quantized element `i`, read back from the kernels' layout.
    public func value(at i: Int) -> Int8 {
        let block = pairs + (i / 32) * 32, e = i % 32
        return Int8(truncatingIfNeeded: block[(e % 2) * 16 + e / 2])
    }

    /// The scalar twin of `quantize`: ggml's quantize_row_q8_1 as plain code, element by element.
    public func quantizeScalar(_ x: UnsafePointer<Float>, count n: Int) {
        precondition(n <= capacity && n % 32 == 0)
        count = n
        for b in 0..<(n / 32) {
            var maxAbs: Float = 0
            for i in 0..<32 { maxAbs = max(maxAbs, Swift.abs(x[b * 32 + i])) }
            let d = maxAbs / 127
            let inverse: Float = maxAbs != 0 ? 127 / maxAbs : 0
            var sum: Int32 = 0
            for i in 0..<32 {
                let q = Int32((x[b * 32 + i] * inverse).rounded(.toNearestOrEven))
                sum += q
                pairs[b * 32 + (i % 2) * 16 + i / 2] = Int16(q)
            }
            scales[b] = Float(Float16(d))
            sums[b] = Float(Float16(Float(sum) * d))
        }
    }

    /// Quantizes `x[0..<n]`, n a multiple of 32.
    public func quantize(_ x: UnsafePointer<Float>, count n: Int) {
        precondition(n <= capacity && n % 32 == 0)
        count = n
        if quantizesK, n % 256 == 0 { k.quantize(x, count: n) }
        let shift = SIMD16<Float>(repeating: 0x1.8p23)
        for b in 0..<(n / 32) {
            let block = UnsafeRawPointer(x + b * 32)
            let v0 = block.loadUnaligned(as: SIMD16<Float>.self)
            let v1 = block.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self)
            let maxAbs = largestMagnitude(v0, v1)
            // As llama.cpp's x86 path: the multiplier is 127/max (not 1/d) and ties round to even,
            // which adding 1.5·2²³ does in the default rounding mode; the low bits are then the integer.
            let d = maxAbs / 127
            let inverse = SIMD16<Float>(repeating: maxAbs != 0 ? 127 / maxAbs : 0)
            let i0 = unsafeBitCast(v0 * inverse + shift, to: SIMD16<Int32>.self) &- 0x4B40_0000
            let i1 = unsafeBitCast(v1 * inverse + shift, to: SIMD16<Int32>.self) &- 0x4B40_0000
            // Element by element, so that LLVM emits shuffles rather than 32 scalar stores.
            let wide = UnsafeMutableRawPointer(pairs + b * 32)
            wide.storeBytes(of: SIMD16<Int16>(
                Int16(truncatingIfNeeded: i0[0]), Int16(truncatingIfNeeded: i0[2]), Int16(truncatingIfNeeded: i0[4]), Int16(truncatingIfNeeded: i0[6]),
                Int16(truncatingIfNeeded: i0[8]), Int16(truncatingIfNeeded: i0[10]), Int16(truncatingIfNeeded: i0[12]), Int16(truncatingIfNeeded: i0[14]),
                Int16(truncatingIfNeeded: i1[0]), Int16(truncatingIfNeeded: i1[2]), Int16(truncatingIfNeeded: i1[4]), Int16(truncatingIfNeeded: i1[6]),
                Int16(truncatingIfNeeded: i1[8]), Int16(truncatingIfNeeded: i1[10]), Int16(truncatingIfNeeded: i1[12]), Int16(truncatingIfNeeded: i1[14])
            ), as: SIMD16<Int16>.self)
            wide.storeBytes(of: SIMD16<Int16>(
                Int16(truncatingIfNeeded: i0[1]), Int16(truncatingIfNeeded: i0[3]), Int16(truncatingIfNeeded: i0[5]), Int16(truncatingIfNeeded: i0[7]),
                Int16(truncatingIfNeeded: i0[9]), Int16(truncatingIfNeeded: i0[11]), Int16(truncatingIfNeeded: i0[13]), Int16(truncatingIfNeeded: i0[15]),
                Int16(truncatingIfNeeded: i1[1]), Int16(truncatingIfNeeded: i1[3]), Int16(truncatingIfNeeded: i1[5]), Int16(truncatingIfNeeded: i1[7]),
                Int16(truncatingIfNeeded: i1[9]), Int16(truncatingIfNeeded: i1[11]), Int16(truncatingIfNeeded: i1[13]), Int16(truncatingIfNeeded: i1[15])
            ), toByteOffset: 32, as: SIMD16<Int16>.self)
            scales[b] = Float(Float16(d))
            sums[b] = Float(Float16(Float((i0 &+ i1).wrappedSum()) * d))
        }
    }
}

/// |v| as bit patterns: with the sign bit cleared (ggml's andnot) they are ordered like the floats.
@inline(__always) func magnitudeBits(_ v: SIMD16<Float>) -> SIMD16<Int32> {
    unsafeBitCast(v, to: SIMD16<Int32>.self) & 0x7FFF_FFFF
}

/// Lane-wise maximum of non-negative float bit patterns in integer arithmetic: the standard
/// library's pointwiseMax and mask selections compile to per-lane loops. Exact in any order.
@inline(__always) func larger<V: SIMD>(_ a: V, _ b: V) -> V where V.Scalar == Int32 {
    let difference = b &- a  // no overflow: both are in 0...0x7F80_0000 (or NaN patterns just above)
    return a &+ (difference & ~(difference &>> 31))
}

/// The largest |element| of v0 and v1.
@inline(__always) func largestMagnitude(_ v0: SIMD16<Float>, _ v1: SIMD16<Float>) -> Float {
    let v = larger(magnitudeBits(v0), magnitudeBits(v1))
    let a = larger(v.lowHalf, v.highHalf), b = larger(a.lowHalf, a.highHalf), c = larger(b.lowHalf, b.highHalf)
    return Float(bitPattern: UInt32(max(c[0], c[1])))
}
