/// W·x for several activations at once (prefill): each weight block is read and unpacked once and
/// applied to every token, instead of once per token. Each (row, token) result is computed with
/// exactly the operations, in exactly the order, of `QuantizedMatVec` — so prefilling a batch
/// gives bit-identical results to feeding the tokens one at a time.
public enum QuantizedMatMat {
    /// Whether `type` has a batched kernel (others fall back to one matrix-vector product per token).
    public static func supports(_ type: GGMLType) -> Bool {
        switch type {
        case .q4_1, .q8_0, .q4_0, .q5_0, .q5_1: true
        default: KQuantMatMul.supports(type)
        }
    }

    /// Rows `rows` of `weights` times each of `xs`: y[t · stride + r].
    public static func rows(
        _ rows: Range<Int>, type: GGMLType, weights: UnsafeRawPointer, rowBytes: Int,
        xs: QuantizedBatch, y: UnsafeMutablePointer<Float>, stride: Int
    ) {
        switch type {
        case .q4_1: self.rows(Q4_1Block.self, rows, weights: weights, rowBytes: rowBytes, xs: xs, y: y, stride: stride)
        case .q4_0: self.rows(Q4_0Block.self, rows, weights: weights, rowBytes: rowBytes, xs: xs, y: y, stride: stride)
        case .q8_0: self.rows(Q8_0Block.self, rows, weights: weights, rowBytes: rowBytes, xs: xs, y: y, stride: stride)
        case .q5_0: self.rows(Q5_0Block.self, rows, weights: weights, rowBytes: rowBytes, xs: xs, y: y, stride: stride)
        case .q5_1: self.rows(Q5_1Block.self, rows, weights: weights, rowBytes: rowBytes, xs: xs, y: y, stride: stride)
        case .q4_K, .q5_K, .q6_K:
            KQuantMatMul.rows(rows, type: type, weights: weights, rowBytes: rowBytes, x: xs.kViews, tokens: xs.tokens, columns: xs.count, y: y, stride: stride)
        default: preconditionFailure("no batched kernel for \(type)")
        }
    }

    @inline(__always)
    static func rows<Format: WeightBlockFormat>(
        _ format: Format.Type, _ rows: Range<Int>, weights: UnsafeRawPointer, rowBytes: Int,
        xs: QuantizedBatch, y: UnsafeMutablePointer<Float>, stride: Int
    ) {
        let tokens = xs.tokens, blocks = xs.count / 32
        withUnsafeTemporaryAllocation(of: QuantizedMatVec.RowAccumulator.self, capacity: tokens) { acc in
            for r in rows {
                for t in 0..<tokens { acc[t] = QuantizedMatVec.RowAccumulator() }
                let row = weights + r * rowBytes
                for b in 0..<blocks {
                    // Unpacked once, used for every token.
                    let block = Format.load(row + b * Format.bytes)
                    for t in 0..<tokens {
                        acc[t].add(block, xs.activation(token: t, block: b), scale: xs.scales[t][b], sum: xs.sums[t][b])
                    }
                }
                for t in 0..<tokens { y[t * stride + r] = acc[t].total }
            }
        }
    }
}

/// Activations of several tokens, each quantized as `QuantizedActivation` does, with pointers the
/// batched kernel reads without touching reference counts.
public final class QuantizedBatch: @unchecked Sendable {
    public let capacity: Int
    public let maximumTokens: Int
    public private(set) var tokens = 0
    public private(set) var count = 0
    private let slots: [QuantizedActivation]
    let pairs: UnsafeMutablePointer<UnsafeMutablePointer<Int16>>
    let scales: UnsafeMutablePointer<UnsafeMutablePointer<Float>>
    let sums: UnsafeMutablePointer<UnsafeMutablePointer<Float>>
    /// Each token's Q8_K quants, for K-quant weights (filled when `quantizesK`).
    let kViews: UnsafeMutablePointer<Q8KView>

    /// Whether `quantize` also quantizes for K-quant weights (Q8_K).
    public var quantizesK = false {
        didSet { for slot in slots { slot.quantizesK = quantizesK } }
    }

    public init(capacity: Int, maximumTokens: Int) {
        self.capacity = capacity
        self.maximumTokens = maximumTokens
        slots = (0..<maximumTokens).map { _ in QuantizedActivation(capacity: capacity) }
        pairs = .allocate(capacity: maximumTokens)
        scales = .allocate(capacity: maximumTokens)
        sums = .allocate(capacity: maximumTokens)
        kViews = .allocate(capacity: maximumTokens)
        for (t, slot) in slots.enumerated() {
            pairs[t] = slot.pairs
            scales[t] = slot.scales
            sums[t] = slot.sums
            kViews.advanced(by: t).initialize(to: slot.k.view)
        }
    }

    deinit {
        kViews.deallocate()
        pairs.deallocate()
        scales.deallocate()
        sums.deallocate()
    }

    /// Quantizes `tokens` rows of `x` (row t at x + t · stride), each `n` long.
    public func quantize(_ x: UnsafePointer<Float>, tokens: Int, count n: Int, stride: Int) {
        prepare(tokens: tokens, count: n)
        for t in 0..<tokens { slots[t].quantize(x + t * stride, count: n) }
    }

    /// `quantize(_:tokens:count:stride:)` with the tokens spread over `pool`'s threads.
    func quantize(_ x: UnsafePointer<Float>, tokens: Int, count n: Int, stride: Int, pool: ThreadPool) {
        prepare(tokens: tokens, count: n)
        pool.parallelFor(items: tokens) { range in
            for t in range { slots[t].quantize(x + t * stride, count: n) }
        }
    }

    private func prepare(tokens: Int, count n: Int) {
        precondition(tokens <= maximumTokens && n <= capacity)
        self.tokens = tokens
        count = n
    }

    @inline(__always)
    func activation(token t: Int, block b: Int) -> (SIMD16<Int16>, SIMD16<Int16>) {
        let p = UnsafeRawPointer(pairs[t] + b * 32)
        return (p.loadUnaligned(as: SIMD16<Int16>.self), p.loadUnaligned(fromByteOffset: 32, as: SIMD16<Int16>.self))
    }
}
