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

    @inline(__always)
    static func dotQ4_1(_ w: UnsafeRawPointer, _ x: QuantizedActivation, blocks: Int) -> Float {
        var sum: Float = 0
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
            let p = SIMD16<Int32>(truncatingIfNeeded: lo &* a0) &+ SIMD16<Int32>(truncatingIfNeeded: hi &* a1)
            let sumi = p.wrappedSum()
            sum += (d * x.scales[b]) * Float(sumi) + m * x.sums[b]
        }
        return sum
    }

    @inline(__always)
    static func dotQ8_0(_ w: UnsafeRawPointer, _ x: QuantizedActivation, blocks: Int) -> Float {
        var sum: Float = 0
        for b in 0..<blocks {
            let block = w + b * 34
            let d = Float(Float16(bitPattern: block.loadUnaligned(as: UInt16.self)))
            let a = UnsafeRawPointer(x.values + b * 32)
            let w0 = SIMD16<Int16>(truncatingIfNeeded: block.loadUnaligned(fromByteOffset: 2, as: SIMD16<Int8>.self))
            let w1 = SIMD16<Int16>(truncatingIfNeeded: block.loadUnaligned(fromByteOffset: 18, as: SIMD16<Int8>.self))
            let a0 = SIMD16<Int16>(truncatingIfNeeded: a.loadUnaligned(as: SIMD16<Int8>.self))
            let a1 = SIMD16<Int16>(truncatingIfNeeded: a.loadUnaligned(fromByteOffset: 16, as: SIMD16<Int8>.self))
            let p = SIMD16<Int32>(truncatingIfNeeded: w0 &* a0) &+ SIMD16<Int32>(truncatingIfNeeded: w1 &* a1)
            sum += (d * x.scales[b]) * Float(p.wrappedSum())
        }
        return sum
    }

    @inline(__always)
    static func dotQ4_0(_ w: UnsafeRawPointer, _ x: QuantizedActivation, blocks: Int) -> Float {
        var sum: Float = 0
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
            let p = SIMD16<Int32>(truncatingIfNeeded: lo &* a0) &+ SIMD16<Int32>(truncatingIfNeeded: hi &* a1)
            sum += (d * x.scales[b]) * Float(p.wrappedSum())
        }
        return sum
    }

    /// Whether `type` has an integer kernel here (others are dequantized to F32 at load).
    public static func supports(_ type: GGMLType) -> Bool {
        switch type {
        case .q4_1, .q8_0, .q4_0: true
        default: false
        }
    }
}
