import Foundation
import Testing
@testable import Inference

/// The fast kernels against plain scalar twins on random data.
struct KernelTests {
    /// Random bytes for `blocks` blocks of `type`, with sane Float16 scales (random bits could be NaN).
    static func randomRow(_ type: GGMLType, blocks: Int, using rng: inout SeededGenerator) -> [UInt8] {
        let (size, scaleOffsets): (Int, [Int]) = switch type {
        case .q4_1: (20, [0, 2])
        case .q8_0: (34, [0])
        case .q4_0: (18, [0])
        case .q5_0: (22, [0])
        case .q5_1: (24, [0, 2])
        default: fatalError("no kernel for \(type)")
        }
        var bytes = (0..<(size * blocks)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        for b in 0..<blocks {
            for offset in scaleOffsets {
                let scale = Float16(Float.random(in: -0.05...0.05, using: &rng)).bitPattern
                bytes[b * size + offset] = UInt8(scale & 0xFF)
                bytes[b * size + offset + 1] = UInt8(scale >> 8)
            }
        }
        return bytes
    }

    @Test(arguments: [GGMLType.q4_1, .q8_0, .q4_0, .q5_0, .q5_1])
    func quantizedDotMatchesScalarDequantizedDot(type: GGMLType) throws {
        var rng = SeededGenerator(seed: 7)
        let n = 576, blocks = n / 32
        let activation = QuantizedActivation(capacity: n)
        for _ in 0..<50 {
            let x = (0..<n).map { _ in Float.random(in: -3...3, using: &rng) }
            x.withUnsafeBufferPointer { activation.quantize($0.baseAddress!, count: n) }
            let row = Self.randomRow(type, blocks: blocks, using: &rng)
            var weights = [Float](repeating: 0, count: n)
            try row.withUnsafeBytes { raw in
                try weights.withUnsafeMutableBufferPointer { try Dequantize.row(type, from: raw.baseAddress!, count: n, into: $0.baseAddress!) }
            }
            // Scalar twin: the dequantized weights against the dequantized activation, in Double.
            var expected = 0.0
            for i in 0..<n { expected += Double(weights[i]) * Double(activation.value(at: i)) * Double(activation.scales[i / 32]) }
            var fast: Float = 0
            row.withUnsafeBytes { raw in
                withUnsafeMutablePointer(to: &fast) { y in
                    QuantizedMatVec.rows(0..<1, type: type, weights: raw.baseAddress!, rowBytes: row.count, x: activation, y: y)
                }
            }
            // Q4_1 uses the activation's Float16-rounded block sum (as llama.cpp does): allow for it.
            let tolerance = 1e-4 + 2e-3 * weights.reduce(0.0) { $0 + abs(Double($1)) } * 3 / Double(n)
            #expect(abs(Double(fast) - expected) <= tolerance, "\(type): \(fast) vs \(expected)")
        }
    }

    /// The four-row kernels give bit-identical results to the one-row kernels (same order of operations).
    @Test(arguments: [GGMLType.q4_1, .q8_0, .q4_0, .q5_0, .q5_1])
    func fourRowKernelsMatchOneRowKernelsExactly(type: GGMLType) {
        var rng = SeededGenerator(seed: 5)
        let n = 1536, rows = 7
        let activation = QuantizedActivation(capacity: n)
        let x = (0..<n).map { _ in Float.random(in: -1...1, using: &rng) }
        x.withUnsafeBufferPointer { activation.quantize($0.baseAddress!, count: n) }
        let matrix = (0..<rows).flatMap { _ in Self.randomRow(type, blocks: n / 32, using: &rng) }
        let rowBytes = matrix.count / rows
        var together = [Float](repeating: 0, count: rows), alone = [Float](repeating: 0, count: rows)
        matrix.withUnsafeBytes { raw in
            together.withUnsafeMutableBufferPointer { QuantizedMatVec.rows(0..<rows, type: type, weights: raw.baseAddress!, rowBytes: rowBytes, x: activation, y: $0.baseAddress!) }
            alone.withUnsafeMutableBufferPointer { y in
                for r in 0..<rows { QuantizedMatVec.rows(r..<(r + 1), type: type, weights: raw.baseAddress!, rowBytes: rowBytes, x: activation, y: y.baseAddress!) }
            }
        }
        #expect(together == alone)
    }

    @Test func activationQuantizationRoundTripsWithinHalfAStep() {
        var rng = SeededGenerator(seed: 3)
        let n = 1536
        let x = (0..<n).map { _ in Float.random(in: -10...10, using: &rng) }
        let a = QuantizedActivation(capacity: n)
        x.withUnsafeBufferPointer { a.quantize($0.baseAddress!, count: n) }
        for i in 0..<n {
            let block = i / 32
            let step = x[(block * 32)..<(block * 32 + 32)].map(abs).max()! / 127
            #expect(abs(Float(a.value(at: i)) * step - x[i]) <= step / 2 + 1e-6)
            // The scale is stored through Float16, as ggml stores it.
            #expect(a.scales[block] == Float(Float16(step)))
        }
    }

    @Test func vectorExpIsWithinTwoUlpsOfLibm() {
        var x: Float = -87
        var worst: Float = 0
        while x < 88 {
            let fast = Kernels.vectorExp(x), exact = Foundation.exp(x)
            worst = max(worst, abs(fast - exact) / exact.ulp)
            x += 0.0137
        }
        #expect(worst <= 2, "worst error \(worst) ulp")
        #expect(Kernels.vectorExp(-200) == 0)
        #expect(Kernels.vectorExp(200) == .infinity)
    }

    @Test func attentionDotMatchesScalarDot() {
        var rng = SeededGenerator(seed: 11)
        for n in [64, 128, 80] {
            let k = (0..<n).map { _ in Float16(Float.random(in: -2...2, using: &rng)) }
            let q = (0..<n).map { _ in Float.random(in: -2...2, using: &rng) }
            var expected = 0.0
            for i in 0..<n { expected += Double(k[i]) * Double(q[i]) }
            let fast = k.withUnsafeBufferPointer { kp in q.withUnsafeBufferPointer { Attention.dot(kp.baseAddress!, $0.baseAddress!, count: n) } }
            #expect(abs(Double(fast) - expected) < 1e-4, "n=\(n): \(fast) vs \(expected)")
        }
    }
}
