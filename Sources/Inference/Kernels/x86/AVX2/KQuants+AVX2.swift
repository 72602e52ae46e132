#if KERNELS_AVX2
import _Builtin_intrinsics.intel

// The K-quant integer sums on AVX2 (256-bit vpmaddubsw, vpmaddwd), as ggml's x86 kernels compute
// them: unsigned weights times signed activation bytes summed in pairs, then times the sub-block
// scales summed in pairs again, giving lanes of four consecutive elements. Compiled where the
// build machine has AVX2 (AVX-512 machines too, where the tests hold it to the reference as well).

@inline(__always) func load256(_ p: UnsafeRawPointer, _ offset: Int = 0) -> __m256i {
    p.loadUnaligned(fromByteOffset: offset, as: __m256i.self)
}

@inline(__always) func lanes(_ v: __m256i) -> SIMD8<Int32> { unsafeBitCast(v, to: SIMD8<Int32>.self) }

/// The 16 sums of 16 activation quants summed in pairs (one per 32-element sub-block) times the
/// eight minimums (as 16-bit lanes), added up.
@inline(__always) func avx2Minimum(_ minimums: __m128i, _ sums16: UnsafePointer<Int16>) -> Int32 {
    let s = UnsafeRawPointer(sums16)
    let pairs = _mm_hadd_epi16(s.loadUnaligned(as: __m128i.self), s.loadUnaligned(fromByteOffset: 16, as: __m128i.self))
    let products = _mm_madd_epi16(pairs, minimums)
    return unsafeBitCast(products, to: SIMD4<Int32>.self).wrappedSum()
}

/// Σ over 32-byte chunks of scale × (weights · activations), chunk by chunk into 8 lanes.
@inline(__always) func avx2ScaledChunk(_ w: __m256i, _ a: UnsafeRawPointer, _ scale: __m256i) -> __m256i {
    _mm256_madd_epi16(_mm256_maddubs_epi16(w, load256(a)), scale)
}

extension Q4_K {
    @inline(never)
    static func avx2Rows(_ rows: Range<Int>, weights: UnsafeRawPointer, rowBytes: Int, x: UnsafePointer<Q8KView>, tokens: Int, columns: Int,
                       y: UnsafeMutablePointer<Float>, stride: Int) {
        KQuantMatMul.drive(Q4_K.self, rows, weights: weights, rowBytes: rowBytes, x: x, tokens: tokens, columns: columns, y: y, stride: stride,
                           sums: { avx2Sums($0, $1, block: $2, tokens: $3, into: $4) })
    }

    @inline(__always)
    static func avx2Sums(_ w: UnsafeRawPointer, _ x: UnsafePointer<Q8KView>, block b: Int, tokens: Int, into out: UnsafeMutablePointer<KSums>) {
        let sm = unpackScalesAndMinimums(w + 4), qs = w + quantsOffset
        let m4 = _mm256_set1_epi8(0x0F)
        let q0 = load256(qs), q1 = load256(qs, 32), q2 = load256(qs, 64), q3 = load256(qs, 96)
        let w0 = _mm256_and_si256(q0, m4), w1 = _mm256_and_si256(_mm256_srli_epi16(q0, 4), m4)
        let w2 = _mm256_and_si256(q1, m4), w3 = _mm256_and_si256(_mm256_srli_epi16(q1, 4), m4)
        let w4 = _mm256_and_si256(q2, m4), w5 = _mm256_and_si256(_mm256_srli_epi16(q2, 4), m4)
        let w6 = _mm256_and_si256(q3, m4), w7 = _mm256_and_si256(_mm256_srli_epi16(q3, 4), m4)
        let minimums = _mm_cvtepu8_epi16(unsafeBitCast(sm, to: __m128i.self).shiftedRight8())
        for t in 0..<tokens {
            let a = UnsafeRawPointer(x[t].block(b))
            var acc = avx2ScaledChunk(w0, a, _mm256_set1_epi16(Int16(sm[0])))
            acc = _mm256_add_epi32(acc, avx2ScaledChunk(w1, a + 32, _mm256_set1_epi16(Int16(sm[1]))))
            acc = _mm256_add_epi32(acc, avx2ScaledChunk(w2, a + 64, _mm256_set1_epi16(Int16(sm[2]))))
            acc = _mm256_add_epi32(acc, avx2ScaledChunk(w3, a + 96, _mm256_set1_epi16(Int16(sm[3]))))
            acc = _mm256_add_epi32(acc, avx2ScaledChunk(w4, a + 128, _mm256_set1_epi16(Int16(sm[4]))))
            acc = _mm256_add_epi32(acc, avx2ScaledChunk(w5, a + 160, _mm256_set1_epi16(Int16(sm[5]))))
            acc = _mm256_add_epi32(acc, avx2ScaledChunk(w6, a + 192, _mm256_set1_epi16(Int16(sm[6]))))
            acc = _mm256_add_epi32(acc, avx2ScaledChunk(w7, a + 224, _mm256_set1_epi16(Int16(sm[7]))))
            out[t] = KSums(lanes: lanes(acc), minimum: avx2Minimum(minimums, x[t].blockSums(b)))
        }
    }
}

extension Q5_K {
    @inline(never)
    static func avx2Rows(_ rows: Range<Int>, weights: UnsafeRawPointer, rowBytes: Int, x: UnsafePointer<Q8KView>, tokens: Int, columns: Int,
                       y: UnsafeMutablePointer<Float>, stride: Int) {
        KQuantMatMul.drive(Q5_K.self, rows, weights: weights, rowBytes: rowBytes, x: x, tokens: tokens, columns: columns, y: y, stride: stride,
                           sums: { avx2Sums($0, $1, block: $2, tokens: $3, into: $4) })
    }

    @inline(__always)
    static func avx2Sums(_ w: UnsafeRawPointer, _ x: UnsafePointer<Q8KView>, block b: Int, tokens: Int, into out: UnsafeMutablePointer<KSums>) {
        let sm = unpackScalesAndMinimums(w + 4), qs = w + quantsOffset
        let m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1)
        let qh = load256(w, highBitsOffset)
        /// Chunk c's quants: its nibbles and, as 16, bit c of the high bits.
        @inline(__always) func chunk(_ c: Int) -> __m256i {
            let bytes = load256(qs, (c / 2) * 32)
            let low = c % 2 == 0 ? _mm256_and_si256(bytes, m4) : _mm256_and_si256(_mm256_srli_epi16(bytes, 4), m4)
            let high = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, Int32(c)), one), 4)
            return _mm256_or_si256(low, high)
        }
        let w0 = chunk(0), w1 = chunk(1), w2 = chunk(2), w3 = chunk(3), w4 = chunk(4), w5 = chunk(5), w6 = chunk(6), w7 = chunk(7)
        let minimums = _mm_cvtepu8_epi16(unsafeBitCast(sm, to: __m128i.self).shiftedRight8())
        for t in 0..<tokens {
            let a = UnsafeRawPointer(x[t].block(b))
            var acc = avx2ScaledChunk(w0, a, _mm256_set1_epi16(Int16(sm[0])))
            acc = _mm256_add_epi32(acc, avx2ScaledChunk(w1, a + 32, _mm256_set1_epi16(Int16(sm[1]))))
            acc = _mm256_add_epi32(acc, avx2ScaledChunk(w2, a + 64, _mm256_set1_epi16(Int16(sm[2]))))
            acc = _mm256_add_epi32(acc, avx2ScaledChunk(w3, a + 96, _mm256_set1_epi16(Int16(sm[3]))))
            acc = _mm256_add_epi32(acc, avx2ScaledChunk(w4, a + 128, _mm256_set1_epi16(Int16(sm[4]))))
            acc = _mm256_add_epi32(acc, avx2ScaledChunk(w5, a + 160, _mm256_set1_epi16(Int16(sm[5]))))
            acc = _mm256_add_epi32(acc, avx2ScaledChunk(w6, a + 192, _mm256_set1_epi16(Int16(sm[6]))))
            acc = _mm256_add_epi32(acc, avx2ScaledChunk(w7, a + 224, _mm256_set1_epi16(Int16(sm[7]))))
            out[t] = KSums(lanes: lanes(acc), minimum: avx2Minimum(minimums, x[t].blockSums(b)))
        }
    }
}

extension Q6_K {
    @inline(never)
    static func avx2Rows(_ rows: Range<Int>, weights: UnsafeRawPointer, rowBytes: Int, x: UnsafePointer<Q8KView>, tokens: Int, columns: Int,
                       y: UnsafeMutablePointer<Float>, stride: Int) {
        KQuantMatMul.drive(Q6_K.self, rows, weights: weights, rowBytes: rowBytes, x: x, tokens: tokens, columns: columns, y: y, stride: stride,
                           sums: { avx2Sums($0, $1, block: $2, tokens: $3, into: $4) })
    }

    @inline(__always)
    static func avx2Sums(_ w: UnsafeRawPointer, _ x: UnsafePointer<Q8KView>, block b: Int, tokens: Int, into out: UnsafeMutablePointer<KSums>) {
        let m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(3)
        let scaleBytes = w.loadUnaligned(fromByteOffset: scalesOffset, as: __m128i.self)
        let scales16 = _mm256_cvtepi8_epi16(scaleBytes)
        /// Chunk c's 6-bit quants (0…63).
        @inline(__always) func chunk(_ c: Int) -> __m256i {
            let half = c / 4, quarter = c % 4
            let ql = load256(w, half * 64 + (quarter % 2) * 32), qh = load256(w, highBitsOffset + half * 32)
            let low = quarter < 2 ? _mm256_and_si256(ql, m4) : _mm256_and_si256(_mm256_srli_epi16(ql, 4), m4)
            let high = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, Int32(2 * quarter)), m3), 4)
            return _mm256_or_si256(low, high)
        }
        /// Chunk c's scales as 16-bit lanes: group 2c for its first 16 elements, 2c + 1 for the rest.
        @inline(__always) func scale(_ c: Int) -> __m256i {
            let low = Int16(w.load(fromByteOffset: scalesOffset + 2 * c, as: Int8.self))
            let high = Int16(w.load(fromByteOffset: scalesOffset + 2 * c + 1, as: Int8.self))
            return _mm256_setr_m128i(_mm_set1_epi16(low), _mm_set1_epi16(high))
        }
        let w0 = chunk(0), w1 = chunk(1), w2 = chunk(2), w3 = chunk(3), w4 = chunk(4), w5 = chunk(5), w6 = chunk(6), w7 = chunk(7)
        let s0 = scale(0), s1 = scale(1), s2 = scale(2), s3 = scale(3), s4 = scale(4), s5 = scale(5), s6 = scale(6), s7 = scale(7)
        for t in 0..<tokens {
            let a = UnsafeRawPointer(x[t].block(b))
            var acc = avx2ScaledChunk(w0, a, s0)
            acc = _mm256_add_epi32(acc, avx2ScaledChunk(w1, a + 32, s1))
            acc = _mm256_add_epi32(acc, avx2ScaledChunk(w2, a + 64, s2))
            acc = _mm256_add_epi32(acc, avx2ScaledChunk(w3, a + 96, s3))
            acc = _mm256_add_epi32(acc, avx2ScaledChunk(w4, a + 128, s4))
            acc = _mm256_add_epi32(acc, avx2ScaledChunk(w5, a + 160, s5))
            acc = _mm256_add_epi32(acc, avx2ScaledChunk(w6, a + 192, s6))
            acc = _mm256_add_epi32(acc, avx2ScaledChunk(w7, a + 224, s7))
            // The −32 of every quant, through the activation sums: lane j loses 32 (s[2j]·sc[2j] + s[2j+1]·sc[2j+1]).
            let offset = _mm256_slli_epi32(_mm256_madd_epi16(load256(x[t].blockSums(b)), scales16), 5)
            out[t] = KSums(lanes: lanes(_mm256_sub_epi32(acc, offset)), minimum: 0)
        }
    }
}

extension __m128i {
    /// The upper eight bytes moved down (the minimums of `unpackScalesAndMinimums`).
    @inline(__always) func shiftedRight8() -> __m128i { _mm_unpackhi_epi64(self, self) }
}
#endif
