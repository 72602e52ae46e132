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

    public init(capacity: Int) {
        self.capacity = capacity
        pairs = .allocate(capacity: capacity + 64)
        scales = .allocate(capacity: capacity / 32 + 1)
        sums = .allocate(capacity: capacity / 32 + 1)
    }

    deinit {
        pairs.deallocate()
        scales.deallocate()
        sums.deallocate()
    }

    /// Quantized element `i`, read back from the kernels' layout.
    public func value(at i: Int) -> Int8 {
        let block = pairs + (i / 32) * 32, e = i % 32
        return Int8(truncatingIfNeeded: block[(e % 2) * 16 + e / 2])
    }

    /// Quantizes `x[0..<n]`, n a multiple of 32.
    public func quantize(_ x: UnsafePointer<Float>, count n: Int) {
        precondition(n <= capacity && n % 32 == 0)
        count = n
        let shift = SIMD16<Float>(repeating: 0x1.8p23)
        for b in 0..<(n / 32) {
            let block = UnsafeRawPointer(x + b * 32)
            let v0 = block.loadUnaligned(as: SIMD16<Float>.self)
            let v1 = block.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self)
            let maxAbs = pointwiseMax(abs(v0), abs(v1)).max()
            // As llama.cpp's x86 path: the multiplier is 127/max (not 1/d) and ties round to even,
            // which adding 1.5·2²³ does in the default rounding mode; the low bits are then the integer.
            let d = maxAbs / 127
            let inverse = SIMD16<Float>(repeating: maxAbs != 0 ? 127 / maxAbs : 0)
            let i0 = unsafeBitCast(v0 * inverse + shift, to: SIMD16<Int32>.self) &- 0x4B40_0000
            let i1 = unsafeBitCast(v1 * inverse + shift, to: SIMD16<Int32>.self) &- 0x4B40_0000
            let wide = pairs + b * 32
            for i in 0..<8 {
                wide[i] = Int16(truncatingIfNeeded: i0[2 * i])
                wide[8 + i] = Int16(truncatingIfNeeded: i1[2 * i])
                wide[16 + i] = Int16(truncatingIfNeeded: i0[2 * i + 1])
                wide[24 + i] = Int16(truncatingIfNeeded: i1[2 * i + 1])
            }
            scales[b] = Float(Float16(d))
            sums[b] = Float(Float16(Float((i0 &+ i1).wrappedSum()) * d))
        }
    }
}

@inline(__always) func abs(_ v: SIMD16<Float>) -> SIMD16<Float> {
    pointwiseMax(v, -v)
}
