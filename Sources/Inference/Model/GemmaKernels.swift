import Foundation

/// The vector kernels of the llama graph's variants: per-head RMSNorm (Qwen 3, Gemma 3), ggml's
/// GELU gating and logit softcapping (Gemma 3).
extension Kernels {
    /// RMSNorm of each of `heads` rows of `headDimension` values, in place, with the same weights
    /// for every head (ggml_rms_norm over a head, then the multiplication by the weights).
    @inline(__always)
    static func headNorm(_ x: UnsafeMutablePointer<Float>, heads: Int, headDimension: Int, weight: [Float], epsilon: Float) {
        for h in 0..<heads {
            let head = x + h * headDimension
            rmsNorm(head, weight: weight, epsilon: epsilon, count: headDimension, into: head)
        }
    }

    /// gate ← GELU(gate) · up as ggml's CPU backend computes it (`ggml_vec_geglu_f32` with
    /// GGML_GELU_FP16, which it always defines): at or below −10 the result is 0, at or above 10
    /// gate · up; in between, the gate is rounded to Float16 and looked up in a table of GELU of
    /// every Float16 value, itself rounded to Float16.
    static func geGLU(gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, count: Int) {
        geluTable.withUnsafeBufferPointer { table in
            for i in 0..<count {
                let x = gate[i]
                if x <= -10 {
                    gate[i] = 0
                } else if x >= 10 {
                    gate[i] = x * up[i]
                } else {
                    gate[i] = Float(table[Int(Float16(x).bitPattern)]) * up[i]
                }
            }
        }
    }

    /// ggml's `ggml_table_gelu_f16`: GELU of each Float16 bit pattern, rounded to Float16.
    static let geluTable: [Float16] = (0..<65536).map { bits in
        Float16(gelu(Float(Float16(bitPattern: UInt16(bits)))))
    }

    /// `ggml_gelu_f32`, 0.5·x·(1 + tanh(√(2/π)·x·(1 + 0.044715·x²))), as GCC compiles it: the
    /// one product it contracts is (0.044715·x)·x + 1, into a fused multiply-add.
    static func gelu(_ x: Float) -> Float {
        let coefficient: Float = 0.044715
        let sqrtTwoOverPi: Float = 0.79788456080286535587989211986876
        let inner = Float(1).addingProduct(coefficient * x, x)
        return 0.5 * x * (1 + Foundation.tanh(sqrtTwoOverPi * x * inner))
    }

    /// x ← cap · tanh(x / cap), the division a multiplication by the reciprocal, as llama.cpp's
    /// graph has it (scale, tanh, scale).
    static func softcap(_ x: UnsafeMutablePointer<Float>, count: Int, cap: Float) {
        let inverse = 1 / cap
        for i in 0..<count { x[i] = Foundation.tanh(x[i] * inverse) * cap }
    }
}
