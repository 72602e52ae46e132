/// A model's tokenizer, read from its GGUF file's `tokenizer.ggml.*` metadata: byte-level BPE
/// (`gpt2`) or a SentencePiece-style vocabulary (`llama`), behind one interface.
public struct Tokenizer: Sendable {
    public enum Error: Swift.Error, Equatable, CustomStringConvertible {
        case missing(String)
        case unsupportedModel(String)
        case badTokenID(String)
        case countMismatch(key: String, entries: Int, tokens: Int)
        case wrongType(key: String, expected: String)
        public var description: String {
            switch self {
            case .badTokenID(let key): "tokenizer metadata '\(key)' is not a token id of the vocabulary (corrupt model file?)"
            case .missing(let key): "the model has no tokenizer metadata '\(key)'"
            case .unsupportedModel(let m):
                "tokenizer model '\(m)' is not supported (supported: 'gpt2', byte-level BPE, and 'llama', SentencePiece-style); use a model converted with one of them"
            case .countMismatch(let key, let entries, let tokens):
                "tokenizer metadata '\(key)' has \(entries) entries for \(tokens) tokens (corrupt model file?)"
            case .wrongType(let key, let expected): "tokenizer metadata '\(key)' is not \(expected) (corrupt model file?)"
            }
        }
    }

    /// llama.cpp's token types; values it does not know count as `undefined`, as in llama.cpp.
    enum TokenType: Int, Sendable { case undefined = 0, normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6 }

    /// The two algorithms; each turns text without special tokens into ids and ids back into bytes.
    enum Algorithm: Sendable {
        case byteLevelBPE(ByteLevelBPE)
        case sentencePiece(SentencePiece)
    }

    public let tokens: [String]
    let types: [TokenType]
    let algorithm: Algorithm
    let specials: SpecialTokens
    public let bosID: Int32?
    public let eosID: Int32
    /// Whether a prompt starts with the BOS token (see `withBOS`); `encode` never adds it.
    public let addBOS: Bool
    let endOfGeneration: Set<Int32>

    public init(gguf: GGUFFile) throws(Error) {
        let metadata = gguf.metadata
        let model = metadata["tokenizer.ggml.model"]?.string ?? "gpt2"
        guard model == "gpt2" || model == "llama" else { throw .unsupportedModel(model) }
        guard let tokens = metadata["tokenizer.ggml.tokens"]?.stringArray, !tokens.isEmpty else { throw .missing("tokenizer.ggml.tokens") }
        let types = try Self.numbers(metadata, "tokenizer.ggml.token_type", count: tokens.count) { $0.int }
            .map { $0.map { TokenType(rawValue: $0) ?? .undefined } } ?? Array(repeating: .normal, count: tokens.count)
        let bos: Int32?, eos: Int32?, addBOS: Bool, algorithm: Algorithm
        if model == "llama" {
            // llama.cpp's defaults for this vocabulary: <unk> 0, <s> 1, </s> 2, BOS added, space prefix.
            let scores = try Self.numbers(metadata, "tokenizer.ggml.scores", count: tokens.count) { $0.float }
            let unknown = try Self.tokenID(metadata, "tokenizer.ggml.unknown_token_id", count: tokens.count, default: 0) ?? 0
            bos = try Self.tokenID(metadata, "tokenizer.ggml.bos_token_id", count: tokens.count, default: 1)
            eos = try Self.tokenID(metadata, "tokenizer.ggml.eos_token_id", count: tokens.count, default: 2)
            addBOS = metadata["tokenizer.ggml.add_bos_token"]?.bool ?? true
            algorithm = .sentencePiece(SentencePiece(
                tokens: tokens, types: types, scores: scores ?? Array(repeating: 0, count: tokens.count), unknownID: unknown,
                addSpacePrefix: metadata["tokenizer.ggml.add_space_prefix"]?.bool ?? true
            ))
        } else {
            guard let merges = metadata["tokenizer.ggml.merges"]?.stringArray else { throw .missing("tokenizer.ggml.merges") }
            bos = try Self.tokenID(metadata, "tokenizer.ggml.bos_token_id", count: tokens.count, default: nil)
            eos = try Self.tokenID(metadata, "tokenizer.ggml.eos_token_id", count: tokens.count, default: 0)
            addBOS = metadata["tokenizer.ggml.add_bos_token"]?.bool ?? false
            algorithm = .byteLevelBPE(ByteLevelBPE(tokens: tokens, merges: merges, pre: metadata["tokenizer.ggml.pre"]?.string ?? "default"))
        }
        guard let eos else { throw .missing("tokenizer.ggml.eos_token_id") }
        if addBOS && bos == nil { throw .missing("tokenizer.ggml.bos_token_id") }
        self.init(tokens: tokens, types: types, algorithm: algorithm, bos: bos, eos: eos, addBOS: addBOS)
    }

    /// A token id from the metadata. Present, it must name a token of the vocabulary; absent, the
    /// default is used if the vocabulary has it (llama.cpp's rule for defaults).
    private static func tokenID(_ metadata: [String: GGUFValue], _ key: String, count: Int, default fallback: Int32?) throws(Error) -> Int32? {
        guard let value = metadata[key] else { return fallback.flatMap { Int($0) < count ? $0 : nil } }
        guard let raw = value.int, let id = Int32(exactly: raw), id >= 0, Int(id) < count else { throw .badTokenID(key) }
        return id
    }

    /// A numeric array with one entry per token, or nil when the key is absent.
    private static func numbers<T>(_ metadata: [String: GGUFValue], _ key: String, count: Int, _ convert: (GGUFValue) -> T?) throws(Error) -> [T]? {
        guard let value = metadata[key] else { return nil }
        guard let items = value.array else { throw .wrongType(key: key, expected: "an array") }
        guard items.count == count else { throw .countMismatch(key: key, entries: items.count, tokens: count) }
        var out: [T] = []
        out.reserveCapacity(count)
        for item in items {
            guard let number = convert(item) else { throw .wrongType(key: key, expected: "an array of numbers") }
            out.append(number)
        }
        return out
    }

    init(tokens: [String], types: [TokenType], algorithm: Algorithm, bos: Int32?, eos: Int32, addBOS: Bool) {
        self.tokens = tokens
        self.types = types
        self.algorithm = algorithm
        specials = SpecialTokens(tokens: tokens, types: types)
        bosID = bos
        eosID = eos
        self.addBOS = addBOS
        let eogNames: Set<String> = ["<|im_end|>", "<|eot_id|>", "<|end_of_text|>", "<|endoftext|>", "<end_of_turn>", "</s>", "<|end|>"]
        var eog: Set<Int32> = [eos]
        for (i, t) in tokens.enumerated() where eogNames.contains(t) && types[i] == .control { eog.insert(Int32(i)) }
        endOfGeneration = eog
    }

    public var vocabularySize: Int { tokens.count }

    public func isEndOfGeneration(_ id: Int32) -> Bool { endOfGeneration.contains(id) }

    public func isControl(_ id: Int32) -> Bool {
        id >= 0 && Int(id) < types.count && types[Int(id)] == .control
    }

    /// Token ids of `text`, without a BOS (llama.cpp's `add_special` false); with `parseSpecial`,
    /// control tokens written in the text (`<|im_start|>`) become their ids.
    public func encode(_ text: String, parseSpecial: Bool = false) -> [Int32] {
        let segments = specials.split(text, parseSpecial: parseSpecial)
        var out: [Int32] = []
        switch algorithm {
        case .byteLevelBPE(let bpe):
            for segment in segments {
                switch segment {
                case .special(let id): out.append(id)
                case .text(let t): bpe.append(t, into: &out)
                }
            }
        case .sentencePiece(let spm):
            spm.append(segments, into: &out)
        }
        return out
    }

    /// A prompt's ids with the BOS token in front when the model asks for one, unless they start
    /// with it already (a template that writes it, as Llama 3's does, gets one, not two).
    public func withBOS(_ ids: [Int32]) -> [Int32] {
        guard addBOS, let bosID, ids.first != bosID else { return ids }
        return [bosID] + ids
    }

    /// The bytes of a token as text would contain them (control tokens give their written form).
    public func piece(_ id: Int32) -> [UInt8] {
        guard id >= 0, Int(id) < tokens.count else { return [] }
        switch algorithm {
        case .byteLevelBPE: return ByteLevelBPE.piece(text: tokens[Int(id)], type: types[Int(id)])
        case .sentencePiece(let spm): return spm.piece(id)
        }
    }

    /// The text of `ids`, special tokens written out; a SentencePiece vocabulary drops the space
    /// its encoding put in front of the first token.
    public func decode(_ ids: [Int32]) -> String {
        switch algorithm {
        case .byteLevelBPE: String(decoding: ids.flatMap { piece($0) }, as: UTF8.self)
        case .sentencePiece(let spm): String(decoding: spm.decode(ids), as: UTF8.self)
        }
    }
}
