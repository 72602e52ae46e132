/// The K-quant integer sums in portable SIMD (any CPU, aarch64 included; the x86 builds use
/// `x86/AVX2` or `x86/AVX512`, and the tests hold all of them to the scalar reference).

/// Lane j = Σ_{e=4j…4j+3} w[e]·a[e] for one 32-element chunk (w unsigned, below 64; a signed).
@inline(__always) func portableChunkLanes(_ w: SIMD32<UInt8>, _ a: UnsafePointer<Int8>) -> SIMD8<Int32> {
    let activations = SIMD32<Int16>(truncatingIfNeeded: UnsafeRawPointer(a).loadUnaligned(as: SIMD32<Int8>.self))
    let products = SIMD32<Int16>(truncatingIfNeeded: w) &* activations  // |w·a| ≤ 63·127 fits Int16
    let pairs = unsafeBitCast(products, to: SIMD16<Int32>.self)
    let pairSums = ((pairs &<< 16) &>> 16) &+ (pairs &>> 16)
    return pairSums.evenHalf &+ pairSums.oddHalf
}

/// Σ over the eight sub-blocks of minimum × (sum of its 32 activation quants).
@inline(__always) func portableMinimum(_ sm: SIMD16<UInt8>, _ sums16: UnsafePointer<Int16>) -> Int32 {
    let s = UnsafeRawPointer(sums16).loadUnaligned(as: SIMD16<Int16>.self)
    let pairSums = SIMD8<Int32>(truncatingIfNeeded: s.evenHalf) &+ SIMD8<Int32>(truncatingIfNeeded: s.oddHalf)
    let minimums = SIMD8<Int32>(truncatingIfNeeded: sm.highHalf)
    return (pairSums &* minimums).wrappedSum()
}

/// Chunk c (0…7) of a Q4_K/Q5_K block's 4-bit quants: byte l of 32-byte group c / 2, low nibble for even c.
@inline(__always) private func nibbleChunk(_ qs: UnsafeRawPointer, _ c: Int) -> SIMD32<UInt8> {
    let bytes = qs.loadUnaligned(fromByteOffset: (c / 2) * 32, as: SIMD32<UInt8>.self)
    return c % 2 == 0 ? bytes & 0x0F : bytes &>> 4
}

extension Q4_K {
    @inline(never)
    static func portableRows(_ rows: Range<Int>, weights: UnsafeRawPointer, rowBytes: Int, x: UnsafePointer<Q8KView>, tokens: Int, columns: Int,
                       y: UnsafeMutablePointer<Float>, stride: Int) {
        KQuantMatMul.drive(Q4_K.self, rows, weights: weights, rowBytes: rowBytes, x: x, tokens: tokens, columns: columns, y: y, stride: stride,
                           sums: { portableSums($0, $1, block: $2, tokens: $3, into: $4) })
    }

    @inline(__always)
    static func portableSums(_ w: UnsafeRawPointer, _ x: UnsafePointer<Q8KView>, block b: Int, tokens: Int, into out: UnsafeMutablePointer<KSums>) {
        let sm = unpackScalesAndMinimums(w + 4), qs = w + quantsOffset
        for t in 0..<tokens {
            let q8 = x[t].block(b)
            var lanes = SIMD8<Int32>()
            for c in 0..<8 { lanes &+= Int32(sm[c]) &* portableChunkLanes(nibbleChunk(qs, c), q8 + 32 * c) }
            out[t] = KSums(lanes: lanes, minimum: portableMinimum(sm, x[t].blockSums(b)))
        }
    }
}

extension Q5_K {
    @inline(never)
    static func portableRows(_ rows: Range<Int>, weights: UnsafeRawPointer, rowBytes: Int, x: UnsafePointer<Q8KView>, tokens: Int, columns: Int,
                       y: UnsafeMutablePointer<Float>, stride: Int) {
        KQuantMatMul.drive(Q5_K.self, rows, weights: weights, rowBytes: rowBytes, x: x, tokens: tokens, columns: columns, y: y, stride: stride,
                           sums: { portableSums($0, $1, block: $2, tokens: $3, into: $4) })
    }

    @inline(__always)
    static func portableSums(_ w: UnsafeRawPointer, _ x: UnsafePointer<Q8KView>, block b: Int, tokens: Int, into out: UnsafeMutablePointer<KSums>) {
        let sm = unpackScalesAndMinimums(w + 4), qs = w + quantsOffset
        let qh = w.loadUnaligned(fromByteOffset: highBitsOffset, as: SIMD32<UInt8>.self)
        for t in 0..<tokens {
            let q8 = x[t].block(b)
            var lanes = SIMD8<Int32>()
            for c in 0..<8 {
                let quants = nibbleChunk(qs, c) | (((qh &>> UInt8(c)) & 1) &<< 4)
                lanes &+= Int32(sm[c]) &* portableChunkLanes(quants, q8 + 32 * c)
            }
            out[t] = KSums(lanes: lanes, minimum: portableMinimum(sm, x[t].blockSums(b)))
        }
    }
}

extension Q6_K {
    @inline(never)
    static func portableRows(_ rows: Range<Int>, weights: UnsafeRawPointer, rowBytes: Int, x: UnsafePointer<Q8KView>, tokens: Int, columns: Int,
                       y: UnsafeMutablePointer<Float>, stride: Int) {
        KQuantMatMul.drive(Q6_K.self, rows, weights: weights, rowBytes: rowBytes, x: x, tokens: tokens, columns: columns, y: y, stride: stride,
                           sums: { portableSums($0, $1, block: $2, tokens: $3, into: $4) })
    }

    @inline(__always)
    static func portableSums(_ w: UnsafeRawPointer, _ x: UnsafePointer<Q8KView>, block b: Int, tokens: Int, into out: UnsafeMutablePointer<KSums>) {
        let scales = SIMD16<Int32>(truncatingIfNeeded: w.loadUnaligned(fromByteOffset: scalesOffset, as: SIMD16<Int8>.self))
        for t in 0..<tokens {
            let q8 = x[t].block(b)
            var lanes = SIMD8<Int32>()
            for c in 0..<8 {
                let half = c / 4, quarter = c % 4
                let ql = w.loadUnaligned(fromByteOffset: half * 64 + (quarter % 2) * 32, as: SIMD32<UInt8>.self)
                let qh = w.loadUnaligned(fromByteOffset: highBitsOffset + half * 32, as: SIMD32<UInt8>.self)
                let quants = (quarter < 2 ? ql & 0x0F : ql &>> 4) | (((qh &>> UInt8(2 * quarter)) & 3) &<< 4)
                let chunk = portableChunkLanes(quants, q8 + 32 * c)
                let low = scales[2 * c], high = scales[2 * c + 1]
                lanes &+= SIMD8(low, low, low, low, high, high, high, high) &* chunk
            }
            let s = SIMD16<Int32>(truncatingIfNeeded: UnsafeRawPointer(x[t].blockSums(b)).loadUnaligned(as: SIMD16<Int16>.self))
            let weighted = s &* scales
            lanes &-= (weighted.evenHalf &+ weighted.oddHalf) &<< 5
            out[t] = KSums(lanes: lanes, minimum: 0)
        }
    }
}
