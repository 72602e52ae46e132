/// SentencePiece-style vocabulary (`tokenizer.ggml.model` "llama": Llama 1 and 2, TinyLlama, Mistral),
/// tokenized as llama.cpp's `llm_tokenizer_spm` does: spaces become ▁ (U+2581), the text is cut into
/// Unicode scalars, and the adjacent pair whose concatenation is the vocabulary token of highest
/// score merges first (ties: the leftmost). There are no merge rules; the scores are the ranking.
/// A character that ends up in no token is written as byte tokens `<0xXX>`, one per UTF-8 byte.
struct SentencePiece: Sendable {
    /// Token ids by their UTF-8 bytes: a byte key, because Swift's `String` equality would make
    /// canonically equivalent texts ("é" and "e" + U+0301) one key where llama.cpp has two.
    private let ids: [[UInt8]: Int32]
    private let scores: [Float]
    /// The id of `<0xXX>` for each byte value, where the vocabulary has it.
    private let byteTokens: [Int32?]
    private let unknownID: Int32
    /// Encoding puts a space before text that starts the input or follows a special token; decoding
    /// takes one off the first token.
    let addSpacePrefix: Bool
    /// What each token decodes to.
    private let pieces: [[UInt8]]

    private static let escapedSpace: [UInt8] = Array("\u{2581}".utf8)

    init(tokens: [String], types: [Tokenizer.TokenType], scores: [Float], unknownID: Int32, addSpacePrefix: Bool) {
        var ids: [[UInt8]: Int32] = [:]
        ids.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() {
            let key = Array(t.utf8)
            if ids[key] == nil { ids[key] = Int32(i) }
        }
        self.ids = ids
        self.scores = scores
        self.unknownID = unknownID
        self.addSpacePrefix = addSpacePrefix
        // llama.cpp also tries the bare byte as a one-byte token when `<0xXX>` is missing. No token can be
        // a lone byte of 0x80 or more (GGUF strings are valid UTF-8), and an ASCII character that is a
        // token never falls back, so that second try never finds anything.
        let hex = Array("0123456789ABCDEF")
        byteTokens = (0..<256).map { b in ids[Array("<0x\(hex[b >> 4])\(hex[b & 15])>".utf8)] }
        pieces = zip(tokens, types).map { Self.decodedPiece(text: $0, type: $1) }
    }

    /// What a token decodes to, as llama.cpp's `token_to_piece` with special tokens rendered.
    private static func decodedPiece(text: String, type: Tokenizer.TokenType) -> [UInt8] {
        switch type {
        case .normal: return unescapingSpaces(Array(text.utf8))
        case .byte: return byteValue(text).map { [$0] } ?? Array(text.utf8)
        case .control, .unknown, .userDefined: return Array(text.utf8)
        case .unused, .undefined: return []
        }
    }

    /// The byte a `<0xXX>` token stands for.
    private static func byteValue(_ text: String) -> UInt8? {
        let bytes = Array(text.utf8)
        guard bytes.count == 6, bytes.starts(with: Array("<0x".utf8)), bytes[5] == UInt8(ascii: ">") else { return nil }
        return UInt8(String(decoding: bytes[3..<5], as: UTF8.self), radix: 16)
    }

    private static func unescapingSpaces(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if bytes[i] == escapedSpace[0], bytes[i...].starts(with: escapedSpace) {
                out.append(UInt8(ascii: " "))
                i += escapedSpace.count
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return out
    }

    func piece(_ id: Int32) -> [UInt8] {
        id >= 0 && Int(id) < pieces.count ? pieces[Int(id)] : []
    }

    /// llama.cpp's detokenize (special tokens rendered, none removed): the first token loses one
    /// leading space when the vocabulary adds a space prefix. Only the first: when that is a BOS,
    /// the space of the token after it stays.
    func decode(_ ids: [Int32]) -> [UInt8] {
        var out: [UInt8] = []
        for (k, id) in ids.enumerated() {
            let piece = piece(id)
            if k == 0, addSpacePrefix, piece.first == UInt8(ascii: " ") {
                out += piece.dropFirst()
            } else {
                out += piece
            }
        }
        return out
    }

    /// Appends the tokens of text already cut at its special tokens.
    func append(_ segments: [SpecialTokens.Segment], into out: inout [Int32]) {
        var afterSpecial = true
        for segment in segments {
            switch segment {
            case .special(let id):
                out.append(id)
                afterSpecial = true
            case .text(let text):
                var bytes: [UInt8] = addSpacePrefix && afterSpecial ? Self.escapedSpace : []
                for b in text.utf8 {
                    if b == UInt8(ascii: " ") { bytes += Self.escapedSpace } else { bytes.append(b) }
                }
                appendMerged(bytes, into: &out)
                afterSpecial = false
            }
        }
    }

    /// A symbol is a run of the text's bytes; merged-away symbols keep their slot with `count` 0.
    private struct Symbol {
        var start: Int
        var count: Int
        var prev: Int
        var next: Int
    }

    private struct Bigram {
        let left: Int
        let right: Int
        let score: Float
        /// Bytes of the pair when it was queued: a pair whose sides have changed since is stale.
        let size: Int

        /// Pops first: higher score, then further left.
        func outranks(_ other: Bigram) -> Bool {
            score > other.score || (score == other.score && left < other.left)
        }
    }

    /// The merge loop over one stretch of escaped text (valid UTF-8).
    private func appendMerged(_ bytes: [UInt8], into out: inout [Int32]) {
        var symbols: [Symbol] = []
        var offset = 0
        while offset < bytes.count {
            let count = min(Self.scalarLength(leadByte: bytes[offset]), bytes.count - offset)
            symbols.append(Symbol(start: offset, count: count, prev: symbols.count - 1, next: -1))
            offset += count
        }
        guard !symbols.isEmpty else { return }
        for i in 0..<(symbols.count - 1) { symbols[i].next = i + 1 }

        var queue = BigramQueue()
        func queuePair(_ left: Int, _ right: Int) {
            guard left >= 0, right >= 0 else { return }
            let start = symbols[left].start
            let size = symbols[left].count + symbols[right].count
            guard let id = ids[Array(bytes[start..<(start + size)])] else { return }
            queue.push(Bigram(left: left, right: right, score: Int(id) < scores.count ? scores[Int(id)] : 0, size: size))
        }
        for i in 1..<symbols.count { queuePair(i - 1, i) }

        while let pair = queue.pop() {
            let left = symbols[pair.left], right = symbols[pair.right]
            guard left.count > 0, right.count > 0, left.count + right.count == pair.size else { continue }
            symbols[pair.left].count += right.count
            symbols[pair.right].count = 0
            symbols[pair.left].next = right.next
            if right.next >= 0 { symbols[right.next].prev = pair.left }
            queuePair(left.prev, pair.left)
            queuePair(pair.left, right.next)
        }

        // Symbol 0 is never merged into a left neighbour, so the chain starts there. A symbol that
        // merged is a token; one that did not is a single character (llama.cpp's re-segmentation
        // of merged symbols never finds anything to do).
        var i = 0
        while i >= 0 {
            let symbol = symbols[i]
            let text = Array(bytes[symbol.start..<(symbol.start + symbol.count)])
            if let id = ids[text] {
                out.append(id)
            } else {
                let byteIDs = text.compactMap { byteTokens[Int($0)] }
                // Without byte tokens, the whole character is unknown, as SentencePiece has it.
                if byteIDs.count == text.count { out += byteIDs } else { out.append(unknownID) }
            }
            i = symbol.next
        }
    }

    private static func scalarLength(leadByte b: UInt8) -> Int {
        b < 0xC0 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4
    }

    /// A binary max-heap of candidate merges.
    private struct BigramQueue {
        private var heap: [Bigram] = []

        mutating func push(_ bigram: Bigram) {
            heap.append(bigram)
            var child = heap.count - 1
            while child > 0 {
                let parent = (child - 1) / 2
                guard heap[child].outranks(heap[parent]) else { break }
                heap.swapAt(child, parent)
                child = parent
            }
        }

        mutating func pop() -> Bigram? {
            guard let top = heap.first else { return nil }
            let last = heap.removeLast()
            guard !heap.isEmpty else { return top }
            heap[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var best = parent
                if left < heap.count, heap[left].outranks(heap[best]) { best = left }
                if right < heap.count, heap[right].outranks(heap[best]) { best = right }
                guard best != parent else { return top }
                heap.swapAt(parent, best)
                parent = best
            }
        }
    }
}
