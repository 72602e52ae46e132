/// Byte-level BPE (`tokenizer.ggml.model` "gpt2"): text is pre-tokenized, its bytes mapped to
/// printable characters, and adjacent symbols merged by the rank of their pair in the merge list.
struct ByteLevelBPE: Sendable {
    let ids: [String: Int32]
    let mergeRanks: [String: Int]
    let preTokenizer: PreTokenizer

    init(tokens: [String], merges: [String], pre: String) {
        var ids: [String: Int32] = [:]
        ids.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() where ids[t] == nil { ids[t] = Int32(i) }
        self.ids = ids
        var ranks: [String: Int] = [:]
        ranks.reserveCapacity(merges.count)
        for (rank, merge) in merges.enumerated() where ranks[merge] == nil { ranks[merge] = rank }
        mergeRanks = ranks
        preTokenizer = PreTokenizer(name: pre)
    }

    /// The bytes of a token as text would contain them (control and user-defined tokens give their written form).
    static func piece(text: String, type: Tokenizer.TokenType) -> [UInt8] {
        switch type {
        case .control, .userDefined: Array(text.utf8)
        default: ByteLevel.decode(text)
        }
    }

    /// Appends the tokens of a stretch of text that holds no special token.
    func append(_ text: String, into out: inout [Int32]) {
        for piece in preTokenizer.split(text) { appendMerged(String(piece), into: &out) }
    }

    /// One pre-tokenized piece: merge the adjacent pair of lowest rank until none is left.
    private func appendMerged(_ piece: String, into out: inout [Int32]) {
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
