/// An activation vector quantized to 8 bits in blocks of 32, as llama.cpp does before a quantized
/// dot product (Q8_0 for Q8_0/Q4_0 weights, Q8_1 — with the block sum — for Q4_1 weights).
/// Scales are rounded through Float16 exactly as ggml stores them, so results track llama.cpp's.
/// Buffers are allocated once; `quantize` allocates nothing.
public final class QuantizedActivation: @unchecked Sendable {
    public let capacity: Int
    public private(set) var count = 0
    public let values: UnsafeMutablePointer<Int8>
    public let scales: UnsafeMutablePointer<Float>
    /// scale × sum of the block's quantized values (Q8_1's `s`).
    public let sums: UnsafeMutablePointer<Float>

    public init(capacity: Int) {
        self.capacity = capacity
        values = .allocate(capacity: capacity + 64)
        scales = .allocate(capacity: capacity / 32 + 1)
        sums = .allocate(capacity: capacity / 32 + 1)
    }

    deinit {
        values.deallocate()
        scales.deallocate()
        sums.deallocate()
    }

    /// Quantizes `x[0..<n]`, n a multiple of 32.
    public func quantize(_ x: UnsafePointer<Float>, count n: Int) {
        precondition(n <= capacity && n % 32 == 0)
        count = n
        for b in 0..<(n / 32) {
            let block = UnsafeRawPointer(x + b * 32)
            var amax = SIMD16<Float>()
            let v0 = block.loadUnaligned(as: SIMD16<Float>.self)
            let v1 = block.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self)
            amax = pointwiseMax(abs(v0), abs(v1))
            let maxAbs = amax.max()
            // As llama.cpp's x86 path: the multiplier is 127/max (not 1/d) and ties round to even.
            let d = maxAbs / 127
            let inverse: Float = maxAbs != 0 ? 127 / maxAbs : 0
            let q0 = (v0 * inverse).rounded(.toNearestOrEven)
            let q1 = (v1 * inverse).rounded(.toNearestOrEven)
            let i0 = SIMD16<Int32>(q0), i1 = SIMD16<Int32>(q1)
            let out = UnsafeMutableRawPointer(values + b * 32)
            out.storeBytes(of: SIMD16<Int8>(truncatingIfNeeded: i0), as: SIMD16<Int8>.self)
            out.storeBytes(of: SIMD16<Int8>(truncatingIfNeeded: i1), toByteOffset: 16, as: SIMD16<Int8>.self)
            let dHalf = Float(Float16(d))
            scales[b] = dHalf
            sums[b] = Float(Float16(Float(i0.wrappedSum() &+ i1.wrappedSum()) * d))
        }
    }
}

@inline(__always) func abs(_ v: SIMD16<Float>) -> SIMD16<Float> {
    pointwiseMax(v, -v)
}
