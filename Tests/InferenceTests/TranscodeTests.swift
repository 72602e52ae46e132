import Foundation
import Testing
@testable import Inference

/// Formats without kernels, rewritten into ones with kernels, against the scalar dequantizer.
struct TranscodeTests {
    /// Random blocks of `type` with sane Float16 scales where the format keeps them.
    static func randomBlocks(_ type: GGMLType, blocks: Int, using rng: inout SeededGenerator) -> [UInt8] {
        var bytes = (0..<(type.blockBytes * blocks)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let halves: [Int] = switch type {
        case .q4_K, .q5_K: [0, 2]
        case .q6_K: [208]
        case .q5_0: [0]
        case .q5_1: [0, 2]
        default: []
        }
        for b in 0..<blocks {
            for offset in halves {
                let h = Float16(Float.random(in: -0.02...0.02, using: &rng)).bitPattern
                bytes[b * type.blockBytes + offset] = UInt8(h & 0xFF)
                bytes[b * type.blockBytes + offset + 1] = UInt8(h >> 8)
            }
        }
        return bytes
    }

    static func floats(_ type: GGMLType, _ bytes: [UInt8], count: Int) throws -> [Float] {
        var out = [Float](repeating: 0, count: count)
        try bytes.withUnsafeBytes { raw in
            try out.withUnsafeMutableBufferPointer { try Dequantize.row(type, from: raw.baseAddress!, count: count, into: $0.baseAddress!) }
        }
        return out
    }

    static func transcode(_ type: GGMLType, _ bytes: [UInt8], count: Int) throws -> (GGMLType, [UInt8]) {
        let target = try #require(Transcode.target(for: type))
        var out = [UInt8](repeating: 0, count: count / target.blockSize * target.blockBytes)
        var scratch = [Float](repeating: 0, count: count)
        try bytes.withUnsafeBytes { raw in
            try out.withUnsafeMutableBytes { dst in
                try scratch.withUnsafeMutableBufferPointer {
                    try Transcode.row(type, from: raw.baseAddress!, count: count, into: dst.baseAddress!, floats: $0.baseAddress!)
                }
            }
        }
        return (target, out)
    }

    /// Q4_K keeps its quants: only each sub-block's scale and minimum are rounded to Float16.
    @Test func q4KBecomesQ4_1WithTheSameQuants() throws {
        var rng = SeededGenerator(seed: 41)
        let count = 256 * 6
        let source = Self.randomBlocks(.q4_K, blocks: 6, using: &rng)
        let (target, bytes) = try Self.transcode(.q4_K, source, count: count)
        #expect(target == .q4_1)
        let expected = try Self.floats(.q4_K, source, count: count), got = try Self.floats(.q4_1, bytes, count: count)
        for block in 0..<(count / 32) {
            // |d·sc| ≤ |d|·63 and |dmin·m| ≤ |dmin|·63, each rounded once to Float16 (half an ulp ≤ 2⁻¹¹ relative).
            let scale = Dequantize.half(bytes.withUnsafeBytes { $0.baseAddress! } + block * 20, 0)
            let minimum = Dequantize.half(bytes.withUnsafeBytes { $0.baseAddress! } + block * 20, 2)
            let tolerance = (abs(scale) * 15 + abs(minimum)) * 0x1p-10 + 16 * 0x1p-25
            for i in (block * 32)..<(block * 32 + 32) {
                #expect(abs(got[i] - expected[i]) <= tolerance, "element \(i): \(got[i]) vs \(expected[i])")
            }
        }
        // The quants themselves are copied, nibble for nibble.
        for block in 0..<(count / 256) {
            for sub in 0..<8 {
                for k in 0..<32 {
                    let packed = source[block * 144 + 16 + (sub / 2) * 32 + k]
                    let original = sub % 2 == 0 ? packed & 0x0F : packed >> 4
                    let byte = bytes[(block * 8 + sub) * 20 + 4 + k % 16]
                    #expect((k < 16 ? byte & 0x0F : byte >> 4) == original, "block \(block) sub-block \(sub) element \(k)")
                }
            }
        }
    }

    /// The 5- and 6-bit formats are requantized to Q8_0: within half a Q8_0 step (plus its scale's rounding).
    @Test(arguments: [GGMLType.q5_K, .q6_K, .q5_0, .q5_1])
    func fiveAndSixBitFormatsBecomeQ8_0WithinHalfAStep(type: GGMLType) throws {
        var rng = SeededGenerator(seed: 42)
        let count = 256 * 4
        let source = Self.randomBlocks(type, blocks: count / type.blockSize, using: &rng)
        let (target, bytes) = try Self.transcode(type, source, count: count)
        #expect(target == .q8_0)
        let expected = try Self.floats(type, source, count: count), got = try Self.floats(.q8_0, bytes, count: count)
        var largestStepsOff: Float = 0
        for block in 0..<(count / 32) {
            let slice = expected[(block * 32)..<(block * 32 + 32)]
            let step = (slice.map { abs($0) }.max() ?? 0) / 127
            for i in slice.indices {
                let off = abs(got[i] - expected[i])
                #expect(off <= step * (0.5 + 127 * 0x1p-11) + 1e-12, "\(type) element \(i): \(got[i]) vs \(expected[i]), step \(step)")
                if step > 0 { largestStepsOff = max(largestStepsOff, off / step) }
            }
        }
        // Not trivially exact either: requantizing moves some values by a visible part of a step.
        #expect(largestStepsOff > 0.05)
    }

    @Test func formatsWithKernelsAreNotTranscoded() {
        for type in [GGMLType.f32, .f16, .q4_0, .q4_1, .q8_0] { #expect(Transcode.target(for: type) == nil) }
    }

    /// A broken file's NaN or infinite scales give NaN or zero weights, never a trap.
    @Test func nonFiniteScalesDoNotTrap() throws {
        var block = [UInt8](repeating: 0x77, count: GGMLType.q6_K.blockBytes)
        block[208] = 0x00; block[209] = 0x7C  // +infinity
        let (_, bytes) = try Self.transcode(.q6_K, block, count: 256)
        #expect(bytes.count == 8 * 34)
        block[209] = 0x7E  // NaN
        _ = try Self.transcode(.q6_K, block, count: 256)
    }

    /// Through the kernels: a transcoded Q4_K matrix times an activation is close to the product
    /// with the file's values dequantized, as the Q4_1 kernel is on Q4_1 weights.
    @Test func transcodedMatrixThroughTheKernels() throws {
        var rng = SeededGenerator(seed: 43)
        let rows = 9, n = 512
        let source = (0..<rows).flatMap { _ in Self.randomBlocks(.q4_K, blocks: n / 256, using: &rng) }
        let sourceRowBytes = source.count / rows
        var kernelRows: [UInt8] = []
        var reference = [Float]()
        for r in 0..<rows {
            let row = Array(source[(r * sourceRowBytes)..<((r + 1) * sourceRowBytes)])
            kernelRows += try Self.transcode(.q4_K, row, count: n).1
            reference += try Self.floats(.q4_K, row, count: n)
        }
        let x = (0..<n).map { _ in Float.random(in: -2...2, using: &rng) }
        let activation = QuantizedActivation(capacity: n)
        x.withUnsafeBufferPointer { activation.quantize($0.baseAddress!, count: n) }
        var y = [Float](repeating: 0, count: rows)
        kernelRows.withUnsafeBytes { raw in
            let rowBytes = raw.count / rows
            let w = WeightMatrix(rows: rows, columns: n, type: .q4_1, bytes: raw.baseAddress!, rowBytes: rowBytes,
                                 groups: RowGroups(type: .q4_1, rows: rows, columns: n, source: raw.baseAddress!, rowBytes: rowBytes))
            defer { w.groups?.deallocate() }
            y.withUnsafeMutableBufferPointer { w.multiply(0..<rows, x: activation, y: $0.baseAddress!) }
        }
        for r in 0..<rows {
            let exact = (0..<n).reduce(Float(0)) { $0 + reference[r * n + $1] * x[$1] }
            let magnitude = (0..<n).reduce(Float(0)) { $0 + abs(reference[r * n + $1] * x[$1]) }
            // 8-bit activations: about 1/254 of each |w·x| at worst, far less on average.
            #expect(abs(y[r] - exact) <= magnitude / 100, "row \(r): \(y[r]) vs \(exact)")
        }
    }

    /// A made-up one-layer llama whose matrices are Q4_K, its twin with the same values as F32, and
    /// its twin with each matrix already transcoded to Q4_1.
    static func q4KModelAndTwins() throws -> (q4K: GGUFFile, f32: GGUFFile, q4_1: GGUFFile) {
        var rng = SeededGenerator(seed: 44)
        let d = 256, ff = 512, vocab = 64, heads = 4, kvHeads = 2, kv = d / heads * kvHeads
        var quantized = GGUFBuilder(), float = GGUFBuilder(), transcoded = GGUFBuilder()
        let metadata: [(String, GGUFBuilder.Value)] = [
            ("general.architecture", .string("llama")), ("llama.block_count", .uint32(1)),
            ("llama.embedding_length", .uint32(UInt32(d))), ("llama.feed_forward_length", .uint32(UInt32(ff))),
            ("llama.attention.head_count", .uint32(UInt32(heads))), ("llama.attention.head_count_kv", .uint32(UInt32(kvHeads))),
            ("llama.context_length", .uint32(64)), ("llama.attention.layer_norm_rms_epsilon", .float32(1e-5)),
        ]
        quantized.metadata = metadata
        float.metadata = metadata
        transcoded.metadata = metadata
        func matrix(_ name: String, rows: Int, columns: Int) throws {
            let bytes = Self.randomBlocks(.q4_K, blocks: rows * columns / 256, using: &rng)
            let values = try Self.floats(.q4_K, bytes, count: rows * columns)
            quantized.tensors.append(.init(name: name, dimensions: [columns, rows], type: .q4_K, bytes: bytes))
            float.tensors.append(.init(name: name, dimensions: [columns, rows], type: .f32, bytes: values.flatMap { withUnsafeBytes(of: $0, Array.init) }))
            let rowBytes = bytes.count / rows
            let rewritten = try (0..<rows).flatMap { r in try Self.transcode(.q4_K, Array(bytes[(r * rowBytes)..<((r + 1) * rowBytes)]), count: columns).1 }
            transcoded.tensors.append(.init(name: name, dimensions: [columns, rows], type: .q4_1, bytes: rewritten))
        }
        func norm(_ name: String) {
            let ones = (0..<d).flatMap { _ in withUnsafeBytes(of: Float.random(in: 0.5...1.5, using: &rng), Array.init) }
            for i in [0, 1, 2] {
                let tensor = GGUFBuilder.Tensor(name: name, dimensions: [d], type: .f32, bytes: ones)
                if i == 0 { quantized.tensors.append(tensor) } else if i == 1 { float.tensors.append(tensor) } else { transcoded.tensors.append(tensor) }
            }
        }
        try matrix("token_embd.weight", rows: vocab, columns: d)
        norm("blk.0.attn_norm.weight")
        try matrix("blk.0.attn_q.weight", rows: d, columns: d)
        try matrix("blk.0.attn_k.weight", rows: kv, columns: d)
        try matrix("blk.0.attn_v.weight", rows: kv, columns: d)
        try matrix("blk.0.attn_output.weight", rows: d, columns: d)
        norm("blk.0.ffn_norm.weight")
        try matrix("blk.0.ffn_gate.weight", rows: ff, columns: d)
        try matrix("blk.0.ffn_up.weight", rows: ff, columns: d)
        try matrix("blk.0.ffn_down.weight", rows: d, columns: ff)
        norm("output_norm.weight")
        return (try quantized.file(), try float.file(), try transcoded.file())
    }

    /// The loader runs a Q4_K model on the quantized kernels (regrouped Q4_1, no Float32 copy) with
    /// exactly the bits of a model stored as Q4_1 in the first place, while its embedding lookups
    /// read the file's Q4_K rows; and its logits follow the Float32 twin's.
    @Test func q4KModelRunsOnQuantizedKernels() throws {
        let files = try Self.q4KModelAndTwins()
        let quantized = try LlamaModel(file: files.q4K, threads: 2)
        let float = try LlamaModel(file: files.f32, threads: 1), rewritten = try LlamaModel(file: files.q4_1, threads: 1)
        for w in [quantized.layers[0].query, quantized.layers[0].down, quantized.head] {
            #expect(w.type == .q4_1 && w.groups != nil)
        }
        #expect(quantized.tokenEmbedding.fileRows.type == .q4_K)
        let tokens: [Int32] = [3, 17, 42, 5, 63, 0]
        let a = quantized.makeCache(capacity: 16), b = float.makeCache(capacity: 16), c = rewritten.makeCache(capacity: 16)
        var worst: Float = 0
        for token in tokens {
            // The Q4_1 twin looks its embeddings up in Q4_1 rows (Float16 scales): feed both the
            // same hidden state, the Q4_K file's, so only the layers and the head are compared.
            var hidden = [Float](repeating: 0, count: quantized.config.embeddingLength)
            try hidden.withUnsafeMutableBufferPointer { try quantized.embed(token, into: $0.baseAddress!) }
            var twinHidden = hidden
            let x = try hidden.withUnsafeMutableBufferPointer { h in
                try quantized.forwardLayers(0..<1, hidden: h.baseAddress!, cache: a)
                a.length += 1
                return Array(quantized.logits(hidden: h.baseAddress!))
            }
            let z = try twinHidden.withUnsafeMutableBufferPointer { h in
                try rewritten.forwardLayers(0..<1, hidden: h.baseAddress!, cache: c)
                c.length += 1
                return Array(rewritten.logits(hidden: h.baseAddress!))
            }
            #expect(x.map(\.bitPattern) == z.map(\.bitPattern), "token \(token)")
            let y = Array(try float.forward(token: token, cache: b))
            let scale = y.map { abs($0) }.max() ?? 1
            worst = max(worst, zip(x, y).map { abs($0 - $1) }.max()! / scale)
        }
        // 8-bit activations and Float16-rounded sub-block scales against exact Float32 arithmetic,
        // on random weights that amplify differences more than a trained model's.
        #expect(worst < 0.1, "largest logit difference \(worst) of the largest logit")
    }

    /// Placement counts what the engine holds: a Q4_K model's transcoded Q4_1 bytes, not its file bytes.
    @Test func modelShapeCountsTheTranscodedSize() throws {
        let files = try Self.q4KModelAndTwins()
        let shape = try ModelShape(gguf: files.q4K), twin = try ModelShape(gguf: files.q4_1)
        #expect(shape.bytesPerLayer == twin.bytesPerLayer && shape.embeddingBytes == twin.embeddingBytes)
        let fileBytes = files.q4K.tensors.filter { $0.name.hasPrefix("blk.0.") }.reduce(0) { $0 + $1.byteCount }
        #expect(shape.bytesPerLayer > UInt64(fileBytes))
    }
}
