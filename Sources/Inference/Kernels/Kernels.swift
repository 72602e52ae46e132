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

    /// Rotates adjacent pairs (x[2i], x[2i+1]) of each head by position·θᵢ (llama's "normal" rope).
    static func rope(_ x: UnsafeMutablePointer<Float>, heads: Int, headDimension: Int, ropeDimension: Int, position: Int, table: RopeTable) {
        let (cosines, sines) = table.row(position)
        for h in 0..<heads {
            let head = x + h * headDimension
            for i in 0..<(ropeDimension / 2) {
                let a = head[2 * i], b = head[2 * i + 1]
                let c = cosines[i], s = sines[i]
                head[2 * i] = a * c - b * s
                head[2 * i + 1] = a * s + b * c
            }
        }
    }

    /// gate ← silu(gate) · up.
    static func swiGLU(gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, count: Int) {
        for i in 0..<count {
            let g = gate[i]
            gate[i] = g / (1 + Foundation.exp(-g)) * up[i]
        }
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

/// cos and sin of position·θᵢ for every position, θᵢ = base^(-2i/d), computed once.
/// θ grows by repeated multiplication in Float, as ggml computes it.
final class RopeTable: @unchecked Sendable {
    let half: Int
    let positions: Int
    private let cosines: UnsafeMutablePointer<Float>
    private let sines: UnsafeMutablePointer<Float>

    init(ropeDimension: Int, base: Float, positions: Int) {
        half = ropeDimension / 2
        self.positions = positions
        cosines = .allocate(capacity: half * positions)
        sines = .allocate(capacity: half * positions)
        let scale = Foundation.pow(base, -2 / Float(ropeDimension))
        for p in 0..<positions {
            var theta = Float(p)
            for i in 0..<half {
                cosines[p * half + i] = Foundation.cos(theta)
                sines[p * half + i] = Foundation.sin(theta)
                theta *= scale
            }
        }
    }

    deinit {
        cosines.deallocate()
        sines.deallocate()
    }

    func row(_ position: Int) -> (UnsafePointer<Float>, UnsafePointer<Float>) {
        (UnsafePointer(cosines + position * half), UnsafePointer(sines + position * half))
    }
}
