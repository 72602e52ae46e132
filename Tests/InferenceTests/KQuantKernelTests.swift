import Foundation
import Testing
@testable import Inference

/// The K-quant kernels (Q4_K, Q5_K, Q6_K against Q8_K activations): every instruction-set path this
/// build has against the scalar reference, bit for bit, and the reference against plain dequantized
/// arithmetic, on random data.
struct KQuantKernelTests {
    typealias Sums = (UnsafeRawPointer, UnsafePointer<Q8KView>, Int, Int, UnsafeMutablePointer<KSums>) -> Void

    /// Random blocks of `type` with sane Float16 scales (random bits could be NaN or huge).
    static func randomRow(_ type: GGMLType, blocks: Int, using rng: inout SeededGenerator) -> [UInt8] {
        let size = type.blockBytes
        var bytes = (0..<(size * blocks)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let scaleOffsets = type == .q6_K ? [208] : [0, 2]
        for b in 0..<blocks {
            for offset in scaleOffsets {
                let scale = Float16(Float.random(in: 0.0001...0.02, using: &rng)).bitPattern
                bytes[b * size + offset] = UInt8(scale & 0xFF)
                bytes[b * size + offset + 1] = UInt8(scale >> 8)
            }
        }
        return bytes
    }

    static func activation(_ n: Int, using rng: inout SeededGenerator) -> Q8KActivation {
        let a = Q8KActivation(capacity: n)
        let x = (0..<n).map { _ in Float.random(in: -4...4, using: &rng) }
        x.withUnsafeBufferPointer { a.quantize($0.baseAddress!, count: n) }
        return a
    }

    /// One row through `sums` in the format's float order.
    static func row<Format: KQuantFormat>(_: Format.Type, _ w: UnsafeRawPointer, _ x: Q8KActivation, columns: Int, sums: Sums) -> Float {
        var view = x.view, acc = Format.Accumulator(), out = KSums()
        for b in 0..<(columns / 256) {
            let block = w + b * Format.type.blockBytes
            sums(block, &view, b, 1, &out)
            acc.add(out, block: block, activationScale: x.scales[b])
        }
        return acc.total
    }

    /// The paths compiled into this build, by name.
    static func paths<Format: KQuantFormat>(_: Format.Type) -> [(String, Sums)] {
        var paths: [(String, Sums)] = []
        switch Format.type {
        case .q4_K:
            paths.append(("portable", { Q4_K.portableSums($0, $1, block: $2, tokens: $3, into: $4) }))
            #if KERNELS_AVX2
            paths.append(("AVX2", { Q4_K.avx2Sums($0, $1, block: $2, tokens: $3, into: $4) }))
            #endif
            #if KERNELS_AVX512
            paths.append(("AVX-512", { Q4_K.avx512Sums($0, $1, block: $2, tokens: $3, into: $4) }))
            #endif
        case .q5_K:
            paths.append(("portable", { Q5_K.portableSums($0, $1, block: $2, tokens: $3, into: $4) }))
            #if KERNELS_AVX2
            paths.append(("AVX2", { Q5_K.avx2Sums($0, $1, block: $2, tokens: $3, into: $4) }))
            #endif
            #if KERNELS_AVX512
            paths.append(("AVX-512", { Q5_K.avx512Sums($0, $1, block: $2, tokens: $3, into: $4) }))
            #endif
        default:
            paths.append(("portable", { Q6_K.portableSums($0, $1, block: $2, tokens: $3, into: $4) }))
            #if KERNELS_AVX2
            paths.append(("AVX2", { Q6_K.avx2Sums($0, $1, block: $2, tokens: $3, into: $4) }))
            #endif
            #if KERNELS_AVX512
            paths.append(("AVX-512", { Q6_K.avx512Sums($0, $1, block: $2, tokens: $3, into: $4) }))
            #endif
        }
        return paths
    }

    func everyPathMatchesTheReference<Format: KQuantFormat>(_ format: Format.Type) {
        var rng = SeededGenerator(seed: 17)
        let n = 1536
        for trial in 0..<40 {
            let x = Self.activation(n, using: &rng)
            let row = Self.randomRow(Format.type, blocks: n / 256, using: &rng)
            row.withUnsafeBytes { raw in
                let w = raw.baseAddress!
                let reference = KQuantMatMul.referenceRow(format, w, x: x.view, columns: n)
                for (name, sums) in Self.paths(format) {
                    let fast = Self.row(format, w, x, columns: n, sums: sums)
                    #expect(fast.bitPattern == reference.bitPattern, "\(Format.type) \(name), trial \(trial): \(fast) vs \(reference)")
                }
                // And through the public entry point, whichever path this build took.
                var y: Float = 0
                var view = x.view
                KQuantMatMul.rows(0..<1, type: Format.type, weights: w, rowBytes: row.count, x: &view, tokens: 1, columns: n, y: &y, stride: 0)
                #expect(y.bitPattern == reference.bitPattern, "\(Format.type) \(KernelPath.name): \(y) vs \(reference)")
            }
        }
    }

    @Test func q4KPathsMatchTheReference() { everyPathMatchesTheReference(Q4_K.self) }
    @Test func q5KPathsMatchTheReference() { everyPathMatchesTheReference(Q5_K.self) }
    @Test func q6KPathsMatchTheReference() { everyPathMatchesTheReference(Q6_K.self) }

    /// The reference's integer arithmetic is the dequantized dot product: same value up to rounding.
    @Test(arguments: [GGMLType.q4_K, .q5_K, .q6_K])
    func referenceMatchesTheDequantizedDot(type: GGMLType) throws {
        var rng = SeededGenerator(seed: 23)
        let n = 1024
        for _ in 0..<30 {
            let x = Self.activation(n, using: &rng)
            let row = Self.randomRow(type, blocks: n / 256, using: &rng)
            var weights = [Float](repeating: 0, count: n)
            try row.withUnsafeBytes { raw in
                try weights.withUnsafeMutableBufferPointer { try Dequantize.row(type, from: raw.baseAddress!, count: n, into: $0.baseAddress!) }
            }
            var expected = 0.0, magnitude = 0.0
            for i in 0..<n {
                let term = Double(weights[i]) * Double(x.quants[i]) * Double(x.scales[i / 256])
                expected += term
                magnitude += abs(term)
            }
            let got = row.withUnsafeBytes { raw in
                switch type {
                case .q4_K: KQuantMatMul.referenceRow(Q4_K.self, raw.baseAddress!, x: x.view, columns: n)
                case .q5_K: KQuantMatMul.referenceRow(Q5_K.self, raw.baseAddress!, x: x.view, columns: n)
                default: KQuantMatMul.referenceRow(Q6_K.self, raw.baseAddress!, x: x.view, columns: n)
                }
            }
            #expect(abs(Double(got) - expected) <= 1e-5 * magnitude + 1e-6, "\(type): \(got) vs \(expected)")
        }
    }

    /// Several tokens at once (prefill) give each token the bits it gets alone (decode).
    @Test(arguments: [GGMLType.q4_K, .q5_K, .q6_K])
    func batchedRowsMatchOneTokenAtATime(type: GGMLType) {
        var rng = SeededGenerator(seed: 29)
        let n = 768, rows = 5, tokens = 6
        let matrix = (0..<rows).flatMap { _ in Self.randomRow(type, blocks: n / 256, using: &rng) }
        let rowBytes = matrix.count / rows
        let xs = (0..<tokens).map { _ in Self.activation(n, using: &rng) }
        var views = xs.map(\.view)
        var batched = [Float](repeating: 0, count: rows * tokens), alone = [Float](repeating: 0, count: rows * tokens)
        matrix.withUnsafeBytes { raw in
            KQuantMatMul.rows(0..<rows, type: type, weights: raw.baseAddress!, rowBytes: rowBytes, x: &views, tokens: tokens, columns: n, y: &batched, stride: rows)
            for t in 0..<tokens {
                var view = xs[t].view
                alone.withUnsafeMutableBufferPointer { y in
                    KQuantMatMul.rows(0..<rows, type: type, weights: raw.baseAddress!, rowBytes: rowBytes, x: &view, tokens: 1, columns: n, y: y.baseAddress! + t * rows, stride: 0)
                }
            }
        }
        #expect(batched.map(\.bitPattern) == alone.map(\.bitPattern))
    }

    /// Q8_K as ggml's reference quantizer makes it: iscale = −127 / (the element of largest magnitude),
    /// q = round-half-even(iscale·x), d = 1 / iscale, and the sums of every 16.
    @Test func q8KQuantizationFollowsGgml() {
        var rng = SeededGenerator(seed: 31)
        let n = 512
        var x = (0..<n).map { _ in Float.random(in: -2...2, using: &rng) }
        x[7] = 3.5; x[300] = -5  // block 0's maximum is positive, block 1's negative
        let a = Q8KActivation(capacity: n)
        x.withUnsafeBufferPointer { a.quantize($0.baseAddress!, count: n) }
        for b in 0..<2 {
            let block = x[(b * 256)..<(b * 256 + 256)]
            let signedMax = block.max { abs($0) < abs($1) }!
            let iscale = -127 / signedMax
            #expect(a.scales[b] == 1 / iscale)
            for i in 0..<256 {
                #expect(Int(a.quants[b * 256 + i]) == min(127, Int((iscale * x[b * 256 + i]).rounded(.toNearestOrEven))))
            }
            for g in 0..<16 {
                let sum = (0..<16).reduce(0) { $0 + Int(a.quants[b * 256 + g * 16 + $1]) }
                #expect(Int(a.sums[b * 16 + g]) == sum)
            }
        }
        // The element of largest magnitude always maps to −127, whatever its sign (d carries the sign).
        #expect(a.quants[7] == -127 && a.quants[300] == -127 && a.scales[0] < 0 && a.scales[1] > 0)
        // An all-zero block quantizes to zeros with a zero scale, not NaN.
        let zeros = [Float](repeating: 0, count: 256)
        let z = Q8KActivation(capacity: 256)
        zeros.withUnsafeBufferPointer { z.quantize($0.baseAddress!, count: 256) }
        #expect(z.scales[0] == 0 && (0..<256).allSatisfy { z.quants[$0] == 0 })
    }
}
