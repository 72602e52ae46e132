import Foundation

/// Grouped-query attention of one query position over the cached keys and values.
///
/// It follows llama.cpp's CPU flash-attention arithmetic (its default): the query is rounded to
/// Float16 like the cached keys, each score is a dot product summed in llama.cpp's order, softmax
/// is computed online, and the weighted sum of values is accumulated in Float16. Matching that
/// rounding is what keeps greedy output token-identical on this small, rounding-sensitive model.
enum Attention {
    /// Attention of `tokens` query positions, rows `queryStride` apart at `query` (token t at
    /// position `firstLength - 1 + t`, so it sees `firstLength + t` cached entries), into `output`
    /// with the same stride. Heads of all tokens are spread over `pool`'s threads; each (token,
    /// head) is computed by one thread, identically whichever, so the result never depends on the
    /// thread count.
    ///
    /// `span` says which cached entries a token sees and where they are: with a window, only the
    /// `window` latest positions (its own included); positions live in slot position mod `slots`
    /// (a ring for a sliding-window layer; a full cache has a slot per position). Entries are
    /// visited oldest first either way, so a ring gives the bits a full cache would.
    static func run(
        query: UnsafeMutablePointer<Float>, tokens: Int = 1, queryStride: Int = 0,
        keys: UnsafePointer<Float16>, values: UnsafePointer<Float16>, firstLength: Int, span: Span = .full,
        config c: LlamaConfig, pool: ThreadPool, output: UnsafeMutablePointer<Float>
    ) {
        let heads = c.headCount
        // Below about this many cached entries a head is quicker than waking another thread.
        let work = heads * tokens * min(firstLength + tokens / 2, span.window ?? .max)
        pool.parallelFor(items: heads * tokens, serial: work < 256) { items in
            runItems(items, tokens: tokens, query: query, queryStride: queryStride, keys: keys, values: values,
                     firstLength: firstLength, span: span, config: c, output: output)
        }
    }

    /// Which cached positions a query sees, and in which slots they are.
    struct Span {
        var window: Int?
        var slots: Int

        static let full = Span(window: nil, slots: .max)

        /// The first position seen by a query that sees `length` positions without a window.
        @inline(__always) func first(length: Int) -> Int { window.map { max(0, length - $0) } ?? 0 }
    }

    /// Items are head-major (item = head · tokens + token), so a thread's chunk spans tokens of
    /// every length rather than only the longest ones.
    private static func runItems(
        _ items: Range<Int>, tokens: Int, query: UnsafeMutablePointer<Float>, queryStride: Int,
        keys: UnsafePointer<Float16>, values: UnsafePointer<Float16>, firstLength: Int, span: Span,
        config c: LlamaConfig, output: UnsafeMutablePointer<Float>
    ) {
        let hd = c.headDimension
        let scale = c.attentionScale
        withUnsafeTemporaryAllocation(of: Float16.self, capacity: hd) { buffer in
            let acc = buffer.baseAddress!
            for item in items {
                let h = item / tokens, t = item % tokens
                let q = query + t * queryStride, out = output + t * queryStride, length = firstLength + t
                if hd % 16 == 0 {
                    head(h, query: q, keys: keys, values: values, length: length, span: span, config: c, scale: scale, accumulator: acc, output: out)
                } else {
                    scalarHead(h, query: q, keys: keys, values: values, length: length, span: span, config: c, scale: scale, accumulator: acc, output: out)
                }
            }
        }
    }

    /// One query head, 16 dimensions at a time: every lane performs the scalar twin's operations
    /// (`scalarHead`), so the bits are the same.
    @inline(__always)
    static func head(
        _ h: Int, query: UnsafeMutablePointer<Float>, keys: UnsafePointer<Float16>, values: UnsafePointer<Float16>,
        length: Int, span: Span = .full, config c: LlamaConfig, scale: Float, accumulator acc: UnsafeMutablePointer<Float16>,
        output: UnsafeMutablePointer<Float>
    ) {
        let hd = c.headDimension, chunks = hd / 16
        let group = c.headCount / c.kvHeadCount
        let q = query + h * hd
        let accumulator = UnsafeMutableRawPointer(acc)
        for j in 0..<chunks {
            let p = UnsafeMutableRawPointer(q + 16 * j)
            p.storeBytes(of: SIMD16<Float>(SIMD16<Float16>(p.loadUnaligned(as: SIMD16<Float>.self))), as: SIMD16<Float>.self)
            accumulator.storeBytes(of: SIMD16<Float16>(), toByteOffset: 32 * j, as: SIMD16<Float16>.self)
        }
        let kvOffset = (h / group) * hd
        var maximum = -Float.infinity
        var total: Float = 0
        let first = span.first(length: length)
        var slot = first % span.slots
        for _ in first..<length {
            let t = slot
            slot = slot + 1 == span.slots ? 0 : slot + 1
            let s = dot(keys + t * c.kvDimension + kvOffset, q, count: hd) * scale
            var ms: Float = 1, vs: Float = 1
            if s > maximum {
                let previous = maximum
                maximum = s
                ms = previous == -.infinity ? 0 : Foundation.exp(previous - maximum)
                for j in 0..<chunks {
                    let a = SIMD16<Float>(accumulator.load(fromByteOffset: 32 * j, as: SIMD16<Float16>.self))
                    accumulator.storeBytes(of: SIMD16<Float16>(a * ms), toByteOffset: 32 * j, as: SIMD16<Float16>.self)
                }
            } else {
                vs = Foundation.exp(s - maximum)
            }
            let v = UnsafeRawPointer(values + t * c.kvDimension + kvOffset)
            for j in 0..<chunks {
                let a = SIMD16<Float>(accumulator.load(fromByteOffset: 32 * j, as: SIMD16<Float16>.self))
                let x = SIMD16<Float>(v.loadUnaligned(fromByteOffset: 32 * j, as: SIMD16<Float16>.self))
                accumulator.storeBytes(of: SIMD16<Float16>(a.addingProduct(x, SIMD16(repeating: vs))), toByteOffset: 32 * j, as: SIMD16<Float16>.self)
            }
            total = vs.addingProduct(total, ms)  // fused, as the C compiler contracts `S*ms + vs`
        }
        let out = UnsafeMutableRawPointer(output + h * hd)
        let inverse = 1 / total
        for j in 0..<chunks {
            let a = SIMD16<Float>(accumulator.load(fromByteOffset: 32 * j, as: SIMD16<Float16>.self))
            out.storeBytes(of: a * inverse, toByteOffset: 64 * j, as: SIMD16<Float>.self)
        }
    }

    /// The scalar twin of `head`, and the path for head sizes that are not multiples of 16.
    static func scalarHead(
        _ h: Int, query: UnsafeMutablePointer<Float>, keys: UnsafePointer<Float16>, values: UnsafePointer<Float16>,
        length: Int, span: Span = .full, config c: LlamaConfig, scale: Float, accumulator acc: UnsafeMutablePointer<Float16>,
        output: UnsafeMutablePointer<Float>
    ) {
        let hd = c.headDimension
        let group = c.headCount / c.kvHeadCount
        do {
            let q = query + h * hd
            for i in 0..<hd { q[i] = Float(Float16(q[i])) }
            let kvOffset = (h / group) * hd
            var maximum = -Float.infinity
            var total: Float = 0
            for i in 0..<hd { acc[i] = 0 }
            let first = span.first(length: length)
            var slot = first % span.slots
            for _ in first..<length {
                let t = slot
                slot = slot + 1 == span.slots ? 0 : slot + 1
                let s = dot(keys + t * c.kvDimension + kvOffset, q, count: hd) * scale
                var ms: Float = 1, vs: Float = 1
                if s > maximum {
                    let previous = maximum
                    maximum = s
                    ms = previous == -.infinity ? 0 : Foundation.exp(previous - maximum)
                    for i in 0..<hd { acc[i] = Float16(Float(acc[i]) * ms) }
                } else {
                    vs = Foundation.exp(s - maximum)
                }
                let v = values + t * c.kvDimension + kvOffset
                for i in 0..<hd { acc[i] = Float16(Float(acc[i]).addingProduct(Float(v[i]), vs)) }
                total = vs.addingProduct(total, ms)  // fused, as the C compiler contracts `S*ms + vs`
            }
            let out = output + h * hd
            let inverse = 1 / total
            for i in 0..<hd { out[i] = Float(acc[i]) * inverse }
        }
    }

    /// k·q in the order of llama.cpp's AVX-512 `ggml_vec_dot_f16`: four 16-lane accumulators over
    /// steps of 64, folded pairwise, then a halving tree over the 16 lanes; any tail sequentially.
    @inline(__always)
    static func dot(_ k: UnsafePointer<Float16>, _ q: UnsafePointer<Float>, count n: Int) -> Float {
        var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
        let whole = n & ~63
        var i = 0
        while i < whole {
            a0 = a0.addingProduct(lanes(k + i), lanes(q + i))
            a1 = a1.addingProduct(lanes(k + i + 16), lanes(q + i + 16))
            a2 = a2.addingProduct(lanes(k + i + 32), lanes(q + i + 32))
            a3 = a3.addingProduct(lanes(k + i + 48), lanes(q + i + 48))
            i += 64
        }
        let folded = (a0 + a2) + (a1 + a3)
        let b = folded.lowHalf + folded.highHalf
        let c = b.lowHalf + b.highHalf
        var sum = Double((c[0] + c[2]) + (c[1] + c[3]))
        while i < n {
            sum += Double(Float(k[i]) * q[i])
            i += 1
        }
        return Float(sum)
    }

    @inline(__always) private static func lanes(_ p: UnsafePointer<Float16>) -> SIMD16<Float> {
        SIMD16<Float>(UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float16>.self))
    }

    @inline(__always) private static func lanes(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
    }
}
