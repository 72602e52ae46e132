import Foundation
import Testing
@testable import Inference

/// Qwen 3, Qwen 3 MoE and Gemma 3 on made-up models: against twins that compute the same function
/// another way where one exists (bit for bit), and against a plain Double-precision forward written
/// from llama.cpp's graphs where none does.
struct VariantArchitectureTests {
    /// A made-up model with Float32 weights from a fixed seed (the same weights for the same
    /// settings); `transform` may rewrite a tensor's values by name.
    struct Spec {
        var architecture: String
        var layers = 1
        var d = 128, heads = 4, kvHeads = 2, headDimension = 48, ff = 96, vocab = 40, context = 96
        var experts: (count: Int, used: Int)?
        var window: Int?
        var tied = false
        var biases = false
        var valueLength: Int?
        var metadata: [(String, GGUFBuilder.Value)] = []
        var transform: (String, [Float]) -> [Float] = { $1 }

        init(_ architecture: String) { self.architecture = architecture }

        var normsHeads: Bool { ["qwen3", "qwen3moe", "gemma3"].contains(architecture) }

        func build() throws -> (model: LlamaModel, weights: [String: [Float]], file: GGUFFile) {
            var rng = SeededGenerator(seed: 77)
            let a = architecture, q = heads * headDimension, kv = kvHeads * headDimension
            var builder = GGUFBuilder()
            builder.metadata = [
                ("general.architecture", .string(a)), ("\(a).block_count", .uint32(UInt32(layers))),
                ("\(a).embedding_length", .uint32(UInt32(d))), ("\(a).feed_forward_length", .uint32(UInt32(ff))),
                ("\(a).attention.head_count", .uint32(UInt32(heads))), ("\(a).attention.head_count_kv", .uint32(UInt32(kvHeads))),
                ("\(a).attention.key_length", .uint32(UInt32(headDimension))), ("\(a).attention.value_length", .uint32(UInt32(valueLength ?? headDimension))),
                ("\(a).context_length", .uint32(UInt32(context))), ("\(a).attention.layer_norm_rms_epsilon", .float32(1e-6)),
            ]
            if let experts {
                builder.metadata += [("\(a).expert_count", .uint32(UInt32(experts.count))), ("\(a).expert_used_count", .uint32(UInt32(experts.used))),
                                     ("\(a).expert_feed_forward_length", .uint32(UInt32(ff)))]
            }
            if let window { builder.metadata.append(("\(a).attention.sliding_window", .uint32(UInt32(window)))) }
            builder.metadata += metadata
            var weights: [String: [Float]] = [:]
            func tensor(_ name: String, _ dimensions: [Int], _ range: ClosedRange<Float>) {
                let values = transform(name, (0..<dimensions.reduce(1, *)).map { _ in Float.random(in: range, using: &rng) })
                weights[name] = values
                builder.tensors.append(.init(name: name, dimensions: dimensions, type: .f32, bytes: values.flatMap { withUnsafeBytes(of: $0, Array.init) }))
            }
            tensor("token_embd.weight", [d, vocab], -1...1)
            for l in 0..<layers {
                let p = "blk.\(l)."
                tensor(p + "attn_norm.weight", [d], 0.5...1.5)
                tensor(p + "attn_q.weight", [d, q], -0.2...0.2)
                tensor(p + "attn_k.weight", [d, kv], -0.2...0.2)
                tensor(p + "attn_v.weight", [d, kv], -0.2...0.2)
                tensor(p + "attn_output.weight", [q, d], -0.2...0.2)
                if biases {
                    tensor(p + "attn_q.bias", [q], -0.5...0.5)
                    tensor(p + "attn_k.bias", [kv], -0.5...0.5)
                    tensor(p + "attn_v.bias", [kv], -0.5...0.5)
                }
                if normsHeads {
                    tensor(p + "attn_q_norm.weight", [headDimension], 0.5...1.5)
                    tensor(p + "attn_k_norm.weight", [headDimension], 0.5...1.5)
                }
                if a == "gemma3" {
                    tensor(p + "post_attention_norm.weight", [d], 0.5...1.5)
                    tensor(p + "post_ffw_norm.weight", [d], 0.5...1.5)
                }
                tensor(p + "ffn_norm.weight", [d], 0.5...1.5)
                if let experts {
                    tensor(p + "ffn_gate_inp.weight", [d, experts.count], -0.5...0.5)
                    tensor(p + "ffn_gate_exps.weight", [d, ff, experts.count], -0.2...0.2)
                    tensor(p + "ffn_up_exps.weight", [d, ff, experts.count], -0.2...0.2)
                    tensor(p + "ffn_down_exps.weight", [ff, d, experts.count], -0.2...0.2)
                } else {
                    tensor(p + "ffn_gate.weight", [d, ff], -0.2...0.2)
                    tensor(p + "ffn_up.weight", [d, ff], -0.2...0.2)
                    tensor(p + "ffn_down.weight", [ff, d], -0.2...0.2)
                }
            }
            tensor("output_norm.weight", [d], 0.5...1.5)
            if !tied { tensor("output.weight", [d, vocab], -0.2...0.2) }
            let file = try builder.file()
            return (try LlamaModel(file: file, threads: 1), weights, file)
        }
    }

    static func logits(_ model: LlamaModel, _ tokens: [Int32], cache: KVCache? = nil) throws -> [[Float]] {
        let cache = cache ?? model.makeCache(capacity: 96)
        return try tokens.map { Array(try model.forward(token: $0, cache: cache)) }
    }

    static func bits(_ rows: [[Float]]) -> [[UInt32]] { rows.map { $0.map(\.bitPattern) } }

    /// Every row within `tolerance` of the largest reference magnitude.
    static func expectClose(_ engine: [[Float]], _ reference: [[Double]], tolerance: Double, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(engine.count == reference.count, sourceLocation: sourceLocation)
        for (t, (x, y)) in zip(engine, reference).enumerated() {
            let scale = y.map { abs($0) }.max()!
            let worst = zip(x, y).map { abs(Double($0) - $1) }.max()!
            #expect(worst <= scale * tolerance, "token \(t): largest difference \(worst) of \(scale)", sourceLocation: sourceLocation)
        }
    }

    static let tokens: [Int32] = [3, 17, 5, 39, 22, 8, 1, 30, 12, 25, 7, 33]

    // MARK: Qwen 3

    @Test func qwen3MatchesTheReferenceForward() throws {
        let (model, weights, _) = try Spec("qwen3").build()
        #expect(model.config.normalizesQueryAndKeyHeads && model.config.ropeStyle == .neox && model.layers[0].queryBias == nil)
        Self.expectClose(try Self.logits(model, Self.tokens), Reference(weights: weights, config: model.config).logits(Self.tokens), tolerance: 2e-3)
    }

    /// With query-norm weights of zero a qwen3's queries are zero, as a qwen2's are whose query
    /// matrix and biases are zero: every score is 0 and attention averages the values. The rest
    /// (keys and values without biases, NeoX RoPE, the FFN, the head) must then be the same bits.
    /// (Norm weights of one are no twin: RMSNorm with unit weights still normalizes.)
    @Test func qwen3IsQwen2WithoutBiasesAroundItsHeadNorms() throws {
        var qwen3 = Spec("qwen3")
        qwen3.transform = { name, values in name.hasSuffix("attn_q_norm.weight") ? values.map { _ in 0 } : values }
        var qwen2 = Spec("qwen2")
        qwen2.biases = true
        // The two draw different random weights (norms, biases): the qwen2 takes the qwen3's.
        let reference = try qwen3.build().weights
        qwen2.transform = { name, values in
            if name.hasSuffix("attn_q.weight") || name.hasSuffix(".bias") { return values.map { _ in 0 } }
            return reference[name] ?? values
        }
        let a = try Self.logits(try qwen3.build().model, Self.tokens), b = try Self.logits(try qwen2.build().model, Self.tokens)
        #expect(Self.bits(a) == Self.bits(b))
    }

    // MARK: Qwen 3 MoE

    /// One expert chosen of one: its router weight is exactly 1 (softmax of one logit, renormalized),
    /// so the layer is the dense qwen3 whose FFN is that expert, bit for bit.
    @Test func qwen3moeWithOneExpertIsTheDenseQwen3() throws {
        var moe = Spec("qwen3moe")
        moe.experts = (1, 1)
        let (mixture, weights, _) = try moe.build()
        var dense = Spec("qwen3")
        dense.transform = { name, values in
            let expertName = name.replacingOccurrences(of: "ffn_gate.", with: "ffn_gate_exps.")
                .replacingOccurrences(of: "ffn_up.", with: "ffn_up_exps.").replacingOccurrences(of: "ffn_down.", with: "ffn_down_exps.")
            return weights[expertName] ?? weights[name] ?? values
        }
        let twin = try dense.build().model
        #expect(mixture.config.experts?.count == 1 && twin.config.experts == nil)
        let a = try Self.logits(mixture, Self.tokens), b = try Self.logits(twin, Self.tokens)
        #expect(Self.bits(a) == Self.bits(b))
        let cache = mixture.makeCache(capacity: 32), twinCache = twin.makeCache(capacity: 32)
        #expect(Array(try mixture.prefill(Self.tokens, cache: cache)).map(\.bitPattern) == Array(try twin.prefill(Self.tokens, cache: twinCache)).map(\.bitPattern))
    }

    /// Two of four experts per token, weights renormalized over the two.
    @Test func qwen3moeMatchesTheReferenceForward() throws {
        var spec = Spec("qwen3moe")
        spec.experts = (4, 2)
        spec.layers = 2
        let (model, weights, _) = try spec.build()
        #expect(model.config.experts?.normalizesWeights == true)
        Self.expectClose(try Self.logits(model, Self.tokens), Reference(weights: weights, config: model.config).logits(Self.tokens), tolerance: 2e-3)
        // The router matters: choosing one expert gives other logits.
        var one = Spec("qwen3moe")
        one.experts = (4, 1)
        one.layers = 2
        let single = try Self.logits(try one.build().model, Self.tokens)
        #expect(zip(single[0], try Self.logits(model, Self.tokens)[0]).contains { abs($0 - $1) > 1e-3 })
    }

    @Test func routerWeightsAreTheSoftmaxOfTheChosenRenormalized() {
        let e = Experts(count: 5, used: 2, feedForwardLength: 32, normalizesWeights: true, weightsScale: 1)
        let m = MixtureScratch(experts: e, embeddingLength: 32)
        let logits: [Float] = [0.1, 2.0, -1.0, 2.0, 1.5]
        m.logits.update(from: logits, count: 5)
        m.route(e)
        // Ties go to the lower expert.
        #expect(m.chosen[0] == 1 && m.chosen[1] == 3)
        #expect(abs(m.weights[0] - 0.5) < 1e-6 && abs(m.weights[1] - 0.5) < 1e-6)
        let raw = Experts(count: 5, used: 2, feedForwardLength: 32, normalizesWeights: false, weightsScale: 2)
        m.logits.update(from: logits, count: 5)
        m.route(raw)
        let total = logits.map { exp(Double($0)) }.reduce(0, +)
        #expect(abs(Double(m.weights[0]) - 2 * exp(2.0) / total) < 1e-6)
    }

    @Test func prefillIsBitIdenticalToTokenByTokenForEveryVariant() throws {
        var moe = Spec("qwen3moe")
        moe.experts = (4, 2)
        var gemma = Spec("gemma3")
        gemma.window = 5
        gemma.layers = 3
        gemma.metadata = [("gemma3.attention.sliding_window_pattern", .uint32(3))]
        let tokens: [Int32] = (0..<70).map { Int32(($0 * 7 + 3) % 40) }
        for spec in [Spec("qwen3"), moe, gemma] {
            let model = try spec.build().model
            let batched = Array(try model.prefill(tokens, cache: model.makeCache(capacity: 96)))
            let single = try Self.logits(model, tokens).last!
            #expect(batched.map(\.bitPattern) == single.map(\.bitPattern), "\(spec.architecture)")
        }
    }

    // MARK: Gemma 3

    @Test func gemma3MatchesTheReferenceForward() throws {
        var spec = Spec("gemma3")
        spec.layers = 3
        spec.window = 4
        spec.tied = true
        spec.metadata = [("gemma3.attention.sliding_window_pattern", .uint32(3)), ("gemma3.rope.freq_base", .float32(1_000_000)),
                         ("gemma3.final_logit_softcapping", .float32(8))]
        let (model, weights, _) = try spec.build()
        let c = model.config
        #expect(c.slidingWindow?.localLayers == [true, true, false] && c.finalLogitSoftcap == 8 && c.queryScale == 1 / Float(48).squareRoot())
        Self.expectClose(try Self.logits(model, Self.tokens), Reference(weights: weights, config: c).logits(Self.tokens), tolerance: 2e-3)
    }

    /// A local layer sees the window's positions only: with the same RoPE everywhere, a model with
    /// a window equals one without while the context fits the window, bit for bit, and not after.
    @Test func theSlidingWindowLimitsLocalLayersOnly() throws {
        var windowed = Spec("gemma3")
        windowed.layers = 2
        windowed.window = 4
        windowed.metadata = [("gemma3.attention.sliding_window_pattern", .uint32(2))]
        var global = windowed
        global.window = nil
        let a = try Self.logits(try windowed.build().model, Self.tokens), b = try Self.logits(try global.build().model, Self.tokens)
        #expect(Self.bits(Array(a[..<4])) == Self.bits(Array(b[..<4])))
        #expect(a[4] != b[4])
    }

    /// A local layer's ring of window + batch − 1 slots holds what a slot per position would: the
    /// same bits well past the point where the ring wraps, through batched prefill and decode.
    @Test func aRingCacheGivesTheBitsOfAFullCache() throws {
        var spec = Spec("gemma3")
        spec.layers = 2
        spec.window = 3
        spec.context = 200
        spec.metadata = [("gemma3.attention.sliding_window_pattern", .uint32(2))]
        let model = try spec.build().model
        let ring = model.makeCache(capacity: 200)
        let full = KVCache(layers: 0..<2, capacity: 200, kvDimension: model.config.kvDimension)
        #expect(ring.slots(layer: 0) == 3 + LlamaModel.prefillBatch - 1 && ring.slots(layer: 1) == 200)
        #expect(ring.bytes < full.bytes)
        let prompt: [Int32] = (0..<100).map { Int32(($0 * 11 + 5) % 40) }
        var a = [Array(try model.prefill(prompt, cache: ring))], b = [Array(try model.prefill(prompt, cache: full))]
        for token: Int32 in [4, 9, 31, 2] {
            a.append(Array(try model.forward(token: token, cache: ring)))
            b.append(Array(try model.forward(token: token, cache: full)))
        }
        #expect(Self.bits(a) == Self.bits(b))
    }

    /// Pipeline ranks: [0, k) and [k, n) on caches of their own give one forward's logits, for the
    /// decode and the batched path.
    @Test(arguments: [1, 2])
    func gemma3LayerRangesAreBitIdenticalToTheWholeModel(split: Int) throws {
        var spec = Spec("gemma3")
        spec.layers = 3
        spec.window = 4
        spec.metadata = [("gemma3.attention.sliding_window_pattern", .uint32(3))]
        let model = try spec.build().model
        let d = model.config.embeddingLength
        let expected = try Self.logits(model, Self.tokens)
        let first = model.makeCache(capacity: 32, layers: 0..<split), second = model.makeCache(capacity: 32, layers: split..<3)
        let hidden = UnsafeMutablePointer<Float>.allocate(capacity: d * LlamaModel.prefillBatch)
        defer { hidden.deallocate() }
        // Five tokens as one batch, then the rest one at a time.
        for (t, token) in Self.tokens[..<5].enumerated() { try model.embed(token, into: hidden + t * d) }
        try model.forwardLayers(0..<split, batch: hidden, count: 5, cache: first)
        try model.forwardLayers(split..<3, batch: hidden, count: 5, cache: second)
        first.length += 5
        second.length += 5
        var got: [[Float]] = []
        let last = UnsafeMutablePointer<Float>.allocate(capacity: d)
        defer { last.deallocate() }
        last.update(from: hidden + 4 * d, count: d)
        got.append(Array(model.logits(hidden: last)))
        for token in Self.tokens[5...] {
            try model.embed(token, into: hidden)
            try model.forwardLayers(0..<split, hidden: hidden, cache: first)
            try model.forwardLayers(split..<3, hidden: hidden, cache: second)
            first.length += 1
            second.length += 1
            got.append(Array(model.logits(hidden: hidden)))
        }
        #expect(Self.bits(got) == Self.bits(Array(expected[4...])))
    }

    /// ggml's GELU table: the exact tanh-approximation GELU rounded through Float16 (a spot check of
    /// the formula; the table equals GCC's build of ggml's entry for entry on this machine).
    @Test func geluFollowsGgmlsTable() {
        for x: Float in [-3, -0.5, 0, 0.25, 1, 2.5, 9.9] {
            let exact = 0.5 * Double(x) * (1 + tanh(0.7978845608028654 * Double(x) * (1 + 0.044715 * Double(x) * Double(x))))
            let looked = Double(Kernels.geluTable[Int(Float16(x).bitPattern)])
            #expect(abs(looked - exact) <= abs(exact) * 2e-3 + 1e-3, "GELU(\(x)) = \(looked), expected about \(exact)")
        }
        var gate: [Float] = [-11, -10, 10, 12, 0.5], up: [Float] = [2, 2, 2, 2, 2]
        Kernels.geGLU(gate: &gate, up: &up, count: 5)
        #expect(gate[0] == 0 && gate[1] == 0 && gate[2] == 20 && gate[3] == 24)
        #expect(gate[4] == Float(Kernels.geluTable[Int(Float16(0.5).bitPattern)]) * 2)
    }

    // MARK: Files, shapes, refusals

    /// An MoE layer's bytes are all its experts' (a rank holding the layer holds every expert),
    /// plus the router and attention.
    @Test func anMoEsLayerBytesCountEveryExpert() throws {
        var spec = Spec("qwen3moe")
        spec.experts = (8, 2)
        let (_, _, file) = try spec.build()
        let shape = try ModelShape(gguf: file)
        let q = spec.heads * spec.headDimension, kv = spec.kvHeads * spec.headDimension
        let attention = spec.d * (q + 2 * kv) + q * spec.d + 2 * spec.headDimension + 2 * spec.d
        let experts = 8 * 3 * spec.d * spec.ff, router = 8 * spec.d
        #expect(shape.bytesPerLayer == UInt64(4 * (attention + experts + router)))
    }

    @Test func anExpertIsAMatrixOfItsStackedTensor() throws {
        var spec = Spec("qwen3moe")
        spec.experts = (3, 1)
        let (_, weights, file) = try spec.build()
        let stacked = try #require(file.tensor(named: "blk.0.ffn_down_exps.weight"))
        let second = try #require(file.tensor(named: "blk.0.ffn_down_exps.weight[1]"))
        #expect(second.dimensions == [spec.ff, spec.d] && second.offset == stacked.offset + spec.ff * spec.d * 4)
        let values = file.bytes(of: second).bindMemory(to: Float.self)
        #expect(Array(values) == Array(weights["blk.0.ffn_down_exps.weight"]![(spec.ff * spec.d)..<(2 * spec.ff * spec.d)]))
        #expect(file.tensor(named: "blk.0.ffn_down_exps.weight[3]") == nil && file.tensor(named: "blk.0.attn_q.weight[0]") == nil)
    }

    @Test func anUnknownArchitectureIsRefusedWithTheSupportedOnes() throws {
        do {
            _ = try Spec("mamba").build()
            Issue.record("mamba was accepted")
        } catch {
            #expect("\(error)".contains("'mamba' is not supported; exo-peer runs gemma3, granite, llama, mistral, qwen2, qwen3, qwen3moe"), "\(error)")
        }
    }

    @Test func valueHeadsOtherThanKeyHeadsAreRefused() throws {
        var spec = Spec("qwen3")
        spec.valueLength = 32
        do {
            _ = try spec.build()
            Issue.record("value heads of 32 beside key heads of 48 were accepted")
        } catch {
            #expect("\(error)".contains("value heads of 32 beside key heads of 48"), "\(error)")
        }
    }
}

/// A forward pass in Double, written from llama.cpp's llama, qwen3, qwen3moe and gemma3 graphs
/// with nothing of the engine's: no Float16 cache, no fused kernels, plain softmax and GELU.
struct Reference {
    let weights: [String: [Float]]
    let config: LlamaConfig

    func logits(_ tokens: [Int32]) -> [[Double]] {
        let c = config, d = c.embeddingLength, hd = c.headDimension, q = c.headCount * hd, kv = c.kvDimension
        var keys = [[[Double]]](repeating: [], count: c.layerCount), values = keys
        var out: [[Double]] = []
        for (position, token) in tokens.enumerated() {
            let embedding = weights["token_embd.weight"]!
            var x = (0..<d).map { Double(embedding[Int(token) * d + $0]) * Double(c.embeddingScale) }
            for l in 0..<c.layerCount {
                let p = "blk.\(l)."
                let h = rms(x, p + "attn_norm.weight")
                var qv = product(p + "attn_q.weight", rows: q, h), kvv = product(p + "attn_k.weight", rows: kv, h)
                let vv = product(p + "attn_v.weight", rows: kv, h)
                let local = c.slidingWindow?.isLocal(l) ?? false
                let base = Double(local ? c.slidingWindow!.ropeBase : c.ropeBase)
                for (vector, heads) in [(0, c.headCount), (1, c.kvHeadCount)] {
                    for head in 0..<heads {
                        var v = Array((vector == 0 ? qv : kvv)[(head * hd)..<((head + 1) * hd)])
                        if c.normalizesQueryAndKeyHeads { v = rms(v, p + (vector == 0 ? "attn_q_norm.weight" : "attn_k_norm.weight")) }
                        v = rope(v, position: position, base: base)
                        if vector == 0 { qv.replaceSubrange((head * hd)..<((head + 1) * hd), with: v) } else { kvv.replaceSubrange((head * hd)..<((head + 1) * hd), with: v) }
                    }
                }
                qv = qv.map { $0 * Double(c.queryScale) }
                keys[l].append(kvv)
                values[l].append(vv)
                var attention = [Double](repeating: 0, count: q)
                let first = local ? max(0, position - c.slidingWindow!.size + 1) : 0
                for head in 0..<c.headCount {
                    let g = head / (c.headCount / c.kvHeadCount)
                    let scores = (first...position).map { j in
                        (0..<hd).reduce(0.0) { $0 + qv[head * hd + $1] * keys[l][j][g * hd + $1] } * Double(c.attentionScale)
                    }
                    let m = scores.max()!, e = scores.map { exp($0 - m) }, total = e.reduce(0, +)
                    for (k, j) in (first...position).enumerated() {
                        for i in 0..<hd { attention[head * hd + i] += e[k] / total * values[l][j][g * hd + i] }
                    }
                }
                var o = product(p + "attn_output.weight", rows: d, attention)
                if c.normalizesBlockOutputs { o = rms(o, p + "post_attention_norm.weight") }
                x = zip(x, o).map(+)
                let f = rms(x, p + "ffn_norm.weight")
                var y = feedForward(f, layer: p)
                if c.normalizesBlockOutputs { y = rms(y, p + "post_ffw_norm.weight") }
                x = zip(x, y).map(+)
            }
            let head = weights["output.weight"] != nil ? "output.weight" : "token_embd.weight"
            var logits = product(head, rows: c.vocabularySize, rms(x, "output_norm.weight"))
            if let cap = c.finalLogitSoftcap.map(Double.init) { logits = logits.map { cap * tanh($0 / cap) } }
            out.append(logits)
        }
        return out
    }

    private func feedForward(_ x: [Double], layer p: String) -> [Double] {
        let c = config, d = c.embeddingLength, ff = c.feedForwardLength
        func expert(gate: ArraySlice<Float>, up: ArraySlice<Float>, down: ArraySlice<Float>) -> [Double] {
            let g = product(Array(gate), rows: ff, x), u = product(Array(up), rows: ff, x)
            let a = zip(g, u).map { g, u in
                let act = c.feedForwardActivation == .silu ? g / (1 + exp(-g)) : 0.5 * g * (1 + tanh(0.7978845608028654 * (g + 0.044715 * g * g * g)))
                return act * u
            }
            return product(Array(down), rows: d, a)
        }
        guard let e = c.experts else {
            return expert(gate: weights[p + "ffn_gate.weight"]![...], up: weights[p + "ffn_up.weight"]![...], down: weights[p + "ffn_down.weight"]![...])
        }
        let logits = product(p + "ffn_gate_inp.weight", rows: e.count, x)
        let m = logits.max()!, probabilities = logits.map { exp($0 - m) }, total = probabilities.reduce(0, +)
        let chosen = probabilities.indices.sorted { probabilities[$0] > probabilities[$1] }.prefix(e.used)
        let chosenTotal = chosen.reduce(0.0) { $0 + probabilities[$1] / total }
        var y = [Double](repeating: 0, count: d)
        let n = d * ff
        for k in chosen {
            let w = probabilities[k] / total / (e.normalizesWeights ? chosenTotal : 1) * Double(e.weightsScale)
            let out = expert(gate: weights[p + "ffn_gate_exps.weight"]![(k * n)..<((k + 1) * n)], up: weights[p + "ffn_up_exps.weight"]![(k * n)..<((k + 1) * n)],
                             down: weights[p + "ffn_down_exps.weight"]![(k * n)..<((k + 1) * n)])
            for i in 0..<d { y[i] += w * out[i] }
        }
        return y
    }

    private func rms(_ x: [Double], _ name: String) -> [Double] {
        let w = weights[name]!
        let scale = 1 / (x.reduce(0) { $0 + $1 * $1 } / Double(x.count) + Double(config.normEpsilon)).squareRoot()
        return x.indices.map { x[$0] * scale * Double(w[$0]) }
    }

    /// NeoX pairing: value i with value i + half, angle position · base^(−2i/d).
    private func rope(_ v: [Double], position: Int, base: Double) -> [Double] {
        var out = v
        let half = v.count / 2
        for i in 0..<half {
            let angle = Double(position) * pow(base, -2 * Double(i) / Double(v.count))
            out[i] = v[i] * cos(angle) - v[i + half] * sin(angle)
            out[i + half] = v[i] * sin(angle) + v[i + half] * cos(angle)
        }
        return out
    }

    private func product(_ name: String, rows: Int, _ x: [Double]) -> [Double] { product(weights[name]!, rows: rows, x) }

    private func product(_ w: [Float], rows: Int, _ x: [Double]) -> [Double] {
        (0..<rows).map { r in x.indices.reduce(0.0) { $0 + Double(w[r * x.count + $1]) * x[$1] } }
    }
}
