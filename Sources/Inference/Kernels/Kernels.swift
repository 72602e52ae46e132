import Foundation

/// The small vector kernels of a llama forward pass.
enum Kernels {
    /// out = x / sqrt(mean(x²) + ε) · weight. The sum is in Double, as ggml does.
    static func rmsNorm(_ x: UnsafePointer<Float>, weight: [Float], epsilon: Float, count: Int, into out: UnsafeMutablePointer<Float>) {
        var sum: Double = 0
        for i in 0..<count { sum += Double(x[i] * x[i]) }
        let scale = 1 / (Float(sum / Double(count)) + epsilon).squareRoot()
        weight.withUnsafeBufferPointer { w in
            for i in 0..<count { out[i] = (x[i] * scale) * w[i] }
        }
    }

    /// x += scale · block output (the residual connection). Scale 1 (every model but Granite) is
    /// the plain sum: the same bits as without the multiplication.
    @inline(__always)
    static func addResidual(_ y: UnsafePointer<Float>, scale: Float, into x: UnsafeMutablePointer<Float>, count: Int) {
        if scale == 1 {
            for i in 0..<count { x[i] += y[i] }
        } else {
            for i in 0..<count { x[i] += y[i] * scale }
        }
    }

    /// y += bias, when there is one.
    @inline(__always)
    static func addBias(_ bias: [Float]?, to y: UnsafeMutablePointer<Float>) {
        guard let bias else { return }
        for i in bias.indices { y[i] += bias[i] }
    }

    /// Rotates pairs of each head's first `ropeDimension` values by position·θᵢ: adjacent pairs
    /// (x[2i], x[2i+1]) in llama's "normal" style, (x[i], x[i + ropeDimension/2]) in GPT-NeoX style.
    static func rope(_ x: UnsafeMutablePointer<Float>, heads: Int, headDimension: Int, ropeDimension: Int, style: RopeStyle = .normal, position: Int, table: RopeTable) {
        let (cosines, sines) = table.row(position)
        let half = ropeDimension / 2
        for h in 0..<heads {
            let head = x + h * headDimension
            for i in 0..<half {
                let (first, second) = style == .normal ? (2 * i, 2 * i + 1) : (i, i + half)
                let a = head[first], b = head[second]
                let c = cosines[i], s = sines[i]
                // Fused the way GCC contracts llama.cpp's `x0*cos - x1*sin` and `x0*sin + x1*cos`:
                // the first product inside the FMA, the second rounded on its own.
                head[first] = Float(-(b * s)).addingProduct(a, c)
                head[second] = (b * c).addingProduct(a, s)
            }
        }
    }

    /// gate ← silu(gate) · up, with silu(x) = x / (1 + e^-x) and e^-x from `vectorExp`, as
    /// llama.cpp's AVX-512 build computes it (its results differ from libm's expf in the last bit,
    /// which this rounding-sensitive model notices).
    /// Eight lanes at a time, each lane performing `swiGLUScalar`'s operations; a chunk with an
    /// exponent outside the normal range (|gate| ≳ 87) goes through the scalar twin.
    static func swiGLU(gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, count: Int) {
        var i = 0
        while i + 8 <= count {
            let g = UnsafeRawPointer(gate + i).loadUnaligned(as: SIMD8<Float>.self)
            if let e = normalVectorExp(0 - g) {
                let u = UnsafeRawPointer(up + i).loadUnaligned(as: SIMD8<Float>.self)
                UnsafeMutableRawPointer(gate + i).storeBytes(of: g / (1 + e) * u, as: SIMD8<Float>.self)
            } else {
                swiGLUScalar(gate: gate + i, up: up + i, count: 8)
            }
            i += 8
        }
        swiGLUScalar(gate: gate + i, up: up + i, count: count - i)
    }

    /// The scalar twin of `swiGLU`.
    static func swiGLUScalar(gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, count: Int) {
        for i in 0..<count {
            let g = gate[i]
            gate[i] = g / (1 + vectorExp(0 - g)) * up[i]
        }
    }

    /// `vectorExp` of eight lanes, or nil when a lane's power of two 2ⁿ is not a normal float
    /// (|n| > 126), which the scalar form handles.
    @inline(__always)
    static func normalVectorExp(_ x: SIMD8<Float>) -> SIMD8<Float>? {
        let shift = SIMD8<Float>(repeating: 0x1.8p23)
        let z = shift.addingProduct(x, SIMD8(repeating: 0x1.715476p+0))
        let n = z - shift
        // z = 1.5·2²³ + n exactly, so its low bits are n.
        let exponent = unsafeBitCast(z, to: SIMD8<Int32>.self) &- 0x4B40_0000
        let outside = ((exponent &+ 126) | (126 &- exponent)) & Int32.min
        guard outside == SIMD8() else { return nil }
        let b = x.addingProduct(-n, SIMD8(repeating: 0x1.62e4p-1)).addingProduct(-n, SIMD8(repeating: 0x1.7f7d1cp-20))
        let u = b * b
        let high = SIMD8<Float>(repeating: 0x1.573e2ep-5).addingProduct(SIMD8(repeating: 0x1.0e4020p-7), b)
        let low = SIMD8<Float>(repeating: 0x1.fffdb6p-2).addingProduct(SIMD8(repeating: 0x1.555e66p-3), b)
        let j = SIMD8<Float>(repeating: 1).addingProduct(SIMD8(repeating: 0x1.ffffecp-1), b).addingProduct(low.addingProduct(high, u), u)
        return unsafeBitCast((exponent &+ 127) &<< 23, to: SIMD8<Float>.self) * j
    }

    /// e^x by the polynomial of llama.cpp's `ggml_v_expf` (Arm's optimized-routines expf: range
    /// reduction by ln 2 in two parts, degree-5 polynomial, scaling by 2^n), lane for lane.
    @inline(__always)
    static func vectorExp(_ x: Float) -> Float {
        let shift: Float = 0x1.8p23
        let z = shift.addingProduct(x, 0x1.715476p+0)
        let n = z - shift
        let b = x.addingProduct(-n, 0x1.62e4p-1).addingProduct(-n, 0x1.7f7d1cp-20)
        let u = b * b
        let high = Float(0x1.573e2ep-5).addingProduct(0x1.0e4020p-7, b)
        let low = Float(0x1.fffdb6p-2).addingProduct(0x1.555e66p-3, b)
        let j = Float(1).addingProduct(0x1.ffffecp-1, b).addingProduct(low.addingProduct(high, u), u)
        if abs(n) > 192 { return n > 0 ? .infinity : 0 }
        return Float(sign: .plus, exponent: Int(n), significand: 1) * j
    }

    /// y = W·x for F32 weights.
    static func matVecF32(_ w: WeightMatrix, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, pool: ThreadPool) {
        let n = w.columns
        let base = w.bytes.assumingMemoryBound(to: Float.self)
        pool.parallelFor(rows: w.rows) { range in
            for r in range {
                let row = base + r * n
                var acc = SIMD16<Float>()
                var i = 0
                while i + 16 <= n {
                    acc = acc.addingProduct(UnsafeRawPointer(row + i).loadUnaligned(as: SIMD16<Float>.self),
                                            UnsafeRawPointer(input + i).loadUnaligned(as: SIMD16<Float>.self))
                    i += 16
                }
                var sum = acc.sum()
                while i < n { sum += row[i] * input[i]; i += 1 }
                output[r] = sum
            }
        }
    }
}

/// cos and sin of each position's RoPE angles, computed as positions are first reached (a model
/// with a 128k context does not pay for 128k rows it never uses). Angle i of position p is
/// frequencyScale · (p · base^(−2i/d) / factorᵢ), with p · base^(−2i/d) built by repeated
/// multiplication, as ggml builds it.
final class RopeTable: @unchecked Sendable {
    let half: Int
    private let step: Float
    private let frequencyScale: Float
    private let factors: [Float]?
    /// Rows 0..<positions are computed.
    private(set) var positions = 0
    private var capacity = 0
    private var cosines: UnsafeMutablePointer<Float>
    private var sines: UnsafeMutablePointer<Float>

    /// `factors` (llama 3's `rope_freqs`) has one divisor per angle, ropeDimension / 2 of them.
    init(ropeDimension: Int, base: Float, frequencyScale: Float = 1, factors: [Float]? = nil) {
        precondition(factors == nil || factors!.count == ropeDimension / 2)
        half = ropeDimension / 2
        step = Foundation.pow(base, -2 / Float(ropeDimension))
        self.frequencyScale = frequencyScale
        self.factors = factors
        cosines = .allocate(capacity: 1)
        sines = .allocate(capacity: 1)
    }

    deinit {
        cosines.deallocate()
        sines.deallocate()
    }

    /// Makes rows 0..<count available. Not for concurrent use: it is called before a forward pass
    /// spreads work that reads rows over threads.
    func reserve(positions count: Int) {
        guard count > positions else { return }
        if count > capacity {
            let newCapacity = max(count, 2 * capacity, 64)
            let c = UnsafeMutablePointer<Float>.allocate(capacity: newCapacity * half)
            let s = UnsafeMutablePointer<Float>.allocate(capacity: newCapacity * half)
            c.update(from: cosines, count: positions * half)
            s.update(from: sines, count: positions * half)
            cosines.deallocate()
            sines.deallocate()
            cosines = c
            sines = s
            capacity = newCapacity
        }
        for p in positions..<count {
            var theta = Float(p)
            for i in 0..<half {
                let angle = frequencyScale * (theta / (factors?[i] ?? 1))
                cosines[p * half + i] = Foundation.cos(angle)
                sines[p * half + i] = Foundation.sin(angle)
                theta *= step
            }
        }
        positions = count
    }

    func row(_ position: Int) -> (UnsafePointer<Float>, UnsafePointer<Float>) {
        precondition(position < positions, "RoPE row \(position) not reserved")
        return (UnsafePointer(cosines + position * half), UnsafePointer(sines + position * half))
    }
}
