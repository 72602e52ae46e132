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

    public var kvDimension: Int { kvHeadCount * headDimension }

    /// Architectures whose tensors and math are the llama ones.
    public static let supportedArchitectures: Set<String> = ["llama", "mistral", "granite", "qwen2"]
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
                "architecture '\(a ?? "none")' is not supported; exo-peer runs llama-family models (\(LlamaConfig.supportedArchitectures.sorted().joined(separator: ", ")))"
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
        ropeStyle = arch == "qwen2" ? .neox : .normal
        layerCount = try int("block_count")
        embeddingLength = try int("embedding_length")
        feedForwardLength = try int("feed_forward_length")
        headCount = try int("attention.head_count")
        kvHeadCount = gguf.metadata["\(arch).attention.head_count_kv"]?.int ?? headCount
        contextLength = try int("context_length")
        guard embeddingLength % headCount == 0 else { throw .inconsistent("embedding \(embeddingLength) not divisible by \(headCount) heads") }
        guard kvHeadCount > 0, headCount % kvHeadCount == 0 else { throw .inconsistent("\(headCount) heads not divisible by \(kvHeadCount) kv heads") }
        headDimension = gguf.metadata["\(arch).attention.key_length"]?.int ?? embeddingLength / headCount
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

/// How RoPE pairs a head's values (llama.cpp's rope types "normal" and "neox").
public enum RopeStyle: Sendable, Equatable {
    case normal
    case neox
}
