import Foundation

/// Grouped-query attention of one query position over the cached keys and values.
///
/// It follows llama.cpp's CPU flash-attention arithmetic (its default): the query is rounded to
/// Float16 like the cached keys, softmax is computed online, and the weighted sum of values is
/// accumulated in Float16. Matching that rounding is what keeps greedy output token-identical.
enum Attention {
    static func run(
        query: UnsafeMutablePointer<Float>, keys: UnsafePointer<Float16>, values: UnsafePointer<Float16>,
        length: Int, config c: LlamaConfig, scratch: ForwardScratch, output: UnsafeMutablePointer<Float>
    ) {
        let hd = c.headDimension
        let group = c.headCount / c.kvHeadCount
        let scale = 1 / Float(hd).squareRoot()
        let acc = scratch.attentionAccumulator
        let exact = ProcessInfo.processInfo.environment["EXO_ATTN_F32"] != nil
        var acc32 = [Float](repeating: 0, count: hd)
        for h in 0..<c.headCount {
            let q = query + h * hd
            if !exact { for i in 0..<hd { q[i] = Float(Float16(q[i])) } }
            for i in 0..<hd { acc32[i] = 0 }
            let kvOffset = (h / group) * hd
            var maximum = -Float.infinity
            var total: Float = 0
            for i in 0..<hd { acc[i] = 0 }
            for t in 0..<length {
                let k = keys + t * c.kvDimension + kvOffset
                var dot: Float = 0
                for i in 0..<hd { dot += Float(k[i]) * q[i] }
                let s = dot * scale
                var ms: Float = 1, vs: Float = 1
                if s > maximum {
                    let previous = maximum
                    maximum = s
                    ms = previous == -.infinity ? 0 : Foundation.exp(previous - maximum)
                    for i in 0..<hd { acc[i] = Float16(Float(acc[i]) * ms); acc32[i] *= ms }
                } else {
                    vs = Foundation.exp(s - maximum)
                }
                let v = values + t * c.kvDimension + kvOffset
                for i in 0..<hd { acc[i] = Float16(Float(acc[i]).addingProduct(Float(v[i]), vs)); acc32[i] += Float(v[i]) * vs }
                total = total * ms + vs
            }
            let out = output + h * hd
            let inverse = 1 / total
            for i in 0..<hd { out[i] = (exact ? acc32[i] : Float(acc[i])) * inverse }
        }
    }
}
