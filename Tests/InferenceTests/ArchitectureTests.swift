import Foundation
import Testing
@testable import Inference

/// Architecture variants of the llama graph, each against a plain llama model built to compute the
/// same function another way (there are no reference files of these architectures here).
struct ArchitectureTests {
    /// A made-up one-layer model with Float32 weights drawn from a fixed seed, so two calls give the
    /// same weights; `transform` may rewrite a tensor's values by name.
    static func model(
        architecture: String, metadata extra: [(String, GGUFBuilder.Value)] = [], ropeFactors: [Float]? = nil, biases: Bool = false,
        transform: (String, [Float]) -> [Float] = { $1 }
    ) throws -> LlamaModel {
        var rng = SeededGenerator(seed: 51)
        let d = 128, ff = 256, vocab = 48, heads = 4, kvHeads = 2, kv = d / heads * kvHeads
        var builder = GGUFBuilder()
        let a = architecture
        builder.metadata = [
            ("general.architecture", .string(a)), ("\(a).block_count", .uint32(1)),
            ("\(a).embedding_length", .uint32(UInt32(d))), ("\(a).feed_forward_length", .uint32(UInt32(ff))),
            ("\(a).attention.head_count", .uint32(UInt32(heads))), ("\(a).attention.head_count_kv", .uint32(UInt32(kvHeads))),
            ("\(a).context_length", .uint32(32)), ("\(a).attention.layer_norm_rms_epsilon", .float32(1e-5)),
        ] + extra
        func tensor(_ name: String, _ dimensions: [Int], range: ClosedRange<Float>) {
            let values = transform(name, (0..<dimensions.reduce(1, *)).map { _ in Float.random(in: range, using: &rng) })
            builder.tensors.append(.init(name: name, dimensions: dimensions, type: .f32, bytes: values.flatMap { withUnsafeBytes(of: $0, Array.init) }))
        }
        tensor("token_embd.weight", [d, vocab], range: -1...1)
        tensor("blk.0.attn_norm.weight", [d], range: 0.5...1.5)
        tensor("blk.0.attn_q.weight", [d, d], range: -0.2...0.2)
        tensor("blk.0.attn_k.weight", [d, kv], range: -0.2...0.2)
        tensor("blk.0.attn_v.weight", [d, kv], range: -0.2...0.2)
        tensor("blk.0.attn_output.weight", [d, d], range: -0.2...0.2)
        tensor("blk.0.ffn_norm.weight", [d], range: 0.5...1.5)
        tensor("blk.0.ffn_gate.weight", [d, ff], range: -0.2...0.2)
        tensor("blk.0.ffn_up.weight", [d, ff], range: -0.2...0.2)
        tensor("blk.0.ffn_down.weight", [ff, d], range: -0.2...0.2)
        tensor("output_norm.weight", [d], range: 0.5...1.5)
        tensor("output.weight", [d, vocab], range: -0.2...0.2)
        if biases {
            tensor("blk.0.attn_q.bias", [d], range: -0.5...0.5)
            tensor("blk.0.attn_k.bias", [kv], range: -0.5...0.5)
            tensor("blk.0.attn_v.bias", [kv], range: -0.5...0.5)
        }
        if let ropeFactors {
            builder.tensors.append(.init(name: "rope_freqs.weight", dimensions: [ropeFactors.count], type: .f32,
                                         bytes: ropeFactors.flatMap { withUnsafeBytes(of: $0, Array.init) }))
        }
        return try LlamaModel(file: builder.file(), threads: 1)
    }

    static func logits(_ model: LlamaModel, _ tokens: [Int32]) throws -> [[Float]] {
        let cache = model.makeCache(capacity: 16)
        return try tokens.map { Array(try model.forward(token: $0, cache: cache)) }
    }

    /// Granite's four multipliers, each folded into a llama twin's weights instead: the embedding
    /// scale into the embedding, the residual scale into the two matrices whose outputs join the
    /// residual stream, the attention scale into the query (RoPE is linear), 1/logit scale into the head.
    @Test func graniteMultipliersMatchALlamaWithScaledWeights() throws {
        let embedding: Float = 6, residual: Float = 0.25, attention: Float = 0.0625, logit: Float = 8
        let granite = try Self.model(architecture: "granite", metadata: [
            ("granite.embedding_scale", .float32(embedding)), ("granite.residual_scale", .float32(residual)),
            ("granite.attention.scale", .float32(attention)), ("granite.logit_scale", .float32(logit)),
        ])
        #expect(granite.config.attentionScale == attention && granite.config.logitScale == logit)
        let headDimension = Float(granite.config.headDimension)
        let twin = try Self.model(architecture: "llama") { name, values in
            let factor: Float = switch name {
            case "token_embd.weight": embedding
            case "blk.0.attn_output.weight", "blk.0.ffn_down.weight": residual
            case "blk.0.attn_q.weight": attention * headDimension.squareRoot()
            case "output.weight": 1 / logit
            default: 1
            }
            return values.map { $0 * factor }
        }
        let tokens: [Int32] = [1, 7, 30, 2, 47]
        let a = try Self.logits(granite, tokens), b = try Self.logits(twin, tokens)
        for (x, y) in zip(a, b) {
            let scale = y.map { abs($0) }.max()!
            // Rounding differs (where the factor is applied, the query rounded to Float16), not the function.
            #expect(zip(x, y).allSatisfy { abs($0 - $1) <= scale * 2e-3 }, "largest difference \(zip(x, y).map { abs($0 - $1) }.max()!) of \(scale)")
        }
        // And the multipliers matter: the same weights as a plain llama give other logits.
        let plain = try Self.logits(try Self.model(architecture: "llama"), tokens)
        #expect(zip(a[0], plain[0]).contains { abs($0 - $1) > 0.01 })
    }

    @Test func aModelWithoutMultipliersKeepsTheLlamaDefaults() throws {
        let model = try Self.model(architecture: "llama")
        #expect(model.config.embeddingScale == 1 && model.config.residualScale == 1 && model.config.logitScale == 1)
        #expect(model.config.attentionScale == 1 / Float(model.config.headDimension).squareRoot())
    }

    @Test func aNonFiniteMultiplierIsRefused() throws {
        #expect(throws: LlamaModel.Error.self) {
            _ = try Self.model(architecture: "granite", metadata: [("granite.residual_scale", .float32(.infinity))])
        }
    }

    // MARK: RoPE

    /// Rows computed as positions are reached equal rows computed at once, and follow the formula
    /// frequencyScale · (p · base^(−2i/d) / factorᵢ) with the power built by repeated multiplication.
    @Test func ropeRowsGrowOnDemandAndFollowTheFormula() {
        let factors: [Float] = (0..<16).map { 1 + Float($0) / 4 }
        let grown = RopeTable(ropeDimension: 32, base: 500_000, frequencyScale: 0.25, factors: factors)
        let once = RopeTable(ropeDimension: 32, base: 500_000, frequencyScale: 0.25, factors: factors)
        for p in [1, 2, 3, 64, 65, 200] { grown.reserve(positions: p) }
        once.reserve(positions: 200)
        let step = Foundation.pow(Float(500_000), -2 / Float(32))
        for p in [0, 1, 63, 64, 130, 199] {
            let (c1, s1) = grown.row(p), (c2, s2) = once.row(p)
            var theta = Float(p)
            for i in 0..<16 {
                #expect(c1[i] == c2[i] && s1[i] == s2[i])
                let angle = 0.25 * (theta / factors[i])
                #expect(c1[i] == Foundation.cos(angle) && s1[i] == Foundation.sin(angle), "position \(p) angle \(i)")
                theta *= step
            }
        }
    }

    /// Factors of 1 change nothing (bit for bit); other factors change the result.
    @Test func ropeFrequencyFactorsApply() throws {
        let tokens: [Int32] = [4, 9, 16, 25]
        let plain = try Self.logits(try Self.model(architecture: "llama"), tokens)
        let half = 128 / 4 / 2
        let ones = try Self.logits(try Self.model(architecture: "llama", ropeFactors: Array(repeating: 1, count: half)), tokens)
        let eights = try Self.logits(try Self.model(architecture: "llama", ropeFactors: Array(repeating: 8, count: half)), tokens)
        #expect(plain.map { $0.map(\.bitPattern) } == ones.map { $0.map(\.bitPattern) })
        #expect(plain[0] == eights[0], "position 0 has no rotation")
        #expect(plain[3] != eights[3])
        #expect(throws: LlamaModel.Error.self) { _ = try Self.model(architecture: "llama", ropeFactors: Array(repeating: 0, count: half)) }
    }

    /// Linear scaling by f and frequency factors of f both scale each angle by 1/f (rounding aside).
    @Test func linearRopeScalingScalesEveryAngle() throws {
        let scaled = try Self.model(architecture: "llama", metadata: [("llama.rope.scaling.type", .string("linear")), ("llama.rope.scaling.factor", .float32(4))])
        #expect(scaled.config.ropeFrequencyScale == 0.25)
        let old = try Self.model(architecture: "llama", metadata: [("llama.rope.scale_linear", .float32(2))])
        #expect(old.config.ropeFrequencyScale == 0.5)
        let half = 128 / 4 / 2
        let factored = try Self.model(architecture: "llama", ropeFactors: Array(repeating: 4, count: half))
        let tokens: [Int32] = [4, 9, 16, 25, 36]
        let a = try Self.logits(scaled, tokens), b = try Self.logits(factored, tokens)
        for (x, y) in zip(a, b) { #expect(zip(x, y).allSatisfy { abs($0 - $1) <= 1e-4 * max(1, abs($1)) }) }
    }

    @Test(arguments: ["yarn", "longrope", "something-else"])
    func unsupportedRopeScalingIsRefusedByName(type: String) throws {
        do {
            _ = try Self.model(architecture: "llama", metadata: [("llama.rope.scaling.type", .string(type))])
            Issue.record("a model with RoPE scaling '\(type)' was accepted")
        } catch {
            #expect("\(error)".contains("RoPE scaling '\(type)'"), "\(error)")
        }
    }

    // MARK: Qwen2

    /// Qwen2 adds biases to q, k and v and rotates each head's halves against each other (NeoX
    /// RoPE). A llama whose q and k rows (and biases) are reordered so that value i and value
    /// i + 16 of each 32-wide head become neighbours computes the same thing with adjacent-pair
    /// RoPE: the rotation is the same per pair, and q·k does not change when both are reordered alike.
    @Test func qwen2MatchesALlamaWithReorderedQueryAndKeyRows() throws {
        let qwen = try Self.model(architecture: "qwen2", biases: true)
        #expect(qwen.config.ropeStyle == .neox && qwen.layers[0].queryBias != nil && qwen.layers[0].outputBias == nil)
        let headDimension = qwen.config.headDimension, d = qwen.config.embeddingLength
        func reorder(_ values: [Float], rowLength: Int) -> [Float] {
            let rows = values.count / rowLength
            var out = values
            for r in 0..<rows {
                let head = r / headDimension, j = r % headDimension
                // New row 2i takes old row i; new row 2i + 1 takes old row i + half.
                let source = head * headDimension + (j % 2 == 0 ? j / 2 : j / 2 + headDimension / 2)
                out.replaceSubrange((r * rowLength)..<((r + 1) * rowLength), with: values[(source * rowLength)..<((source + 1) * rowLength)])
            }
            return out
        }
        let twin = try Self.model(architecture: "llama", biases: true) { name, values in
            switch name {
            case "blk.0.attn_q.weight", "blk.0.attn_k.weight": reorder(values, rowLength: d)
            case "blk.0.attn_q.bias", "blk.0.attn_k.bias": reorder(values, rowLength: 1)
            default: values
            }
        }
        #expect(twin.config.ropeStyle == .normal)
        let tokens: [Int32] = [2, 11, 23, 40, 5, 8]
        let a = try Self.logits(qwen, tokens), b = try Self.logits(twin, tokens)
        for (x, y) in zip(a, b) {
            let scale = y.map { abs($0) }.max()!
            #expect(zip(x, y).allSatisfy { abs($0 - $1) <= scale * 1e-3 }, "largest difference \(zip(x, y).map { abs($0 - $1) }.max()!) of \(scale)")
        }
        // Without the reordering the two differ: the test sees the RoPE style.
        let unordered = try Self.logits(try Self.model(architecture: "llama", biases: true), tokens)
        #expect(zip(a[5], unordered[5]).contains { abs($0 - $1) > 0.01 })
        // And the biases are applied: the same model without them differs.
        let unbiased = try Self.logits(try Self.model(architecture: "qwen2"), tokens)
        #expect(zip(a[0], unbiased[0]).contains { abs($0 - $1) > 0.01 })
    }

    /// Batched prefill adds the biases and rotates NeoX-style too: the same bits as token by token.
    @Test func qwen2PrefillIsBitIdenticalToTokenByToken() throws {
        let model = try Self.model(architecture: "qwen2", biases: true)
        let tokens: [Int32] = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3]
        let batched = Array(try model.prefill(tokens, cache: model.makeCache(capacity: 16)))
        let single = try Self.logits(model, tokens).last!
        #expect(batched.map(\.bitPattern) == single.map(\.bitPattern))
    }
}
