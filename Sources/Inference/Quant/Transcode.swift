/// Formats without integer kernels of their own, rewritten at load into formats that have them, so
/// a model in them runs on the quantized kernels in about its own size instead of as Float32 four
/// to eight times larger and slower.
///
/// - Q4_K keeps its exact 4-bit quants: each 32-element sub-block becomes a Q4_1 block whose scale
///   d·sc and minimum −dmin·m are rounded to Float16 (relative error ≤ 2⁻¹¹ on those two numbers).
/// - Q5_K, Q6_K, Q5_0 and Q5_1 are requantized to Q8_0 (ggml's reference rounding). A Q8_0 step
///   is a block's largest magnitude / 127, about an eighth of these formats' own steps, so the
///   added error is a small fraction of the quantization error already in the file.
///
/// llama.cpp runs these formats with kernels of their own (and 8-bit activations per 256), so on
/// such models results are close to its, not bit-identical; the default model (Q4_1, Q8_0) is not
/// transcoded.
public enum Transcode {
    /// The kernel format `type` is rewritten into, or nil when it has kernels (or is not quantized).
    public static func target(for type: GGMLType) -> GGMLType? {
        switch type {
        case .q4_K: .q4_1
        case .q5_K, .q6_K, .q5_0, .q5_1: .q8_0
        default: nil
        }
    }

    /// Rewrites one row of `count` elements of `type` at `src` into `target(for: type)` at `dst`.
    /// `floats` holds at least `count` elements of scratch.
    public static func row(
        _ type: GGMLType, from src: UnsafeRawPointer, count: Int, into dst: UnsafeMutableRawPointer,
        floats: UnsafeMutablePointer<Float>
    ) throws(Dequantize.Error) {
        guard let target = target(for: type) else { throw .unsupported(type) }
        guard count % type.blockSize == 0 else { throw .countNotMultipleOfBlock(count: count, block: type.blockSize) }
        if type == .q4_K {
            q4KToQ4_1(src, blocks: count / 256, into: dst)
            return
        }
        precondition(target == .q8_0)
        try Dequantize.row(type, from: src, count: count, into: floats)
        quantizeQ8_0(floats, count: count, into: dst)
    }

    /// Sub-block s of a Q4_K block holds its 32 nibbles in the low (s even) or high (s odd) halves
    /// of 32 bytes; a Q4_1 block holds element k in the low nibble of byte k % 16 (k < 16) or the high.
    private static func q4KToQ4_1(_ src: UnsafeRawPointer, blocks: Int, into dst: UnsafeMutableRawPointer) {
        for b in 0..<blocks {
            let block = src + b * GGMLType.q4_K.blockBytes
            let d = Dequantize.half(block, 0), dmin = Dequantize.half(block, 2)
            let scales = block + 4, qs = block + 16
            for s in 0..<8 {
                let (sc, m) = Dequantize.kQuantScaleMin(s, scales)
                let out = dst + (b * 8 + s) * GGMLType.q4_1.blockBytes
                // As ggml computes them before applying: d·sc and dmin·m in Float32.
                out.storeBytes(of: Float16(d * Float(sc)).bitPattern, as: UInt16.self)
                out.storeBytes(of: Float16(-(dmin * Float(m))).bitPattern, toByteOffset: 2, as: UInt16.self)
                let shift: UInt8 = s % 2 == 0 ? 0 : 4
                let nibbles = qs + (s / 2) * 32
                for k in 0..<16 {
                    let low = (nibbles.load(fromByteOffset: k, as: UInt8.self) >> shift) & 0x0F
                    let high = (nibbles.load(fromByteOffset: k + 16, as: UInt8.self) >> shift) & 0x0F
                    out.storeBytes(of: low | high << 4, toByteOffset: 4 + k, as: UInt8.self)
                }
            }
        }
    }

    /// ggml's `quantize_row_q8_0_ref`: d = max|x| / 127, q = round(x / d) half away from zero.
    static func quantizeQ8_0(_ x: UnsafePointer<Float>, count: Int, into dst: UnsafeMutableRawPointer) {
        for b in 0..<(count / 32) {
            let v = x + b * 32
            var amax: Float = 0
            for i in 0..<32 { amax = max(amax, abs(v[i])) }
            let d = amax / 127
            let inverse: Float = d != 0 ? 1 / d : 0
            let out = dst + b * GGMLType.q8_0.blockBytes
            out.storeBytes(of: Float16(d).bitPattern, as: UInt16.self)
            for i in 0..<32 {
                let q = (v[i] * inverse).rounded(.toNearestOrAwayFromZero)
                // Finite inputs stay within ±127; NaN or infinity (a broken file) must not trap.
                let clamped = q.isNaN ? 0 : min(127, max(-127, q))
                out.storeBytes(of: Int8(clamped), toByteOffset: 2 + i, as: Int8.self)
            }
        }
    }
}
