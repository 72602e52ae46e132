/// An activation vector quantized the way ggml quantizes it for the K-quant dot products (Q8_K):
/// blocks of 256 signed bytes with one Float32 scale each (not rounded through Float16) and the
/// sum of every 16 quants, which the formats with minimums or offsets use instead of unpacking them.
/// Buffers are allocated once; `quantize` allocates nothing.
public final class Q8KActivation: @unchecked Sendable {
    public let capacity: Int
    public private(set) var count = 0
    public let quants: UnsafeMutablePointer<Int8>
    public let scales: UnsafeMutablePointer<Float>
    public let sums: UnsafeMutablePointer<Int16>

    public init(capacity: Int) {
        self.capacity = capacity
        quants = .allocate(capacity: max(256, capacity))
        scales = .allocate(capacity: max(1, capacity / 256))
        sums = .allocate(capacity: max(16, capacity / 16))
    }

    deinit {
        quants.deallocate()
        scales.deallocate()
        sums.deallocate()
    }

    var view: Q8KView { Q8KView(quants: quants, scales: scales, sums: sums) }

    /// ggml's `quantize_row_q8_K_ref`: the block's element of largest magnitude (the first, on a tie)
    /// sets iscale = −127 / it; q = round-half-even(iscale · x), at most 127; d = 1 / iscale. llama.cpp's
    /// batched x86 quantizer (four rows interleaved, for prefill) gives the same products d·q.
    public func quantize(_ x: UnsafePointer<Float>, count n: Int) {
        precondition(n <= capacity && n % 256 == 0)
        count = n
        for b in 0..<(n / 256) {
            let v = x + b * 256, q = quants + b * 256
            var amax: Float = 0, signedMax: Float = 0
            for j in 0..<256 where abs(v[j]) > amax {
                amax = abs(v[j]); signedMax = v[j]
            }
            if amax == 0 {
                scales[b] = 0
                q.update(repeating: 0, count: 256)
                (sums + b * 16).update(repeating: 0, count: 16)
                continue
            }
            let iscale = -127 / signedMax
            quantizeBlock(v, iscale: iscale, into: q)
            for g in 0..<16 {
                var s: Int16 = 0
                for i in 0..<16 { s &+= Int16(q[g * 16 + i]) }
                sums[b * 16 + g] = s
            }
            scales[b] = 1 / iscale
        }
    }

    /// Sixteen lanes at a time; |iscale · x| ≤ 127 here, so the rounding is the exact one of ggml's
    /// `nearest_int` (round half to even). NaN from a broken file becomes 0 rather than trapping.
    @inline(__always) private func quantizeBlock(_ v: UnsafePointer<Float>, iscale: Float, into q: UnsafeMutablePointer<Int8>) {
        let scale = SIMD16<Float>(repeating: iscale)
        for c in 0..<16 {
            var r = (UnsafeRawPointer(v + c * 16).loadUnaligned(as: SIMD16<Float>.self) * scale).rounded(.toNearestOrEven)
            r = r.replacing(with: 0, where: .!(r .== r))
            r = r.replacing(with: 127, where: r .> 127).replacing(with: -127, where: r .< -127)
            for i in 0..<16 { q[c * 16 + i] = Int8(r[i]) }
        }
    }
}

/// A Q8_K activation's buffers without the reference counting of the class that owns them.
struct Q8KView {
    let quants: UnsafeMutablePointer<Int8>
    let scales: UnsafeMutablePointer<Float>
    let sums: UnsafeMutablePointer<Int16>

    /// Block b's 256 quants.
    @inline(__always) func block(_ b: Int) -> UnsafePointer<Int8> { UnsafePointer(quants + b * 256) }
    /// Block b's 16 sums of 16.
    @inline(__always) func blockSums(_ b: Int) -> UnsafePointer<Int16> { UnsafePointer(sums + b * 16) }
}
