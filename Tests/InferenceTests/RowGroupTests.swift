import Foundation
import Testing
@testable import Inference

/// The regrouped-weight kernels and the vectorized activation quantization against their twins:
/// the row kernels (which keep ggml's float order) and the scalar quantization, bit for bit.
struct RowGroupTests {
    static func activation(_ n: Int, using rng: inout SeededGenerator) -> QuantizedActivation {
        let x = (0..<n).map { _ in Float.random(in: -4...4, using: &rng) }
        let a = QuantizedActivation(capacity: n)
        x.withUnsafeBufferPointer { a.quantize($0.baseAddress!, count: n) }
        return a
    }

    /// 11 rows: two groups of four and three rows left in the file's layout.
    @Test(arguments: [GGMLType.q4_1, .q8_0, .q4_0], [576, 1536])
    func regroupedKernelMatchesRowKernelBitForBit(type: GGMLType, n: Int) {
        var rng = SeededGenerator(seed: 21)
        let rows = 11
        let matrix = (0..<rows).flatMap { _ in KernelTests.randomRow(type, blocks: n / 32, using: &rng) }
        let rowBytes = matrix.count / rows
        for _ in 0..<5 {
            let x = Self.activation(n, using: &rng)
            var grouped = [Float](repeating: 0, count: rows), byRow = [Float](repeating: 0, count: rows)
            matrix.withUnsafeBytes { raw in
                let w = WeightMatrix(rows: rows, columns: n, type: type, bytes: raw.baseAddress!, rowBytes: rowBytes,
                                     groups: RowGroups(type: type, rows: rows, columns: n, source: raw.baseAddress!, rowBytes: rowBytes))
                defer { w.groups?.deallocate() }
                grouped.withUnsafeMutableBufferPointer { w.multiply(0..<rows, x: x, y: $0.baseAddress!) }
                byRow.withUnsafeMutableBufferPointer { QuantizedMatVec.rows(0..<rows, type: type, weights: raw.baseAddress!, rowBytes: rowBytes, x: x, y: $0.baseAddress!) }
            }
            #expect(grouped.map(\.bitPattern) == byRow.map(\.bitPattern), "\(type)")
        }
    }

    /// The batched form gives each token the bits of the single-token form.
    @Test(arguments: [GGMLType.q4_1, .q8_0, .q4_0])
    func regroupedBatchMatchesRowKernelBitForBit(type: GGMLType) {
        var rng = SeededGenerator(seed: 22)
        let rows = 10, n = 576, tokens = 5
        let matrix = (0..<rows).flatMap { _ in KernelTests.randomRow(type, blocks: n / 32, using: &rng) }
        let rowBytes = matrix.count / rows
        let x = (0..<(tokens * n)).map { _ in Float.random(in: -4...4, using: &rng) }
        let batch = QuantizedBatch(capacity: n, maximumTokens: tokens)
        x.withUnsafeBufferPointer { batch.quantize($0.baseAddress!, tokens: tokens, count: n, stride: n) }
        var grouped = [Float](repeating: 0, count: tokens * rows), byRow = [Float](repeating: 0, count: tokens * rows)
        matrix.withUnsafeBytes { raw in
            let w = WeightMatrix(rows: rows, columns: n, type: type, bytes: raw.baseAddress!, rowBytes: rowBytes,
                                 groups: RowGroups(type: type, rows: rows, columns: n, source: raw.baseAddress!, rowBytes: rowBytes))
            defer { w.groups?.deallocate() }
            grouped.withUnsafeMutableBufferPointer { w.multiply(0..<rows, xs: batch, y: $0.baseAddress!, stride: rows) }
            let single = QuantizedActivation(capacity: n)
            for t in 0..<tokens {
                x.withUnsafeBufferPointer { single.quantize($0.baseAddress! + t * n, count: n) }
                byRow.withUnsafeMutableBufferPointer { QuantizedMatVec.rows(0..<rows, type: type, weights: raw.baseAddress!, rowBytes: rowBytes, x: single, y: $0.baseAddress! + t * rows) }
            }
        }
        #expect(grouped.map(\.bitPattern) == byRow.map(\.bitPattern), "\(type)")
    }

    /// Blocks of every kind: random, all zero, one huge element, ties at half steps.
    @Test func quantizationMatchesScalarTwinBitForBit() {
        var rng = SeededGenerator(seed: 23)
        let n = 1536
        var x = (0..<n).map { _ in Float.random(in: -10...10, using: &rng) }
        for i in 32..<64 { x[i] = 0 }
        x[70] = 1e30
        for i in 96..<128 { x[i] = Float(i - 112) * 0.5 }
        x[127] = 127  // 127/max is then 1: the half steps above are exact ties, rounded to even
        let fast = QuantizedActivation(capacity: n), scalar = QuantizedActivation(capacity: n)
        x.withUnsafeBufferPointer {
            fast.quantize($0.baseAddress!, count: n)
            scalar.quantizeScalar($0.baseAddress!, count: n)
        }
        #expect((0..<n).allSatisfy { fast.pairs[$0] == scalar.pairs[$0] })
        #expect((0..<(n / 32)).allSatisfy { fast.scales[$0].bitPattern == scalar.scales[$0].bitPattern })
        #expect((0..<(n / 32)).allSatisfy { fast.sums[$0].bitPattern == scalar.sums[$0].bitPattern })
    }
}

/// The whole model with regrouped weights against the model with every matrix in the file's
/// layout (row kernels): the same logits, bit for bit, through batched prefill and decode.
@Suite(.serialized) struct RegroupedModelTests {
    @Test func regroupedWeightsGiveTheRowKernelsLogits() throws {
        let path = try TestResources.requireModel()
        let grouped = try LlamaModel(file: GGUFFile(path: path), threads: 2)
        let byRow = try LlamaModel(file: GGUFFile(path: path), threads: 1, regroupWeights: false)
        let prompt: [Int32] = (0..<40).map { Int32(300 + ($0 * 53) % 7000) }
        let a = grouped.makeCache(capacity: 64), b = byRow.makeCache(capacity: 64)
        var logitsA = Array(try grouped.prefill(prompt, cache: a)), logitsB = Array(try byRow.prefill(prompt, cache: b))
        for _ in 0..<8 {
            #expect(logitsA.map(\.bitPattern) == logitsB.map(\.bitPattern))
            let next = Int32(logitsA.indices.max { logitsA[$0] < logitsA[$1] }!)
            logitsA = Array(try grouped.forward(token: next, cache: a))
            logitsB = Array(try byRow.forward(token: next, cache: b))
        }
        #expect(logitsA.map(\.bitPattern) == logitsB.map(\.bitPattern))
    }
}

/// Vectorized attention heads against the scalar twin, on the default model's shape.
struct AttentionTwinTests {
    @Test(arguments: [1, 7, 130])
    func vectorHeadMatchesScalarHeadBitForBit(length: Int) throws {
        let config = try LlamaConfig(gguf: GGUFFile(path: TestResources.requireModel()))
        var rng = SeededGenerator(seed: UInt64(length))
        let q = config.headCount * config.headDimension, kv = config.kvDimension
        let query = (0..<q).map { _ in Float.random(in: -3...3, using: &rng) }
        let keys = (0..<(length * kv)).map { _ in Float16(Float.random(in: -3...3, using: &rng)) }
        let values = (0..<(length * kv)).map { _ in Float16(Float.random(in: -3...3, using: &rng)) }
        let scale = 1 / Float(config.headDimension).squareRoot()
        var vector = [Float](repeating: 0, count: q), scalar = [Float](repeating: 0, count: q)
        let acc = UnsafeMutablePointer<Float16>.allocate(capacity: config.headDimension)
        defer { acc.deallocate() }
        for h in 0..<config.headCount {
            var qv = query, qs = query
            keys.withUnsafeBufferPointer { k in
                values.withUnsafeBufferPointer { v in
                    Attention.head(h, query: &qv, keys: k.baseAddress!, values: v.baseAddress!, length: length, config: config, scale: scale, accumulator: acc, output: &vector)
                    Attention.scalarHead(h, query: &qs, keys: k.baseAddress!, values: v.baseAddress!, length: length, config: config, scale: scale, accumulator: acc, output: &scalar)
                }
            }
            #expect(qv.map(\.bitPattern) == qs.map(\.bitPattern))
        }
        #expect(vector.map(\.bitPattern) == scalar.map(\.bitPattern))
    }
}

struct SwiGLUTwinTests {
    /// Ordinary gates, and chunks with gates beyond ±87 (whose exponent takes the scalar path).
    @Test func vectorSwiGLUMatchesScalarTwinBitForBit() {
        var rng = SeededGenerator(seed: 31)
        let n = 1539
        var gate = (0..<n).map { _ in Float.random(in: -12...12, using: &rng) }
        gate[17] = 95; gate[40] = -100; gate[41] = -88.5; gate[90] = 87.9; gate[91] = 0; gate[92] = -0.0
        let up = (0..<n).map { _ in Float.random(in: -3...3, using: &rng) }
        var vector = gate, scalar = gate
        Kernels.swiGLU(gate: &vector, up: up, count: n)
        Kernels.swiGLUScalar(gate: &scalar, up: up, count: n)
        #expect(vector.map(\.bitPattern) == scalar.map(\.bitPattern))
    }
}
