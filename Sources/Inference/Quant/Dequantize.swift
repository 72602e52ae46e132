/// Scalar reference dequantizers, one per block format, written from the format's definition.
/// Fast kernels are tested against these.
public enum Dequantize {
    public enum Error: Swift.Error, Equatable, CustomStringConvertible {
        case unsupported(GGMLType)
        case countNotMultipleOfBlock(count: Int, block: Int)
        public var description: String {
            switch self {
            case .unsupported(let t): "dequantizing \(t) is not supported yet"
            case .countNotMultipleOfBlock(let count, let block): "\(count) elements is not a multiple of the block size \(block)"
            }
        }
    }

    @inline(__always) static func half(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        Float(Float16(bitPattern: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
    }

    /// Dequantizes `count` elements (a multiple of the block size) from `src` into `dst`.
    public static func row(_ type: GGMLType, from src: UnsafeRawPointer, count: Int, into dst: UnsafeMutablePointer<Float>) throws(Error) {
        guard count % type.blockSize == 0 else { throw .countNotMultipleOfBlock(count: count, block: type.blockSize) }
        let blocks = count / type.blockSize
        switch type {
        case .f32:
            for i in 0..<count { dst[i] = src.loadUnaligned(fromByteOffset: 4 * i, as: Float.self) }
        case .f16:
            for i in 0..<count { dst[i] = half(src, 2 * i) }
        case .bf16:
            for i in 0..<count { dst[i] = Float(bitPattern: UInt32(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16) }
        case .q8_0:
            for b in 0..<blocks {
                let block = src + b * 34
                let d = half(block, 0)
                for j in 0..<32 { dst[b * 32 + j] = d * Float(block.load(fromByteOffset: 2 + j, as: Int8.self)) }
            }
        case .q4_0:
            for b in 0..<blocks {
                let block = src + b * 18
                let d = half(block, 0)
                for j in 0..<16 {
                    let q = block.load(fromByteOffset: 2 + j, as: UInt8.self)
                    dst[b * 32 + j] = d * Float(Int(q & 0xF) - 8)
                    dst[b * 32 + j + 16] = d * Float(Int(q >> 4) - 8)
                }
            }
        case .q4_1:
            for b in 0..<blocks {
                let block = src + b * 20
                let d = half(block, 0), m = half(block, 2)
                for j in 0..<16 {
                    let q = block.load(fromByteOffset: 4 + j, as: UInt8.self)
                    dst[b * 32 + j] = d * Float(q & 0xF) + m
                    dst[b * 32 + j + 16] = d * Float(q >> 4) + m
                }
            }
        case .q5_0:
            for b in 0..<blocks {
                let block = src + b * 22
                let d = half(block, 0)
                let high = block.loadUnaligned(fromByteOffset: 2, as: UInt32.self)
                for j in 0..<16 {
                    let q = block.load(fromByteOffset: 6 + j, as: UInt8.self)
                    let h0 = Int((high >> UInt32(j)) & 1) << 4, h1 = Int((high >> UInt32(j + 16)) & 1) << 4
                    dst[b * 32 + j] = d * Float((Int(q & 0xF) | h0) - 16)
                    dst[b * 32 + j + 16] = d * Float((Int(q >> 4) | h1) - 16)
                }
            }
        case .q5_1:
            for b in 0..<blocks {
                let block = src + b * 24
                let d = half(block, 0), m = half(block, 2)
                let high = block.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
                for j in 0..<16 {
                    let q = block.load(fromByteOffset: 8 + j, as: UInt8.self)
                    let h0 = Int((high >> UInt32(j)) & 1) << 4, h1 = Int((high >> UInt32(j + 16)) & 1) << 4
                    dst[b * 32 + j] = d * Float(Int(q & 0xF) | h0) + m
                    dst[b * 32 + j + 16] = d * Float(Int(q >> 4) | h1) + m
                }
            }
        case .q4_K, .q5_K:
            // d, dmin (f16), 12 bytes of 6-bit scales/mins for 8 sub-blocks, [32 bytes high bits (Q5_K)], 128 bytes of nibbles.
            let isQ5 = type == .q5_K
            for b in 0..<blocks {
                let block = src + b * type.blockBytes
                let d = half(block, 0), dmin = half(block, 2)
                let scales = block + 4
                let highBits = block + 16
                let qs = block + (isQ5 ? 48 : 16)
                var out = dst + b * 256
                for pair in 0..<4 {
                    let (sc0, m0) = kQuantScaleMin(2 * pair, scales)
                    let (sc1, m1) = kQuantScaleMin(2 * pair + 1, scales)
                    for l in 0..<32 {
                        let q = qs.load(fromByteOffset: pair * 32 + l, as: UInt8.self)
                        var lo = Int(q & 0xF), hi = Int(q >> 4)
                        if isQ5 {
                            let h = highBits.load(fromByteOffset: l, as: UInt8.self)
                            if h & (1 << (2 * pair)) != 0 { lo += 16 }
                            if h & (1 << (2 * pair + 1)) != 0 { hi += 16 }
                        }
                        out[l] = d * Float(sc0) * Float(lo) - dmin * Float(m0)
                        out[l + 32] = d * Float(sc1) * Float(hi) - dmin * Float(m1)
                    }
                    out += 64
                }
            }
        case .q6_K:
            // 128 bytes low nibbles, 64 bytes high 2-bits, 16 int8 scales, f16 d.
            for b in 0..<blocks {
                let block = src + b * 210
                let ql = block, qh = block + 128, sc = block + 192
                let d = half(block, 208)
                for half128 in 0..<2 {
                    let out = dst + b * 256 + half128 * 128
                    let l0 = ql + half128 * 64, h0 = qh + half128 * 32, s0 = sc + half128 * 8
                    for l in 0..<32 {
                        let group = l / 16
                        let qlA = l0.load(fromByteOffset: l, as: UInt8.self), qlB = l0.load(fromByteOffset: l + 32, as: UInt8.self)
                        let h = h0.load(fromByteOffset: l, as: UInt8.self)
                        let q1 = Int((qlA & 0xF) | ((h >> 0) & 3) << 4) - 32
                        let q2 = Int((qlB & 0xF) | ((h >> 2) & 3) << 4) - 32
                        let q3 = Int((qlA >> 4) | ((h >> 4) & 3) << 4) - 32
                        let q4 = Int((qlB >> 4) | ((h >> 6) & 3) << 4) - 32
                        out[l] = d * Float(s0.load(fromByteOffset: group, as: Int8.self)) * Float(q1)
                        out[l + 32] = d * Float(s0.load(fromByteOffset: group + 2, as: Int8.self)) * Float(q2)
                        out[l + 64] = d * Float(s0.load(fromByteOffset: group + 4, as: Int8.self)) * Float(q3)
                        out[l + 96] = d * Float(s0.load(fromByteOffset: group + 6, as: Int8.self)) * Float(q4)
                    }
                }
            }
        case .q8_1, .q2_K, .q3_K, .q8_K:
            throw .unsupported(type)
        }
    }

    /// The 6-bit scale and min of sub-block `j` of a Q4_K/Q5_K block.
    @inline(__always) static func kQuantScaleMin(_ j: Int, _ q: UnsafeRawPointer) -> (UInt8, UInt8) {
        func at(_ i: Int) -> UInt8 { q.load(fromByteOffset: i, as: UInt8.self) }
        if j < 4 { return (at(j) & 63, at(j + 4) & 63) }
        return ((at(j + 4) & 0xF) | ((at(j - 4) >> 6) << 4), (at(j + 4) >> 4) | ((at(j) >> 6) << 4))
    }
}
