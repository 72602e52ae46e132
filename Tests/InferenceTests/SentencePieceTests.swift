import Testing
@testable import Inference

/// The SentencePiece-style (`llama`) tokenizer on made-up vocabularies written as GGUF metadata.
/// Expected ids are worked out by hand from llama.cpp's `llm_tokenizer_spm`: the text gets ▁ for
/// every space (and one in front when the space prefix applies), is cut into characters, and the
/// adjacent pair whose concatenation is a token of highest score merges first (ties: leftmost),
/// with the pairs next to each merge re-examined; what is left that is no token becomes byte tokens.
@Suite struct SentencePieceTests {
    /// Makes a GGUF file of a `llama` vocabulary and reads its tokenizer back.
    struct Vocabulary {
        var entries: [Entry]
        var extra: [(String, GGUFBuilder.Value)] = []

        func metadata() -> [(String, GGUFBuilder.Value)] {
            [
                ("tokenizer.ggml.model", .string("llama")),
                ("tokenizer.ggml.tokens", .strings(entries.map(\.text))),
                ("tokenizer.ggml.scores", .float32s(entries.map(\.score))),
                ("tokenizer.ggml.token_type", .int32s(entries.map(\.type))),
            ]
        }

        func tokenizer(replacing replaced: [(String, GGUFBuilder.Value?)] = []) throws -> Tokenizer {
            var metadata = metadata() + extra
            for (key, value) in replaced {
                metadata.removeAll { $0.0 == key }
                if let value { metadata.append((key, value)) }
            }
            return try Tokenizer(gguf: GGUFBuilder(metadata: metadata).file())
        }
    }

    static let normal: Int32 = 1, unknown: Int32 = 2, control: Int32 = 3, userDefined: Int32 = 4, unused: Int32 = 5, byte: Int32 = 6

    typealias Entry = (text: String, type: Int32, score: Float)

    /// Laid out as Llama's is: <unk> <s> </s>, then the 256 byte tokens, so `<0xXX>` is id 3 + 0xXX.
    static let main: Vocabulary = {
        let digits = Array("0123456789ABCDEF")
        var entries: [Entry] = [("<unk>", unknown, 0), ("<s>", control, 0), ("</s>", control, 0)]
        for b in 0..<256 { entries.append(("<0x\(digits[b >> 4])\(digits[b & 15])>", byte, 0)) }
        let words: [Entry] = [
            ("▁", normal, -10),        // 259
            ("a", normal, -10),        // 260
            ("b", normal, -10),        // 261
            ("c", normal, -10),        // 262
            ("ab", normal, -2),        // 263
            ("bc", normal, -1),        // 264
            ("▁a", normal, -3),        // 265
            ("▁b", normal, -4),        // 266
            ("<ctl>", control, 0),     // 267
            ("<usr>", userDefined, 0), // 268
            ("é", normal, -10),        // 269
            ("<unused0>", unused, 0),  // 270
        ]
        return Vocabulary(entries: entries + words)
    }()
    static let space: Int32 = 259, a: Int32 = 260, b: Int32 = 261, c: Int32 = 262, bc: Int32 = 264
    static let spaceA: Int32 = 265, spaceB: Int32 = 266, ctl: Int32 = 267, usr: Int32 = 268, eAcute: Int32 = 269, unusedToken: Int32 = 270
    static func byteID(_ b: UInt8) -> Int32 { 3 + Int32(b) }

    /// No byte tokens and no space prefix, for merge order and the unknown-token fallback.
    static let merges: Vocabulary = {
        let entries: [Entry] = [
            ("<unk>", unknown, 0), ("<s>", control, 0), ("</s>", control, 0),
            ("a", normal, -10), ("b", normal, -10), ("c", normal, -10), ("d", normal, -10),  // 3 4 5 6
            ("ab", normal, -3), ("bc", normal, -1), ("cd", normal, -2), ("abcd", normal, -5),  // 7 8 9 10
            ("aa", normal, -1), ("cab", normal, -4),  // 11 12
        ]
        return Vocabulary(entries: entries, extra: [("tokenizer.ggml.add_space_prefix", .bool(false))])
    }()

    // MARK: merge order

    @Test(arguments: [
        // "abc": pairs ab (-3) and bc (-1); bc is the best, then a+bc = "abc" is no token and ab is stale.
        // Greedy longest match from the left would give ab, c.
        ("abc", [3, 8]),
        // "abcd": pairs ab -3, bc -1, cd -2. bc merges first; "abc" and "bcd" are no tokens; cd and ab are stale.
        // So a, bc, d, although the whole "abcd" is a token (greedy longest match would take it).
        ("abcd", [3, 8, 6]),
        // "aaa": two aa pairs of equal score; the leftmost merges, then "aaa" is no token: aa, a (not a, aa).
        ("aaa", [11, 3]),
        // "cab": "ca" is no token, ab merges, and the new pair c+ab = "cab" is a token that merges in turn.
        ("cab", [12]),
    ] as [(String, [Int32])])
    func pairsMergeByScoreNotByLength(text: String, expected: [Int32]) throws {
        #expect(try Self.merges.tokenizer().encode(text) == expected)
    }

    /// The merge loop (a priority queue with stale entries, as llama.cpp's) against the plain
    /// definition: merge the best-scoring adjacent pair, leftmost on ties, until none is a token.
    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func mergesAgreeWithTheNaiveDefinitionOnRandomVocabularies(seed: UInt64) throws {
        var rng = SeededGenerator(seed: seed)
        let alphabet = ["a", "b", "c", "d"]
        func randomText(_ length: Int) -> String { (0..<length).map { _ in alphabet.randomElement(using: &rng)! }.joined() }
        var scores: [String: Float] = [:]
        for _ in 0..<40 { scores[randomText(Int.random(in: 2...4, using: &rng))] = Float(Int.random(in: -4 ... -1, using: &rng)) }
        for letter in alphabet { scores[letter] = -10 }
        var entries: [Entry] = [("<unk>", Self.unknown, 0), ("<s>", Self.control, 0), ("</s>", Self.control, 0)]
        for (text, score) in scores.sorted(by: { $0.key < $1.key }) { entries.append((text, Self.normal, score)) }
        let vocabulary = Vocabulary(entries: entries, extra: [("tokenizer.ggml.add_space_prefix", .bool(false))])
        let tokenizer = try vocabulary.tokenizer()

        func naive(_ text: String) -> [String] {
            var symbols = text.map(String.init)
            while symbols.count > 1 {
                var best: (score: Float, at: Int)?
                for k in 0..<(symbols.count - 1) {
                    if let s = scores[symbols[k] + symbols[k + 1]], s > best?.score ?? -.infinity { best = (s, k) }
                }
                guard let (_, k) = best else { break }
                symbols[k] += symbols[k + 1]
                symbols.remove(at: k + 1)
            }
            return symbols
        }
        for _ in 0..<300 {
            let text = randomText(Int.random(in: 1...24, using: &rng))
            #expect(tokenizer.encode(text).map { tokenizer.tokens[Int($0)] } == naive(text), "\(text)")
        }
    }

    // MARK: byte fallback and the unknown token

    @Test func charactersWithoutATokenBecomeOneByteTokenPerUTF8Byte() throws {
        let tokenizer = try Self.main.tokenizer()
        // "▁a€": ▁a merges (-3); "▁a€" is no token; € (E2 82 AC) is no token, so three byte tokens.
        let ids = tokenizer.encode("a€")
        #expect(ids == [Self.spaceA, Self.byteID(0xE2), Self.byteID(0x82), Self.byteID(0xAC)])
        #expect(tokenizer.decode(ids) == "a€")
        // A character the vocabulary has is one symbol, not bytes: "▁é" is no token, so ▁, é.
        #expect(tokenizer.encode("é") == [Self.space, Self.eAcute])
        #expect(tokenizer.decode([Self.space, Self.eAcute]) == "é")
        // A byte token decodes to its raw byte.
        #expect(tokenizer.piece(Self.byteID(0xE2)) == [0xE2])
        #expect(tokenizer.piece(Self.byteID(0x41)) == [0x41])
    }

    @Test func withoutByteTokensAnUnknownCharacterIsOneUnknownToken() throws {
        let tokenizer = try Self.merges.tokenizer()
        // No pair around x or € is a token; neither has a token or byte tokens: one <unk> (0) per character.
        #expect(tokenizer.encode("axb") == [3, 0, 4])
        #expect(tokenizer.encode("a€b") == [3, 0, 4])
        #expect(try Self.merges.tokenizer(replacing: [("tokenizer.ggml.unknown_token_id", .uint32(2))]).encode("x") == [2])
    }

    // MARK: spaces

    @Test func aSpaceGoesInFrontOfTheTextAndEverySpaceBecomesTheMarker() throws {
        let tokenizer = try Self.main.tokenizer()
        // "▁a▁b": ▁a (-3) merges, then ▁b (-4); "a▁" and "▁a▁b" are no tokens.
        #expect(tokenizer.encode("a b") == [Self.spaceA, Self.spaceB])
        // "▁▁a": "▁▁" is no token, ▁a is: ▁, ▁a.
        #expect(tokenizer.encode(" a") == [Self.space, Self.spaceA])
        #expect(tokenizer.encode("") == [])
        // Decoding takes the one space encoding added off the first token, and only that one.
        #expect(tokenizer.decode([Self.spaceA, Self.spaceB]) == "a b")
        #expect(tokenizer.decode([Self.space, Self.spaceA]) == " a")
        // The first token takes that turn even when it is BOS: llama.cpp's detokenize keeps " a" here.
        #expect(tokenizer.decode([1, Self.spaceA]) == "<s> a")
        // Pieces keep their space: a generated ▁a streams as " a", as llama.cpp's token_to_piece gives it.
        #expect(tokenizer.piece(Self.spaceA) == Array(" a".utf8))
    }

    @Test func withoutTheSpacePrefixOnlyWrittenSpacesBecomeMarkers() throws {
        let tokenizer = try Self.main.tokenizer(replacing: [("tokenizer.ggml.add_space_prefix", .bool(false))])
        // "a▁b": "a▁" is no token, ▁b is.
        #expect(tokenizer.encode("a b") == [Self.a, Self.spaceB])
        #expect(tokenizer.encode(" a") == [Self.spaceA])
        #expect(tokenizer.decode([Self.spaceA]) == " a")
        #expect(tokenizer.decode([Self.a, Self.spaceB]) == "a b")
    }

    // MARK: special tokens

    @Test func specialTokensInTextAndTheSpaceAfterThem() throws {
        let tokenizer = try Self.main.tokenizer()
        // Text after a special token starts again with a space prefix: "▁a", <ctl>, "▁b".
        #expect(tokenizer.encode("a<ctl>b", parseSpecial: true) == [Self.spaceA, Self.ctl, Self.spaceB])
        #expect(tokenizer.encode("<ctl>a", parseSpecial: true) == [Self.ctl, Self.spaceA])
        // " a" after it becomes "▁▁a": ▁, ▁a (llama.cpp does the same).
        #expect(tokenizer.encode("<ctl> a", parseSpecial: true) == [Self.ctl, Self.space, Self.spaceA])
        #expect(tokenizer.encode("<unk>", parseSpecial: true) == [0])
        // Not parsed, <ctl> is text: "▁<ctl>" has no pair that is a token; < t l > fall back to bytes.
        #expect(tokenizer.encode("<ctl>") == [Self.space, Self.byteID(0x3C), Self.c, Self.byteID(0x74), Self.byteID(0x6C), Self.byteID(0x3E)])
        // User-defined tokens are split out even then (llama.cpp's partition does), with the prefix after them.
        #expect(tokenizer.encode("a<usr>b") == [Self.spaceA, Self.usr, Self.spaceB])
        // Control tokens decode to their written form (the stream skips them); unused ones to nothing.
        #expect(tokenizer.piece(Self.ctl) == Array("<ctl>".utf8))
        #expect(tokenizer.decode([Self.spaceA, Self.unusedToken, Self.spaceB]) == "a b")
    }

    @Test func metadataDefaultsAreLlamaCpps() throws {
        let tokenizer = try Self.main.tokenizer()
        #expect(tokenizer.bosID == 1 && tokenizer.eosID == 2 && tokenizer.addBOS)
        #expect(tokenizer.isControl(1) && tokenizer.isControl(Self.ctl) && !tokenizer.isControl(Self.spaceA))
        #expect(tokenizer.isEndOfGeneration(2) && !tokenizer.isEndOfGeneration(1))
        // encode never adds BOS; a prompt gets exactly one.
        #expect(tokenizer.withBOS(tokenizer.encode("a")) == [1, Self.spaceA])
        #expect(tokenizer.withBOS(tokenizer.encode("<s>a", parseSpecial: true)) == [1, Self.spaceA])
        let noBOS = try Self.main.tokenizer(replacing: [("tokenizer.ggml.add_bos_token", .bool(false)), ("tokenizer.ggml.eos_token_id", .uint32(UInt32(Self.ctl)))])
        #expect(!noBOS.addBOS && noBOS.withBOS([Self.spaceA]) == [Self.spaceA])
        #expect(noBOS.eosID == Self.ctl && noBOS.isEndOfGeneration(Self.ctl))
    }

    // MARK: streaming

    @Test func aCharacterSplitOverByteTokensStreamsWhole() throws {
        let tokenizer = try Self.main.tokenizer()
        let ids = [1, Self.spaceA, Self.byteID(0xE2), Self.byteID(0x82), Self.byteID(0xAC), Self.spaceB, 2]
        var detokenizer = StreamingDetokenizer(tokenizer: tokenizer)
        #expect(detokenizer.append(Self.spaceA) == " a")
        #expect(detokenizer.append(Self.byteID(0xE2)) == "")
        #expect(detokenizer.append(Self.byteID(0x82)) == "")
        #expect(detokenizer.append(Self.byteID(0xAC)) == "€")
        #expect(detokenizer.flush() == "")
        var stream = TokenTextStream(tokenizer: tokenizer, stop: [])
        var chunks = ids.map { stream.append($0) }
        chunks.append(stream.finish())
        #expect(chunks == ["", " a", "", "", "€", " b", "", ""])
    }

    // MARK: malformed metadata

    @Test func malformedMetadataIsATypedError() throws {
        let v = Self.main
        let count = v.entries.count
        #expect(throws: Tokenizer.Error.countMismatch(key: "tokenizer.ggml.scores", entries: count - 1, tokens: count)) {
            try v.tokenizer(replacing: [("tokenizer.ggml.scores", .float32s(v.entries.dropLast().map(\.score)))])
        }
        #expect(throws: Tokenizer.Error.countMismatch(key: "tokenizer.ggml.token_type", entries: count + 1, tokens: count)) {
            try v.tokenizer(replacing: [("tokenizer.ggml.token_type", .int32s(v.entries.map(\.type) + [1]))])
        }
        #expect(throws: Tokenizer.Error.wrongType(key: "tokenizer.ggml.scores", expected: "an array of numbers")) {
            try v.tokenizer(replacing: [("tokenizer.ggml.scores", .strings(v.entries.map(\.text)))])
        }
        #expect(throws: Tokenizer.Error.missing("tokenizer.ggml.tokens")) { try v.tokenizer(replacing: [("tokenizer.ggml.tokens", nil)]) }
        for key in ["tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id"] {
            #expect(throws: Tokenizer.Error.badTokenID(key)) { try v.tokenizer(replacing: [(key, .uint32(UInt32(count)))]) }
        }
        // Two tokens and no eos id: the default (2) is not in the vocabulary.
        #expect(throws: Tokenizer.Error.missing("tokenizer.ggml.eos_token_id")) {
            try Vocabulary(entries: [("<unk>", Self.unknown, 0), ("<s>", Self.control, 0)]).tokenizer()
        }
        let unsupported = #expect(throws: Tokenizer.Error.unsupportedModel("bert")) { try v.tokenizer(replacing: [("tokenizer.ggml.model", .string("bert"))]) }
        #expect(unsupported.map { "\($0)".contains("'gpt2'") && "\($0)".contains("'llama'") } == true)
        // Scores are optional (all 0 then, as in llama.cpp): merges then go left to right.
        let unscored = try Self.merges.tokenizer(replacing: [("tokenizer.ggml.scores", nil)])
        #expect(unscored.encode("abc") == [7, 5])
    }
}
