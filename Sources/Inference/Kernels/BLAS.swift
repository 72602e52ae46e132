import CBLAS

/// Matrix shapes that don't agree, reported instead of letting OpenBLAS read out of bounds.
public enum BLASError: Error, Equatable, CustomStringConvertible {
    case shapeMismatch(String)

    public var description: String {
        switch self {
        case .shapeMismatch(let what): "sgemm shape mismatch: \(what)"
        }
    }
}

/// The one place that calls OpenBLAS.
public enum BLAS {
    /// C[m×n] = alpha · A[m×k] · op(B) + beta · C, all row-major.
    /// `transposeB` reads B as n×k (the layout of a weight matrix with one row per output), so
    /// a batch of activations times a weight matrix is `sgemm(m: tokens, n: outputs, k: inputs, a: x, b: w, transposeB: true)`.
    public static func sgemm(
        m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int? = nil,
        b: UnsafePointer<Float>, ldb: Int? = nil, transposeB: Bool,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int? = nil
    ) {
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
            blasint(m), blasint(n), blasint(k),
            alpha, a, blasint(lda ?? k),
            b, blasint(ldb ?? (transposeB ? k : n)),
            beta, c, blasint(ldc ?? n)
        )
    }

    /// Checked array form of `sgemm`: shapes are validated before anything reaches OpenBLAS.
    public static func sgemm(m: Int, n: Int, k: Int, a: [Float], b: [Float], transposeB: Bool) throws(BLASError) -> [Float] {
        guard m > 0, n > 0, k > 0 else { throw .shapeMismatch("dimensions must be positive, got m=\(m) n=\(n) k=\(k)") }
        guard a.count == m * k else { throw .shapeMismatch("A has \(a.count) elements, expected \(m)×\(k)") }
        guard b.count == k * n else { throw .shapeMismatch("B has \(b.count) elements, expected \(k)×\(n)") }
        var c = [Float](repeating: 0, count: m * n)
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                c.withUnsafeMutableBufferPointer { cp in
                    sgemm(m: m, n: n, k: k, a: ap.baseAddress!, b: bp.baseAddress!, transposeB: transposeB, c: cp.baseAddress!)
                }
            }
        }
        return c
    }

    /// OpenBLAS runs its own thread pool; the engine decides threads itself.
    public static func setThreads(_ count: Int) {
        openblas_set_num_threads(Int32(max(1, count)))
    }
}
