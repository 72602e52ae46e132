/// The K-quant formats as stored in GGUF files (ggml's block_q4_K, block_q5_K, block_q6_K: 256
/// elements a block), their scalar reference dot products with a Q8_K activation, and the
/// floating-point order in which llama.cpp's x86 kernels combine a block's integer sums.
///
/// A dot product splits in two. The integer part (weights × quants, times the 6- or 8-bit sub-block
/// scales) is exact in any order and is what each instruction set computes its own way
/// (`x86/AVX512/`, `x86/AVX2/`, `Portable/`). The float part — which integer sums are converted,
/// which scales multiply them, what is fused and in which order blocks and lanes are added — is
/// the format's, here, shared by every instruction set. Reproducing it gives llama.cpp's bits:
/// - Q4_K follows the repacked kernels llama.cpp uses on AVX2 and up (`gemv/gemm_q4_K_8x8_q8_K`:
///   one integer sum per block, one fused multiply-add for the scales and one for the minimums);
/// - Q5_K and Q6_K follow `ggml_vec_dot_q5_K_q8_K` / `ggml_vec_dot_q6_K_q8_K` (eight lanes of
///   four consecutive elements per sub-block chunk, reduced pairwise at the end).
/// (llama.cpp repacks a Q4_K matrix only when its row count is a multiple of 8; every Q4_K_M file
/// seen has such rows. Other matrices would run its plain dot product, whose order differs.)

/// The integer sums of one weight block against one activation block: eight lanes (lane j holds the
/// products of elements 4j…4j+3 of each 32-element chunk, times their sub-block scales) and, for the
/// formats with minimums, Σ min × (sum of the sub-block's activation quants).
struct KSums {
    var lanes = SIMD8<Int32>()
    var minimum: Int32 = 0
}

/// A K-quant weight format: its block layout, reference integer sums and float order. The fast
/// rows (`rows`, each instruction set's integer sums in `KQuantMatMul.drive`) come from the
/// instruction-set files.
protocol KQuantFormat {
    associatedtype Accumulator: KQuantAccumulator
    static var type: GGMLType { get }
    /// Integer sums of weight block `w` with the 256 activation quants `q8` and their 16 sums, element by element.
    static func referenceSums(_ w: UnsafeRawPointer, _ q8: UnsafePointer<Int8>, _ sums16: UnsafePointer<Int16>) -> KSums
    /// Rows `rows` times each of `tokens` activations (y[t · stride + r]), by this build's instruction set.
    static func rows(_ rows: Range<Int>, weights: UnsafeRawPointer, rowBytes: Int, x: UnsafePointer<Q8KView>, tokens: Int, columns: Int,
                     y: UnsafeMutablePointer<Float>, stride: Int)
}

/// One output's running float state across a row's blocks.
protocol KQuantAccumulator {
    init()
    /// Adds block `w`'s integer sums `s`, the activation block's scale being `dx`.
    mutating func add(_ s: KSums, block w: UnsafeRawPointer, activationScale dx: Float)
    var total: Float { get }
}

@inline(__always) func half(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
    Float(Float16(bitPattern: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
}

/// Q4_K/Q5_K's twelve bytes of 6-bit scales and minimums unpacked into eight scales (bytes 0…7)
/// and eight minimums (bytes 8…15), as ggml's kmask shuffle does.
@inline(__always) func unpackScalesAndMinimums(_ p: UnsafeRawPointer) -> SIMD16<UInt8> {
    let a = p.loadUnaligned(as: UInt32.self), b = p.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
    let c = p.loadUnaligned(fromByteOffset: 8, as: UInt32.self)
    let scalesLow = a & 0x3F3F_3F3F
    let scalesHigh = (c & 0x0F0F_0F0F) | (((a >> 6) & 0x0303_0303) << 4)
    let minimumsLow = b & 0x3F3F_3F3F
    let minimumsHigh = ((c >> 4) & 0x0F0F_0F0F) | (((b >> 6) & 0x0303_0303) << 4)
    return unsafeBitCast(SIMD4<UInt32>(scalesLow, scalesHigh, minimumsLow, minimumsHigh), to: SIMD16<UInt8>.self)
}

/// Lane j of chunk sums: Σ over the block's eight 32-element chunks c of scale(c, j) × Σ_{e=4j…4j+3} w·q.
@inline(__always) private func referenceLanes(
    _ q8: UnsafePointer<Int8>, weight: (Int) -> Int32, scale: (_ chunk: Int, _ lane: Int) -> Int32
) -> SIMD8<Int32> {
    var lanes = SIMD8<Int32>()
    for c in 0..<8 {
        for j in 0..<8 {
            var dot: Int32 = 0
            for e in (4 * j)..<(4 * j + 4) { dot += weight(32 * c + e) * Int32(q8[32 * c + e]) }
            lanes[j] += scale(c, j) * dot
        }
    }
    return lanes
}

/// Σ over the eight sub-blocks of minimum × (sum of its 32 activation quants).
@inline(__always) private func referenceMinimum(_ m: SIMD16<UInt8>, _ sums16: UnsafePointer<Int16>) -> Int32 {
    var total: Int32 = 0
    for s in 0..<8 { total += Int32(m[8 + s]) * (Int32(sums16[2 * s]) + Int32(sums16[2 * s + 1])) }
    return total
}

/// Q4_K: Float16 d and dmin, 12 bytes of 6-bit scales and minimums for eight sub-blocks of 32,
/// then 128 bytes of nibbles: byte l of 32-byte chunk p holds element 64p + l (low nibble) and
/// 64p + 32 + l (high). x = d·scale·q − dmin·min.
enum Q4_K: KQuantFormat {
    static let type = GGMLType.q4_K
    static let bytes = 144
    static let quantsOffset = 16

    static func referenceSums(_ w: UnsafeRawPointer, _ q8: UnsafePointer<Int8>, _ sums16: UnsafePointer<Int16>) -> KSums {
        let sm = unpackScalesAndMinimums(w + 4), qs = w + quantsOffset
        let lanes = referenceLanes(q8, weight: { e in
            let byte = qs.load(fromByteOffset: (e / 64) * 32 + e % 32, as: UInt8.self)
            return Int32(e % 64 < 32 ? byte & 0x0F : byte >> 4)
        }, scale: { c, _ in Int32(sm[c]) })
        return KSums(lanes: lanes, minimum: referenceMinimum(sm, sums16))
    }

    /// One integer sum per block: Σ fma(sum, d·dx) − Σ fma(minimum sum, dmin·dx), each chain on its own.
    struct Accumulator: KQuantAccumulator {
        var sum: Float = 0, minimum: Float = 0
        @inline(__always) mutating func add(_ s: KSums, block w: UnsafeRawPointer, activationScale dx: Float) {
            sum = sum.addingProduct(Float(s.lanes.wrappedSum()), half(w, 0) * dx)
            minimum = minimum.addingProduct(Float(s.minimum), half(w, 2) * dx)
        }
        var total: Float { sum - minimum }
    }
}

/// Q5_K: Q4_K with a fifth bit per element: Float16 d and dmin, 12 bytes of scales and minimums,
/// 32 bytes of high bits (bit 2p of byte l for element 64p + l, bit 2p + 1 for 64p + 32 + l), then
/// Q4_K's 128 bytes of nibbles.
enum Q5_K: KQuantFormat {
    static let type = GGMLType.q5_K
    static let bytes = 176
    static let highBitsOffset = 16
    static let quantsOffset = 48

    static func referenceSums(_ w: UnsafeRawPointer, _ q8: UnsafePointer<Int8>, _ sums16: UnsafePointer<Int16>) -> KSums {
        let sm = unpackScalesAndMinimums(w + 4), qs = w + quantsOffset, qh = w + highBitsOffset
        let lanes = referenceLanes(q8, weight: { e in
            let l = e % 32, chunk = e / 32
            let byte = qs.load(fromByteOffset: (e / 64) * 32 + l, as: UInt8.self)
            let low = chunk % 2 == 0 ? byte & 0x0F : byte >> 4
            let high = (qh.load(fromByteOffset: l, as: UInt8.self) >> UInt8(chunk)) & 1
            return Int32(low | high << 4)
        }, scale: { c, _ in Int32(sm[c]) })
        return KSums(lanes: lanes, minimum: referenceMinimum(sm, sums16))
    }

    /// `ggml_vec_dot_q5_K_q8_K`: eight lanes fused with d·dx; the minimums fused into one scalar with −dx·dmin.
    struct Accumulator: KQuantAccumulator {
        var lanes = SIMD8<Float>(), minimum: Float = 0
        @inline(__always) mutating func add(_ s: KSums, block w: UnsafeRawPointer, activationScale dx: Float) {
            lanes = lanes.addingProduct(SIMD8(repeating: dx * half(w, 0)), exactFloat(s.lanes))
            minimum = minimum.addingProduct(-dx * half(w, 2), Float(s.minimum))
        }
        var total: Float { QuantizedMatVec.horizontalSum(lanes) + minimum }
    }
}

/// Q6_K: 128 bytes of low nibbles, 64 bytes of high 2-bit pairs, 16 signed 8-bit scales (one per
/// 16 elements), Float16 d. In each half of 128 elements, element l (l < 32) takes the low nibble
/// of ql[l] and bits 0–1 of qh[l]; l + 32: ql[l + 32] low, bits 2–3; l + 64: ql[l] high, bits 4–5;
/// l + 96: ql[l + 32] high, bits 6–7. x = d·scale·(q − 32).
enum Q6_K: KQuantFormat {
    static let type = GGMLType.q6_K
    static let bytes = 210
    static let highBitsOffset = 128
    static let scalesOffset = 192
    static let scaleOffset = 208

    /// The stored 6-bit value (0…63) of element e.
    @inline(__always) static func quant(_ w: UnsafeRawPointer, _ e: Int) -> Int32 {
        let half = e / 128, i = e % 128, l = i % 32, quarter = i / 32
        let ql = w.load(fromByteOffset: half * 64 + (quarter % 2) * 32 + l, as: UInt8.self)
        let qh = w.load(fromByteOffset: highBitsOffset + half * 32 + l, as: UInt8.self)
        let low = quarter < 2 ? ql & 0x0F : ql >> 4
        return Int32(low | ((qh >> UInt8(2 * quarter)) & 3) << 4)
    }

    static func referenceSums(_ w: UnsafeRawPointer, _ q8: UnsafePointer<Int8>, _ sums16: UnsafePointer<Int16>) -> KSums {
        let scale = { (g: Int) in Int32(w.load(fromByteOffset: scalesOffset + g, as: Int8.self)) }
        var lanes = referenceLanes(q8, weight: { quant(w, $0) }, scale: { c, j in scale(2 * c + (j < 4 ? 0 : 1)) })
        // The −32 of every quant, taken out through the activation sums: lane j gets groups 2j and 2j + 1.
        for j in 0..<8 {
            lanes[j] -= 32 * (Int32(sums16[2 * j]) * scale(2 * j) + Int32(sums16[2 * j + 1]) * scale(2 * j + 1))
        }
        return KSums(lanes: lanes, minimum: 0)
    }

    /// `ggml_vec_dot_q6_K_q8_K`: eight lanes fused with dx·d, reduced pairwise at the end.
    struct Accumulator: KQuantAccumulator {
        var lanes = SIMD8<Float>()
        @inline(__always) mutating func add(_ s: KSums, block w: UnsafeRawPointer, activationScale dx: Float) {
            lanes = lanes.addingProduct(SIMD8(repeating: dx * half(w, Q6_K.scaleOffset)), exactFloat(s.lanes))
        }
        var total: Float { QuantizedMatVec.horizontalSum(lanes) }
    }
}

/// Float(v) lane by lane, element by element (one vcvtdq2ps; the generic conversion is a call).
@inline(__always) func exactFloat(_ v: SIMD8<Int32>) -> SIMD8<Float> { QuantizedMatVec.exactFloat(v) }
