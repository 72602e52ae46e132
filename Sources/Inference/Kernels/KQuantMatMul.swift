/// W·x for K-quant weight matrices (rows of 256-element blocks, as stored in the file) and Q8_K
/// activations: one token (decode) or several at once (prefill), with every (row, token) result
/// computed by the same operations in the same order, so a batch gives the bits of one token at a time.
public enum KQuantMatMul {
    public static func supports(_ type: GGMLType) -> Bool {
        switch type {
        case .q4_K, .q5_K, .q6_K: true
        default: false
        }
    }

    /// Rows `rows` of `weights` times each of `tokens` activations: y[t · stride + r].
    static func rows(
        _ rows: Range<Int>, type: GGMLType, weights: UnsafeRawPointer, rowBytes: Int,
        x: UnsafePointer<Q8KView>, tokens: Int, columns: Int, y: UnsafeMutablePointer<Float>, stride: Int
    ) {
        switch type {
        case .q4_K: self.rows(Q4_K.self, rows, weights: weights, rowBytes: rowBytes, x: x, tokens: tokens, columns: columns, y: y, stride: stride)
        case .q5_K: self.rows(Q5_K.self, rows, weights: weights, rowBytes: rowBytes, x: x, tokens: tokens, columns: columns, y: y, stride: stride)
        case .q6_K: self.rows(Q6_K.self, rows, weights: weights, rowBytes: rowBytes, x: x, tokens: tokens, columns: columns, y: y, stride: stride)
        default: preconditionFailure("no K-quant kernel for \(type)")
        }
    }

    @inline(__always)
    static func rows<Format: KQuantFormat>(
        _: Format.Type, _ rows: Range<Int>, weights: UnsafeRawPointer, rowBytes: Int,
        x: UnsafePointer<Q8KView>, tokens: Int, columns: Int, y: UnsafeMutablePointer<Float>, stride: Int
    ) {
        Format.rows(rows, weights: weights, rowBytes: rowBytes, x: x, tokens: tokens, columns: columns, y: y, stride: stride)
    }

    /// The loop every instruction set's `rows` runs, inlined into its own file with its integer sums
    /// (intrinsics inline only within the file that calls them in this build): each block is unpacked
    /// once and applied to every token; its integer sums then join each token's float accumulator in
    /// the format's order.
    @inline(__always)
    static func drive<Format: KQuantFormat>(
        _: Format.Type, _ rows: Range<Int>, weights: UnsafeRawPointer, rowBytes: Int,
        x: UnsafePointer<Q8KView>, tokens: Int, columns: Int, y: UnsafeMutablePointer<Float>, stride: Int,
        sums: (UnsafeRawPointer, UnsafePointer<Q8KView>, Int, Int, UnsafeMutablePointer<KSums>) -> Void
    ) {
        let blocks = columns / 256, blockBytes = Format.type.blockBytes
        withUnsafeTemporaryAllocation(of: Format.Accumulator.self, capacity: tokens) { acc in
            withUnsafeTemporaryAllocation(of: KSums.self, capacity: tokens) { out in
                for r in rows {
                    for t in 0..<tokens { acc[t] = Format.Accumulator() }
                    let row = weights + r * rowBytes
                    for b in 0..<blocks {
                        let w = row + b * blockBytes
                        sums(w, x, b, tokens, out.baseAddress!)
                        for t in 0..<tokens { acc[t].add(out[t], block: w, activationScale: x[t].scales[b]) }
                    }
                    for t in 0..<tokens { y[t * stride + r] = acc[t].total }
                }
            }
        }
    }

    /// The scalar twin of `rows`: the reference integer sums, element by element, in the same float order.
    static func referenceRow<Format: KQuantFormat>(_: Format.Type, _ row: UnsafeRawPointer, x: Q8KView, columns: Int) -> Float {
        var acc = Format.Accumulator()
        for b in 0..<(columns / 256) {
            let w = row + b * Format.type.blockBytes
            acc.add(Format.referenceSums(w, x.block(b), x.blockSums(b)), block: w, activationScale: x.scales[b])
        }
        return acc.total
    }
}

/// The instruction set the kernels were compiled for (chosen from the build machine's CPU in Package.swift).
public enum KernelPath {
    public static var name: String {
        #if KERNELS_AVX512
        var path = "AVX-512 (BW, VL)"
        #elseif KERNELS_AVX2
        var path = "AVX2"
        #else
        var path = "portable SIMD"
        #endif
        #if KERNELS_AVX512VNNI
        path += " + AVX-512 VNNI"
        #elseif KERNELS_AVXVNNI
        path += " + AVX-VNNI"
        #endif
        return path
    }
}
