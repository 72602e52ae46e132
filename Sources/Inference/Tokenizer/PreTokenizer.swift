/// Splits text into the pieces BPE merges within, as the model's `tokenizer.ggml.pre` says.
///
/// The GPT-2 pattern `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
/// is scanned by hand (no regex engine). Some families first split digits: one at a time
/// (`smollm`, `starcoder`, `qwen2`) or in runs of at most three (`llama-bpe`). The llama-3 and
/// qwen2 patterns add `\s*[\r\n]+` before the other whitespace rules: a run of whitespace holding
/// newlines ends after its last newline ("\n\n" is one piece).
public struct PreTokenizer: Sendable {
    public enum DigitSplit: Sendable { case none, single, upToThree }

    public let name: String
    public let digits: DigitSplit
    /// llama-3/qwen2 patterns: case-insensitive contractions, letters may follow one non-letter.
    public let llama3Style: Bool

    public init(name: String) {
        self.name = name
        switch name {
        case "smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva":
            digits = .single; llama3Style = false
        case "qwen2", "deepseek-r1-qwen", "stablelm2":
            digits = .single; llama3Style = true
        case "llama-bpe", "llama3", "smaug-bpe", "dbrx":
            digits = .upToThree; llama3Style = true
        default:
            digits = .none; llama3Style = false
        }
    }

    public func split(_ text: String) -> [Substring.UnicodeScalarView] {
        let scalars = text.unicodeScalars
        var pieces: [Substring.UnicodeScalarView] = []
        var i = scalars.startIndex
        let end = scalars.endIndex
        while i < end {
            let j = nextBoundary(scalars, from: i)
            pieces.append(scalars[i..<j])
            i = j
        }
        return pieces
    }

    private static func isLetter(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: true
        default: false
        }
    }

    private static func isNumber(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: true
        default: false
        }
    }

    private static func isSpace(_ s: Unicode.Scalar) -> Bool { s.properties.isWhitespace }

    private static let contractions: [[Unicode.Scalar]] = ["s", "t", "re", "ve", "m", "ll", "d"].map { Array($0.unicodeScalars) }

    /// End of the piece starting at `i`.
    private func nextBoundary(_ s: String.UnicodeScalarView, from i: String.Index) -> String.Index {
        let end = s.endIndex
        let c = s[i]
        let after = s.index(after: i)

        // Contractions: 's 't 're 've 'm 'll 'd
        if c == "'" && after < end {
            for contraction in Self.contractions {
                var k = after
                var matched = true
                for expected in contraction {
                    guard k < end else { matched = false; break }
                    let actual = s[k]
                    let same = llama3Style ? actual.properties.lowercaseMapping == String(expected) : actual == expected
                    if !same { matched = false; break }
                    k = s.index(after: k)
                }
                if matched { return k }
            }
        }

        if Self.isNumber(c) {
            switch digits {
            case .single: return after
            case .upToThree:
                var k = after, n = 1
                while k < end, n < 3, Self.isNumber(s[k]) { k = s.index(after: k); n += 1 }
                return k
            case .none:
                var k = after
                while k < end, Self.isNumber(s[k]) { k = s.index(after: k) }
                return k
            }
        }

        // Optional leading space (or, llama-3 style, one non-letter non-digit char), then letters.
        let startsLetters: String.Index? = {
            if Self.isLetter(c) { return i }
            let prefixOK = llama3Style ? (!Self.isLetter(c) && !Self.isNumber(c) && c != "\r" && c != "\n") : c == " "
            if prefixOK, after < end, Self.isLetter(s[after]) { return after }
            return nil
        }()
        if let start = startsLetters {
            var k = start
            while k < end, Self.isLetter(s[k]) { k = s.index(after: k) }
            return k
        }

        // ' ?\p{N}+' when digits are not pre-split.
        if digits == .none, c == " ", after < end, Self.isNumber(s[after]) {
            var k = after
            while k < end, Self.isNumber(s[k]) { k = s.index(after: k) }
            return k
        }

        // ' ?[^\s\p{L}\p{N}]+'
        let isOther: (Unicode.Scalar) -> Bool = { !Self.isSpace($0) && !Self.isLetter($0) && !Self.isNumber($0) }
        let otherStart: String.Index? = isOther(c) ? i : (c == " " && after < end && isOther(s[after]) ? after : nil)
        if let start = otherStart {
            var k = start
            while k < end, isOther(s[k]) { k = s.index(after: k) }
            if llama3Style { while k < end, s[k] == "\r" || s[k] == "\n" { k = s.index(after: k) } }
            return k
        }

        // Whitespace: '\s*[\r\n]+' (llama-3 style), then '\s+(?!\S)', which leaves the last space to
        // start the next word; else '\s+'.
        if Self.isSpace(c) {
            var k = after
            var afterLastNewline: String.Index? = c == "\r" || c == "\n" ? after : nil
            while k < end, Self.isSpace(s[k]) {
                let next = s.index(after: k)
                if s[k] == "\r" || s[k] == "\n" { afterLastNewline = next }
                k = next
            }
            if llama3Style, let newline = afterLastNewline { return newline }
            if k == end { return k }
            let runLength = s.distance(from: i, to: k)
            return runLength > 1 ? s.index(before: k) : k
        }
        return after
    }
}
