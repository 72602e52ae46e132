/// The shape of a llama-family model, read from GGUF metadata.
public struct LlamaConfig: Sendable, Equatable {
    public var architecture: String
    public var layerCount: Int
    public var embeddingLength: Int
    public var feedForwardLength: Int
    public var headCount: Int
    public var kvHeadCount: Int
    public var headDimension: Int
    public var ropeDimension: Int
    public var ropeBase: Float
    /// Which values RoPE pairs: Qwen2 rotates each head's halves against each other (GPT-NeoX style).
    public var ropeStyle: RopeStyle
    /// Linear RoPE scaling: positions are multiplied by this (1 / the metadata's scaling factor).
    public var ropeFrequencyScale: Float = 1
    public var normEpsilon: Float
    public var contextLength: Int
    public var vocabularySize: Int
    /// Granite's multipliers (1, and 1/√headDimension for attention, elsewhere): the embedding is
    /// scaled by `embeddingScale`, each block's output by `residualScale` before it joins the
    /// residual stream, attention scores by `attentionScale`, and logits divided by `logitScale`.
    public var embeddingScale: Float = 1
    public var residualScale: Float = 1
    public var attentionScale: Float
    public var logitScale: Float = 1

    // Variants of the graph (Qwen 3, Qwen 3 MoE, Gemma 3); the defaults are the llama graph.
    /// RMSNorm over each query and key head (their `attn_q_norm` / `attn_k_norm`), before RoPE.
    public var normalizesQueryAndKeyHeads = false
    /// RMSNorm of the attention and FFN outputs before each joins the residual stream (Gemma's
    /// `post_attention_norm` and `post_ffw_norm`).
    public var normalizesBlockOutputs = false
    /// The FFN's gating: silu(gate) · up, or GELU(gate) · up.
    public var feedForwardActivation: FeedForwardActivation = .silu
    /// A multiplier of the query after RoPE, with `attentionScale` then 1: Gemma scales the query
    /// before attention where llama.cpp's other graphs scale the scores.
    public var queryScale: Float = 1
    /// Logits become cap · tanh(logits / cap) (Gemma's `final_logit_softcapping`); nil: none.
    public var finalLogitSoftcap: Float?
    /// Sliding-window attention: a local layer's token sees the `window` latest positions, itself
    /// included; the other layers see the whole context.
    public var slidingWindow: SlidingWindow?
    /// Mixture-of-experts FFNs (Qwen 3 MoE): `feedForwardLength` is then one expert's.
    public var experts: Experts?

    public var kvDimension: Int { kvHeadCount * headDimension }

    /// Architectures whose tensors and math this engine runs: the llama graph and its variants.
    public static let supportedArchitectures: Set<String> = ["llama", "mistral", "granite", "qwen2", "qwen3", "qwen3moe", "gemma3"]
    /// Longest context read from a header (1 Mi positions; llama 3.1 has 128 Ki).
    public static let maximumContextLength = 1 << 20

    public enum Error: Swift.Error, Equatable, CustomStringConvertible {
        case unsupportedArchitecture(String?)
        case unsupported(String)
        case missingMetadata(String)
        case inconsistent(String)

        public var description: String {
            switch self {
            case .unsupportedArchitecture(let a):
                "architecture '\(a ?? "none")' is not supported; exo-peer runs \(LlamaConfig.supportedArchitectures.sorted().joined(separator: ", "))"
            case .unsupported(let what): "the model uses \(what), which this engine does not run"
            case .missingMetadata(let key): "model metadata lacks '\(key)'"
            case .inconsistent(let what): "model metadata is inconsistent: \(what)"
            }
        }
    }

    public init(gguf: GGUFFile) throws(Error) {
        guard let arch = gguf.architecture, Self.supportedArchitectures.contains(arch) else {
            throw .unsupportedArchitecture(gguf.architecture)
        }
        func int(_ key: String) throws(Error) -> Int {
            guard let v = gguf.metadata["\(arch).\(key)"]?.int, v > 0 else { throw .missingMetadata("\(arch).\(key)") }
            return v
        }
        architecture = arch
        ropeStyle = ["qwen2", "qwen3", "qwen3moe", "gemma3"].contains(arch) ? .neox : .normal
        layerCount = try int("block_count")
        embeddingLength = try int("embedding_length")
        feedForwardLength = arch == "qwen3moe" ? gguf.metadata["\(arch).feed_forward_length"]?.int ?? 0 : try int("feed_forward_length")
        headCount = try int("attention.head_count")
        kvHeadCount = gguf.metadata["\(arch).attention.head_count_kv"]?.int ?? headCount
        contextLength = try int("context_length")
        guard embeddingLength % headCount == 0 else { throw .inconsistent("embedding \(embeddingLength) not divisible by \(headCount) heads") }
        guard kvHeadCount > 0, headCount % kvHeadCount == 0 else { throw .inconsistent("\(headCount) heads not divisible by \(kvHeadCount) kv heads") }
        headDimension = gguf.metadata["\(arch).attention.key_length"]?.int ?? embeddingLength / headCount
        if let valueLength = gguf.metadata["\(arch).attention.value_length"]?.int, valueLength != headDimension {
            throw .unsupported("value heads of \(valueLength) beside key heads of \(headDimension)")
        }
        ropeDimension = gguf.metadata["\(arch).rope.dimension_count"]?.int ?? headDimension
        guard ropeDimension <= headDimension, ropeDimension % 2 == 0 else { throw .inconsistent("rope dimension \(ropeDimension)") }
        ropeBase = gguf.metadata["\(arch).rope.freq_base"]?.float ?? 10_000
        // As llama.cpp: absent type means linear; the factor under either of its key names, 0 for none.
        let scaling = gguf.metadata["\(arch).rope.scaling.type"]?.string ?? "linear"
        guard scaling == "linear" || scaling == "none" else {
            throw .unsupported("RoPE scaling '\(scaling)' (linear scaling and llama 3 frequency factors are supported)")
        }
        let factor = gguf.metadata["\(arch).rope.scaling.factor"]?.float ?? gguf.metadata["\(arch).rope.scale_linear"]?.float ?? 0
        guard factor.isFinite, factor >= 0 else { throw .inconsistent("RoPE scaling factor \(factor)") }
        ropeFrequencyScale = scaling == "linear" && factor != 0 ? 1 / factor : 1
        normEpsilon = gguf.metadata["\(arch).attention.layer_norm_rms_epsilon"]?.float ?? 1e-5
        guard let vocab = gguf.metadata["\(arch).vocab_size"]?.int ?? gguf.metadata["tokenizer.ggml.tokens"]?.array?.count ?? gguf.tensor(named: "token_embd.weight")?.rowCount
        else { throw .missingMetadata("\(arch).vocab_size") }
        vocabularySize = vocab
        // Absent or 0 means "not used", as llama.cpp reads them.
        func multiplier(_ key: String) throws(Error) -> Float? {
            guard let v = gguf.metadata["\(arch).\(key)"]?.float, v != 0 else { return nil }
            guard v.isFinite else { throw .inconsistent("\(arch).\(key) is \(v)") }
            return v
        }
        embeddingScale = try multiplier("embedding_scale") ?? 1
        residualScale = try multiplier("residual_scale") ?? 1
        logitScale = try multiplier("logit_scale") ?? 1
        attentionScale = try multiplier("attention.scale") ?? 1 / Float(headDimension).squareRoot()
        switch arch {
        case "qwen3":
            normalizesQueryAndKeyHeads = true
        case "qwen3moe":
            normalizesQueryAndKeyHeads = true
            experts = try Experts(gguf: gguf, architecture: arch, denseFeedForwardLength: feedForwardLength)
            feedForwardLength = experts!.feedForwardLength
        case "gemma3":
            try readGemma3(gguf)
        default:
            break
        }
        for (key, value) in [("layers", layerCount), ("embedding", embeddingLength), ("ffn", feedForwardLength), ("vocab", vocabularySize),
                             ("head", headDimension)] where value > 1 << 24 {
            throw .inconsistent("\(key) size \(value) is implausible")
        }
        guard headDimension > 0, ropeDimension > 0 else { throw .inconsistent("head dimension \(headDimension), rope dimension \(ropeDimension)") }
        // Caches are sized from it: a corrupt header must not make them allocate terabytes.
        guard contextLength <= Self.maximumContextLength else {
            throw .inconsistent("context length \(contextLength) is above the \(Self.maximumContextLength) this build supports")
        }
        guard embeddingLength % 32 == 0, feedForwardLength % 32 == 0 else { throw .inconsistent("dimensions must be multiples of 32") }
    }
}

extension LlamaConfig {
    /// Gemma 3 as llama.cpp's gemma3 graph runs it: the embedding scaled by √d (a Float, as
    /// `sqrtf(n_embd)`), q/k head norms, post-norms, GELU, the query scaled by 1/√headDimension
    /// (1/√(d / heads) for the 62-layer 27B), and sliding-window attention on all layers but every
    /// sixth unless the file gives the pattern, with a RoPE of its own (base 10,000, no scaling).
    fileprivate mutating func readGemma3(_ gguf: GGUFFile) throws(Error) {
        let arch = architecture
        normalizesQueryAndKeyHeads = true
        normalizesBlockOutputs = true
        feedForwardActivation = .gelu
        embeddingScale = Float(embeddingLength).squareRoot()
        let scaleDimension = layerCount == 62 ? embeddingLength / headCount : headDimension
        queryScale = 1 / Float(scaleDimension).squareRoot()
        attentionScale = 1
        if let cap = gguf.metadata["\(arch).final_logit_softcapping"]?.float, cap != 0 {
            guard cap.isFinite, cap > 0 else { throw .inconsistent("\(arch).final_logit_softcapping is \(cap)") }
            finalLogitSoftcap = cap
        }
        guard let window = gguf.metadata["\(arch).attention.sliding_window"]?.int, window > 0 else { return }
        var local: [Bool]
        let patternKey = "\(arch).attention.sliding_window_pattern"
        if let flags = gguf.metadata[patternKey]?.array {
            // One flag per layer: true for a sliding-window layer.
            let values = flags.compactMap(\.bool)
            guard flags.count == layerCount, values.count == layerCount else {
                throw .inconsistent("\(patternKey) has \(flags.count) entries for \(layerCount) layers")
            }
            local = values
        } else {
            // llama.cpp's rule: of every `pattern` layers, all but the last are local (0: all local).
            let pattern = gguf.metadata[patternKey]?.int ?? 6
            local = (0..<layerCount).map { pattern == 0 || $0 % pattern < pattern - 1 }
        }
        let localBase = gguf.metadata["\(arch).rope.freq_base_swa"]?.float ?? 10_000
        guard localBase.isFinite, localBase > 0 else { throw .inconsistent("\(arch).rope.freq_base_swa is \(localBase)") }
        slidingWindow = SlidingWindow(size: min(window, contextLength), localLayers: local, ropeBase: localBase)
    }
}

/// Sliding-window attention (Gemma 3's local layers).
public struct SlidingWindow: Sendable, Equatable {
    /// Positions a local layer's token sees: its own and the `size - 1` before it.
    public var size: Int
    /// Per layer: true for a local (sliding-window) layer.
    public var localLayers: [Bool]
    /// The local layers' RoPE base (their frequency scale is 1).
    public var ropeBase: Float

    public func isLocal(_ layer: Int) -> Bool { localLayers[layer] }
}

/// Mixture-of-experts FFNs: a router picks `used` of `count` experts per token; their outputs,
/// weighted by the router's softmax probabilities (renormalized over the chosen ones when
/// `normalizesWeights`, then times `weightsScale`), are summed.
public struct Experts: Sendable, Equatable {
    public var count: Int
    public var used: Int
    public var feedForwardLength: Int
    public var normalizesWeights: Bool
    public var weightsScale: Float

    init(count: Int, used: Int, feedForwardLength: Int, normalizesWeights: Bool, weightsScale: Float) {
        self.count = count
        self.used = used
        self.feedForwardLength = feedForwardLength
        self.normalizesWeights = normalizesWeights
        self.weightsScale = weightsScale
    }

    init(gguf: GGUFFile, architecture arch: String, denseFeedForwardLength: Int) throws(LlamaConfig.Error) {
        guard let count = gguf.metadata["\(arch).expert_count"]?.int, count > 0 else { throw .missingMetadata("\(arch).expert_count") }
        guard let used = gguf.metadata["\(arch).expert_used_count"]?.int, used > 0 else { throw .missingMetadata("\(arch).expert_used_count") }
        guard used <= count, count <= 4096 else { throw .inconsistent("\(used) of \(count) experts") }
        self.count = count
        self.used = used
        // As llama.cpp: the expert width, else the dense width shared among the experts used.
        feedForwardLength = gguf.metadata["\(arch).expert_feed_forward_length"]?.int ?? denseFeedForwardLength / used
        guard feedForwardLength > 0 else { throw .missingMetadata("\(arch).expert_feed_forward_length") }
        // llama.cpp's qwen3moe graph always renormalizes; a file that says otherwise is obeyed.
        normalizesWeights = gguf.metadata["\(arch).expert_weights_norm"]?.bool ?? true
        let scale = gguf.metadata["\(arch).expert_weights_scale"]?.float ?? 0
        guard scale.isFinite else { throw .inconsistent("\(arch).expert_weights_scale is \(scale)") }
        weightsScale = scale == 0 ? 1 : scale
        if let gating = gguf.metadata["\(arch).expert_gating_func"]?.int, gating != 1 {
            throw .unsupported("expert gating function \(gating) (softmax, 1, is supported)")
        }
    }
}

/// The FFN's gate activation.
public enum FeedForwardActivation: Sendable, Equatable {
    case silu
    /// GELU, tanh approximation, as ggml computes it (through its Float16 table).
    case gelu
}

/// How RoPE pairs a head's values (llama.cpp's rope types "normal" and "neox").
public enum RopeStyle: Sendable, Equatable {
    case normal
    case neox
}
