/// y = W·x for a quantized weight matrix W (rows of `rowLength`) and a quantized activation x.
/// Each kernel has a scalar twin in `ScalarReference` that tests compare it with.
public enum QuantizedMatVec {
    /// Rows `rows` of `weights` (type `type`) times `x`, into `y[row]`.
    @inline(__always)
    public static func rows(
        _ rows: Range<Int>, type: GGMLType, weights: UnsafeRawPointer, rowBytes: Int,
        x: QuantizedActivation, y: UnsafeMutablePointer<Float>
    ) {
        let blocks = x.count / 32
        switch type {
        case .q4_1:
            for r in rows { y[r] = dotQ4_1(weights + r * rowBytes, x, blocks: blocks) }
        case .q8_0:
            for r in rows { y[r] = dotQ8_0(weights + r * rowBytes, x, blocks: blocks) }
        case .q4_0:
            for r in rows { y[r] = dotQ4_0(weights + r * rowBytes, x, blocks: blocks) }
        default:
            preconditionFailure("no quantized kernel for \(type); the model loader routes it to the dequantizing path")
        }
    }

    // The three kernels below keep llama.cpp's x86 order of floating-point operations: each block's
    // integer products are summed in eight lanes of four consecutive elements, each lane is
    // accumulated across blocks with a fused multiply-add by the block's combined scale, and the
    // eight lanes are reduced pairwise at the end. The model is sensitive enough to rounding that
    // a different (equally exact) summation order moves its top probabilities by a few hundredths.

    /// Sums of four consecutive products: lanes 0–3 from `low` (elements 0–15), 4–7 from `high`.
    @inline(__always)
    static func laneSums(_ low: SIMD16<Int32>, _ high: SIMD16<Int32>) -> SIMD8<Float> {
        let l = low.evenHalf &+ low.oddHalf, h = high.evenHalf &+ high.oddHalf
        let l4 = l.evenHalf &+ l.oddHalf, h4 = h.evenHalf &+ h.oddHalf
        return SIMD8<Float>(SIMD8<Int32>(lowHalf: l4, highHalf: h4))
    }

    /// The pairwise reduction of eight lanes that llama.cpp's `hsum_float_8` performs.
    @inline(__always)
    static func horizontalSum(_ a: SIMD8<Float>) -> Float {
        let r = a.lowHalf + a.highHalf
        return (r[0] + r[2]) + (r[1] + r[3])
    }

    @inline(__always)
    static func dotQ4_1(_ w: UnsafeRawPointer, _ x: QuantizedActivation, blocks: Int) -> Float {
        var acc = SIMD8<Float>()
        var offsets: Float = 0
        let mask = SIMD16<UInt8>(repeating: 0x0F)
        for b in 0..<blocks {
            let block = w + b * 20
            let d = Float(Float16(bitPattern: block.loadUnaligned(as: UInt16.self)))
            let m = Float(Float16(bitPattern: block.loadUnaligned(fromByteOffset: 2, as: UInt16.self)))
            let q = block.loadUnaligned(fromByteOffset: 4, as: SIMD16<UInt8>.self)
            let a = UnsafeRawPointer(x.values + b * 32)
            let a0 = SIMD16<Int16>(truncatingIfNeeded: a.loadUnaligned(as: SIMD16<Int8>.self))
            let a1 = SIMD16<Int16>(truncatingIfNeeded: a.loadUnaligned(fromByteOffset: 16, as: SIMD16<Int8>.self))
            let lo = SIMD16<Int16>(truncatingIfNeeded: q & mask)
            let hi = SIMD16<Int16>(truncatingIfNeeded: q &>> 4)
            let lanes = laneSums(SIMD16<Int32>(truncatingIfNeeded: lo &* a0), SIMD16<Int32>(truncatingIfNeeded: hi &* a1))
            offsets = offsets.addingProduct(m, x.sums[b])
            acc = acc.addingProduct(SIMD8(repeating: d * x.scales[b]), lanes)
        }
        return horizontalSum(acc) + offsets
    }

    @inline(__always)
    static func dotQ8_0(_ w: UnsafeRawPointer, _ x: QuantizedActivation, blocks: Int) -> Float {
        var acc = SIMD8<Float>()
        for b in 0..<blocks {
            let block = w + b * 34
            let d = Float(Float16(bitPattern: block.loadUnaligned(as: UInt16.self)))
            let a = UnsafeRawPointer(x.values + b * 32)
            let w0 = SIMD16<Int16>(truncatingIfNeeded: block.loadUnaligned(fromByteOffset: 2, as: SIMD16<Int8>.self))
            let w1 = SIMD16<Int16>(truncatingIfNeeded: block.loadUnaligned(fromByteOffset: 18, as: SIMD16<Int8>.self))
            let a0 = SIMD16<Int16>(truncatingIfNeeded: a.loadUnaligned(as: SIMD16<Int8>.self))
            let a1 = SIMD16<Int16>(truncatingIfNeeded: a.loadUnaligned(fromByteOffset: 16, as: SIMD16<Int8>.self))
            let lanes = laneSums(SIMD16<Int32>(truncatingIfNeeded: w0 &* a0), SIMD16<Int32>(truncatingIfNeeded: w1 &* a1))
            acc = acc.addingProduct(SIMD8(repeating: d * x.scales[b]), lanes)
        }
        return horizontalSum(acc)
    }

    @inline(__always)
    static func dotQ4_0(_ w: UnsafeRawPointer, _ x: QuantizedActivation, blocks: Int) -> Float {
        var acc = SIMD8<Float>()
        let mask = SIMD16<UInt8>(repeating: 0x0F)
        let eight = SIMD16<Int16>(repeating: 8)
        for b in 0..<blocks {
            let block = w + b * 18
            let d = Float(Float16(bitPattern: block.loadUnaligned(as: UInt16.self)))
            let q = block.loadUnaligned(fromByteOffset: 2, as: SIMD16<UInt8>.self)
            let a = UnsafeRawPointer(x.values + b * 32)
            let a0 = SIMD16<Int16>(truncatingIfNeeded: a.loadUnaligned(as: SIMD16<Int8>.self))
            let a1 = SIMD16<Int16>(truncatingIfNeeded: a.loadUnaligned(fromByteOffset: 16, as: SIMD16<Int8>.self))
            let lo = SIMD16<Int16>(truncatingIfNeeded: q & mask) &- eight
            let hi = SIMD16<Int16>(truncatingIfNeeded: q &>> 4) &- eight
            let lanes = laneSums(SIMD16<Int32>(truncatingIfNeeded: lo &* a0), SIMD16<Int32>(truncatingIfNeeded: hi &* a1))
            acc = acc.addingProduct(SIMD8(repeating: d * x.scales[b]), lanes)
        }
        return horizontalSum(acc)
    }

    /// Whether `type` has an integer kernel here (others are dequantized to F32 at load).
    public static func supports(_ type: GGMLType) -> Bool {
        switch type {
        case .q4_1, .q8_0, .q4_0: true
        default: false
        }
    }
}
