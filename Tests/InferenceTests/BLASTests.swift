import Testing
@testable import Inference

@Suite struct BLASTests {
    /// A naive triple loop is the reference OpenBLAS must agree with.
    private func reference(m: Int, n: Int, k: Int, a: [Float], b: [Float], transposeB: Bool) -> [Float] {
        var c = [Float](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var sum: Float = 0
                for p in 0..<k { sum += a[i * k + p] * (transposeB ? b[j * k + p] : b[p * n + j]) }
                c[i * n + j] = sum
            }
        }
        return c
    }

    @Test(arguments: [(1, 1, 1), (3, 5, 7), (17, 64, 33), (64, 576, 128)], [false, true])
    func sgemmMatchesNaiveProduct(shape: (Int, Int, Int), transposeB: Bool) throws {
        let (m, n, k) = shape
        var rng = SplitMix64(seed: UInt64(m * 1000 + n * 10 + k))
        let a = (0..<(m * k)).map { _ in rng.nextFloat() }
        let b = (0..<(k * n)).map { _ in rng.nextFloat() }
        let got = try BLAS.sgemm(m: m, n: n, k: k, a: a, b: b, transposeB: transposeB)
        let want = reference(m: m, n: n, k: k, a: a, b: b, transposeB: transposeB)
        for (x, y) in zip(got, want) {
            #expect(abs(x - y) <= 1e-4 * Float(k))
        }
    }

    @Test func mismatchedShapesAreAnErrorNotACrash() {
        #expect(throws: BLASError.self) { try BLAS.sgemm(m: 2, n: 2, k: 2, a: [1, 2, 3], b: [1, 2, 3, 4], transposeB: false) }
        #expect(throws: BLASError.self) { try BLAS.sgemm(m: 0, n: 2, k: 2, a: [], b: [1, 2, 3, 4], transposeB: false) }
    }
}

/// Deterministic random numbers for tests (no global RNG, so a failure reproduces).
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [-1, 1).
    mutating func nextFloat() -> Float { Float(next() >> 40) / Float(1 << 23) - 1 }
}
