#if KERNELS_AVX512
import _Builtin_intrinsics.intel

// The K-quant integer sums on AVX-512 (BW): the AVX2 computation two 32-element chunks at a time,
// in 512-bit vpmaddubsw / vpmaddwd. A chunk pair's 16 lanes fold into the format's 8 (lane j of
// each chunk holds its elements 4j…4j+3), exact as integers. (VNNI's vpdpbusd sums four products
// into a lane without the sub-block scales between, which these formats apply per 16 or 32
// elements; vpmaddubsw + vpmaddwd keeps the scales in one pass.)

@inline(__always) func load512(_ p: UnsafeRawPointer, _ offset: Int = 0) -> __m512i {
    p.loadUnaligned(fromByteOffset: offset, as: __m512i.self)
}

/// Two 256-bit halves as one 512-bit vector.
@inline(__always) func joined(_ low: __m256i, _ high: __m256i) -> __m512i {
    unsafeBitCast(SIMD8<Int64>(lowHalf: unsafeBitCast(low, to: SIMD4<Int64>.self), highHalf: unsafeBitCast(high, to: SIMD4<Int64>.self)), to: __m512i.self)
}

/// 16 lanes folded to 8: lane j + lane j + 8.
@inline(__always) func folded(_ v: __m512i) -> SIMD8<Int32> {
    let l = unsafeBitCast(v, to: SIMD16<Int32>.self)
    return l.lowHalf &+ l.highHalf
}

@inline(__always) func avx512ScaledPair(_ w: __m512i, _ a: UnsafeRawPointer, _ scale: __m512i) -> __m512i {
    _mm512_madd_epi16(_mm512_maddubs_epi16(w, load512(a)), scale)
}

/// Scales c and c + 1 (16-bit lanes) for a chunk pair: 16 lanes of each.
@inline(__always) func pairScale(_ c: UInt8, _ d: UInt8) -> __m512i {
    joined(_mm256_set1_epi16(Int16(c)), _mm256_set1_epi16(Int16(d)))
}

extension Q4_K {
    @inline(never)
    static func avx512Rows(_ rows: Range<Int>, weights: UnsafeRawPointer, rowBytes: Int, x: UnsafePointer<Q8KView>, tokens: Int, columns: Int,
                       y: UnsafeMutablePointer<Float>, stride: Int) {
        KQuantMatMul.drive(Q4_K.self, rows, weights: weights, rowBytes: rowBytes, x: x, tokens: tokens, columns: columns, y: y, stride: stride,
                           sums: { avx512Sums($0, $1, block: $2, tokens: $3, into: $4) })
    }

    @inline(__always)
    static func avx512Sums(_ w: UnsafeRawPointer, _ x: UnsafePointer<Q8KView>, block b: Int, tokens: Int, into out: UnsafeMutablePointer<KSums>) {
        let sm = unpackScalesAndMinimums(w + 4), qs = w + quantsOffset
        let m4 = _mm256_set1_epi8(0x0F)
        /// Chunks 2p and 2p + 1: the low and high nibbles of 32-byte group p, which are activation bytes 64p…64p + 63.
        @inline(__always) func pair(_ p: Int) -> __m512i {
            let bytes = load256(qs, 32 * p)
            return joined(_mm256_and_si256(bytes, m4), _mm256_and_si256(_mm256_srli_epi16(bytes, 4), m4))
        }
        let w0 = pair(0), w1 = pair(1), w2 = pair(2), w3 = pair(3)
        let s0 = pairScale(sm[0], sm[1]), s1 = pairScale(sm[2], sm[3]), s2 = pairScale(sm[4], sm[5]), s3 = pairScale(sm[6], sm[7])
        let minimums = _mm_cvtepu8_epi16(unsafeBitCast(sm, to: __m128i.self).shiftedRight8())
        for t in 0..<tokens {
            let a = UnsafeRawPointer(x[t].block(b))
            var acc = avx512ScaledPair(w0, a, s0)
            acc = _mm512_add_epi32(acc, avx512ScaledPair(w1, a + 64, s1))
            acc = _mm512_add_epi32(acc, avx512ScaledPair(w2, a + 128, s2))
            acc = _mm512_add_epi32(acc, avx512ScaledPair(w3, a + 192, s3))
            out[t] = KSums(lanes: folded(acc), minimum: avx2Minimum(minimums, x[t].blockSums(b)))
        }
    }
}

extension Q5_K {
    @inline(never)
    static func avx512Rows(_ rows: Range<Int>, weights: UnsafeRawPointer, rowBytes: Int, x: UnsafePointer<Q8KView>, tokens: Int, columns: Int,
                       y: UnsafeMutablePointer<Float>, stride: Int) {
        KQuantMatMul.drive(Q5_K.self, rows, weights: weights, rowBytes: rowBytes, x: x, tokens: tokens, columns: columns, y: y, stride: stride,
                           sums: { avx512Sums($0, $1, block: $2, tokens: $3, into: $4) })
    }

    @inline(__always)
    static func avx512Sums(_ w: UnsafeRawPointer, _ x: UnsafePointer<Q8KView>, block b: Int, tokens: Int, into out: UnsafeMutablePointer<KSums>) {
        let sm = unpackScalesAndMinimums(w + 4), qs = w + quantsOffset
        let m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1)
        let qh = load256(w, highBitsOffset)
        @inline(__always) func high(_ c: Int) -> __m256i {
            _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, Int32(c)), one), 4)
        }
        @inline(__always) func pair(_ p: Int) -> __m512i {
            let bytes = load256(qs, 32 * p)
            let low = _mm256_or_si256(_mm256_and_si256(bytes, m4), high(2 * p))
            let upper = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bytes, 4), m4), high(2 * p + 1))
            return joined(low, upper)
        }
        let w0 = pair(0), w1 = pair(1), w2 = pair(2), w3 = pair(3)
        let s0 = pairScale(sm[0], sm[1]), s1 = pairScale(sm[2], sm[3]), s2 = pairScale(sm[4], sm[5]), s3 = pairScale(sm[6], sm[7])
        let minimums = _mm_cvtepu8_epi16(unsafeBitCast(sm, to: __m128i.self).shiftedRight8())
        for t in 0..<tokens {
            let a = UnsafeRawPointer(x[t].block(b))
            var acc = avx512ScaledPair(w0, a, s0)
            acc = _mm512_add_epi32(acc, avx512ScaledPair(w1, a + 64, s1))
            acc = _mm512_add_epi32(acc, avx512ScaledPair(w2, a + 128, s2))
            acc = _mm512_add_epi32(acc, avx512ScaledPair(w3, a + 192, s3))
            out[t] = KSums(lanes: folded(acc), minimum: avx2Minimum(minimums, x[t].blockSums(b)))
        }
    }
}

extension Q6_K {
    @inline(never)
    static func avx512Rows(_ rows: Range<Int>, weights: UnsafeRawPointer, rowBytes: Int, x: UnsafePointer<Q8KView>, tokens: Int, columns: Int,
                       y: UnsafeMutablePointer<Float>, stride: Int) {
        KQuantMatMul.drive(Q6_K.self, rows, weights: weights, rowBytes: rowBytes, x: x, tokens: tokens, columns: columns, y: y, stride: stride,
                           sums: { avx512Sums($0, $1, block: $2, tokens: $3, into: $4) })
    }

    @inline(__always)
    static func avx512Sums(_ w: UnsafeRawPointer, _ x: UnsafePointer<Q8KView>, block b: Int, tokens: Int, into out: UnsafeMutablePointer<KSums>) {
        let m4 = _mm512_set1_epi8(0x0F), m3 = _mm512_set1_epi8(3)
        let scales16 = _mm256_cvtepi8_epi16(w.loadUnaligned(fromByteOffset: scalesOffset, as: __m128i.self))
        /// Chunks 4h + 2k and 4h + 2k + 1 (k = 0: the low nibbles of ql[0…63] with qh bits 0–3; k = 1: the high nibbles, bits 4–7).
        @inline(__always) func pair(_ h: Int, _ k: Int) -> __m512i {
            let ql = load512(w, h * 64)
            let qh = load256(w, highBitsOffset + h * 32)
            let low = k == 0 ? _mm512_and_si512(ql, m4) : _mm512_and_si512(_mm512_srli_epi16(ql, 4), m4)
            let bits = joined(_mm256_srli_epi16(qh, Int32(4 * k)), _mm256_srli_epi16(qh, Int32(4 * k + 2)))
            return _mm512_or_si512(low, _mm512_slli_epi16(_mm512_and_si512(bits, m3), 4))
        }
        /// The 16-bit scale lanes of chunks c and c + 1: groups 2c, 2c + 1, 2c + 2, 2c + 3, eight lanes each.
        @inline(__always) func scale(_ c: Int) -> __m512i {
            func s(_ g: Int) -> __m128i { _mm_set1_epi16(Int16(w.load(fromByteOffset: scalesOffset + g, as: Int8.self))) }
            return joined(_mm256_setr_m128i(s(2 * c), s(2 * c + 1)), _mm256_setr_m128i(s(2 * c + 2), s(2 * c + 3)))
        }
        let w0 = pair(0, 0), w1 = pair(0, 1), w2 = pair(1, 0), w3 = pair(1, 1)
        let s0 = scale(0), s1 = scale(2), s2 = scale(4), s3 = scale(6)
        for t in 0..<tokens {
            let a = UnsafeRawPointer(x[t].block(b))
            var acc = avx512ScaledPair(w0, a, s0)
            acc = _mm512_add_epi32(acc, avx512ScaledPair(w1, a + 64, s1))
            acc = _mm512_add_epi32(acc, avx512ScaledPair(w2, a + 128, s2))
            acc = _mm512_add_epi32(acc, avx512ScaledPair(w3, a + 192, s3))
            let offset = _mm256_slli_epi32(_mm256_madd_epi16(load256(x[t].blockSums(b)), scales16), 5)
            out[t] = KSums(lanes: folded(acc) &- lanes(offset), minimum: 0)
        }
    }
}
#endif
