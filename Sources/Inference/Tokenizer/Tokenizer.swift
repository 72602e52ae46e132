/// Byte-level BPE tokenizer (gpt2 style) read from a GGUF file's `tokenizer.ggml.*` metadata.
public struct Tokenizer: Sendable {
    public enum Error: Swift.Error, Equatable, CustomStringConvertible {
        case missing(String)
        case unsupportedModel(String)
        case badTokenID(String)
        public var description: String {
            switch self {
            case .badTokenID(let key): "tokenizer metadata '\(key)' is not a token id (corrupt model file?)"
            case .missing(let key): "the model has no tokenizer metadata '\(key)'"
            case .unsupportedModel(let m): "tokenizer model '\(m)' is not supported (byte-level BPE 'gpt2' is)"
            }
        }
    }

    /// llama.cpp's token types.
    enum TokenType: Int { case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6 }

    public let tokens: [String]
    let types: [Int]
    let ids: [String: Int32]
    let mergeRanks: [String: Int]
    let preTokenizer: PreTokenizer
    /// Control and user-defined tokens, longest first, for finding them in text.
    let specials: [(text: String, id: Int32)]
    public let bosID: Int32?
    public let eosID: Int32
    public let addBOS: Bool
    let endOfGeneration: Set<Int32>

    public init(gguf: GGUFFile) throws(Error) {
        let model = gguf.metadata["tokenizer.ggml.model"]?.string ?? "gpt2"
        guard model == "gpt2" else { throw .unsupportedModel(model) }
        guard let tokens = gguf.metadata["tokenizer.ggml.tokens"]?.stringArray, !tokens.isEmpty else { throw .missing("tokenizer.ggml.tokens") }
        guard let merges = gguf.metadata["tokenizer.ggml.merges"]?.stringArray else { throw .missing("tokenizer.ggml.merges") }
        let types = gguf.metadata["tokenizer.ggml.token_type"]?.intArray ?? []
        self.init(
            tokens: tokens, types: types.count == tokens.count ? types : Array(repeating: 1, count: tokens.count), merges: merges,
            pre: gguf.metadata["tokenizer.ggml.pre"]?.string ?? "default",
            bos: try Self.tokenID(gguf, "tokenizer.ggml.bos_token_id"),
            eos: try Self.tokenID(gguf, "tokenizer.ggml.eos_token_id") ?? 0,
            addBOS: gguf.metadata["tokenizer.ggml.add_bos_token"]?.bool ?? false
        )
    }

    /// A token id from the metadata; one no Int32 holds is a corrupt header, not a trap.
    private static func tokenID(_ gguf: GGUFFile, _ key: String) throws(Error) -> Int32? {
        guard let value = gguf.metadata[key]?.int else { return nil }
        guard let id = Int32(exactly: value) else { throw .badTokenID(key) }
        return id
    }

    init(tokens: [String], types: [Int], merges: [String], pre: String, bos: Int32?, eos: Int32, addBOS: Bool) {
        self.tokens = tokens
        self.types = types
        var ids: [String: Int32] = [:]
        ids.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() where ids[t] == nil { ids[t] = Int32(i) }
        self.ids = ids
        var ranks: [String: Int] = [:]
        ranks.reserveCapacity(merges.count)
        for (rank, merge) in merges.enumerated() where ranks[merge] == nil { ranks[merge] = rank }
        mergeRanks = ranks
        preTokenizer = PreTokenizer(name: pre)
        specials = tokens.enumerated()
            .filter { [TokenType.control.rawValue, TokenType.userDefined.rawValue].contains(types[$0.offset]) && !$0.element.isEmpty }
            .map { (text: $0.element, id: Int32($0.offset)) }
            .sorted { $0.text.utf8.count > $1.text.utf8.count }
        bosID = bos
        eosID = eos
        self.addBOS = addBOS
        let eogNames: Set<String> = ["<|im_end|>", "<|eot_id|>", "<|end_of_text|>", "<|endoftext|>", "<end_of_turn>", "</s>", "<|end|>"]
        var eog: Set<Int32> = [eos]
        for (i, t) in tokens.enumerated() where eogNames.contains(t) && types[i] == TokenType.control.rawValue { eog.insert(Int32(i)) }
        endOfGeneration = eog
    }

    public var vocabularySize: Int { tokens.count }

    public func isEndOfGeneration(_ id: Int32) -> Bool { endOfGeneration.contains(id) }

    public func isControl(_ id: Int32) -> Bool {
        id >= 0 && Int(id) < types.count && types[Int(id)] == TokenType.control.rawValue
    }

    /// Token ids of `text`; with `parseSpecial`, control tokens written in the text (`<|im_start|>`) become their ids.
    public func encode(_ text: String, parseSpecial: Bool = false) -> [Int32] {
        var out: [Int32] = []
        if addBOS, let bosID { out.append(bosID) }
        for segment in parseSpecial ? splitOnSpecials(text) : [.text(text)] {
            switch segment {
            case .special(let id): out.append(id)
            case .text(let t):
                for piece in preTokenizer.split(t) { appendBPE(String(piece), into: &out) }
            }
        }
        return out
    }

    /// The bytes of a token as text would contain them (control tokens give their written form).
    public func piece(_ id: Int32) -> [UInt8] {
        guard id >= 0, Int(id) < tokens.count else { return [] }
        let text = tokens[Int(id)]
        switch TokenType(rawValue: types[Int(id)]) {
        case .control, .userDefined: return Array(text.utf8)
        default: return ByteLevel.decode(text)
        }
    }

    public func decode(_ ids: [Int32]) -> String {
        String(decoding: ids.flatMap { piece($0) }, as: UTF8.self)
    }

    enum Segment { case text(String), special(Int32) }

    func splitOnSpecials(_ text: String) -> [Segment] {
        var segments: [Segment] = []
        var pending = ""
        var rest = Substring(text)
        outer: while !rest.isEmpty {
            if rest.first == "<" || rest.first == "[" {
                for special in specials where rest.hasPrefix(special.text) {
                    if !pending.isEmpty { segments.append(.text(pending)); pending = "" }
                    segments.append(.special(special.id))
                    rest = rest.dropFirst(special.text.count)
                    continue outer
                }
            }
            pending.append(rest.removeFirst())
        }
        if !pending.isEmpty { segments.append(.text(pending)) }
        return segments
    }

    /// Byte-level BPE of one pre-tokenized piece: merge the adjacent pair of lowest rank until none is left.
    private func appendBPE(_ piece: String, into out: inout [Int32]) {
        let characters = ByteLevel.encode(piece.utf8)
        let whole = String(characters)
        if let id = ids[whole] {
            out.append(id)
            return
        }
        var symbols = characters.map { String($0) }
        while symbols.count > 1 {
            var best: (rank: Int, index: Int)? = nil
            for k in 0..<(symbols.count - 1) {
                if let rank = mergeRanks[symbols[k] + " " + symbols[k + 1]], rank < (best?.rank ?? .max) {
                    best = (rank, k)
                }
            }
            guard let (_, k) = best else { break }
            symbols[k] += symbols[k + 1]
            symbols.remove(at: k + 1)
        }
        for symbol in symbols {
            if let id = ids[symbol] {
                out.append(id)
            } else {
                // Not in the vocabulary (should not happen for byte-level BPE): fall back to single characters.
                for c in symbol { if let id = ids[String(c)] { out.append(id) } }
            }
        }
    }
}

/// Turns tokens into text as they arrive, holding back bytes of a UTF-8 sequence that is not yet
/// complete, so a stream never shows a broken character.
public struct StreamingDetokenizer: Sendable {
    let tokenizer: Tokenizer
    private var pending: [UInt8] = []

    public init(tokenizer: Tokenizer) { self.tokenizer = tokenizer }

    public mutating func append(_ id: Int32) -> String {
        pending += tokenizer.piece(id)
        let complete = Self.completePrefixLength(pending)
        guard complete > 0 else { return "" }
        let text = String(decoding: pending[..<complete], as: UTF8.self)
        pending.removeFirst(complete)
        return text
    }

    /// Whatever is held back, with invalid bytes replaced.
    public mutating func flush() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }

    /// Length of the longest prefix that does not end inside a multi-byte sequence.
    static func completePrefixLength(_ bytes: [UInt8]) -> Int {
        var i = bytes.count
        var back = 0
        while i > 0 && back < 4 {
            let b = bytes[i - 1]
            if b & 0xC0 == 0x80 { i -= 1; back += 1; continue }
            if b & 0x80 == 0 { return bytes.count }
            let needed = b & 0xE0 == 0xC0 ? 2 : b & 0xF0 == 0xE0 ? 3 : b & 0xF8 == 0xF0 ? 4 : 1
            return needed <= back + 1 ? bytes.count : i - 1
        }
        return bytes.count
    }
}
