/// Finds the vocabulary's special tokens written in text, before either algorithm sees it, as
/// llama.cpp's special-token partition does: control and unknown tokens (`<|im_start|>`, `<unk>`)
/// only when the caller asks for them, user-defined tokens always.
///
/// The text is scanned once, left to right, trying the longest token first at each position.
/// llama.cpp instead looks for each token in turn, longest first, across the whole text; the two
/// only differ when special tokens overlap each other in the text.
struct SpecialTokens: Sendable {
    enum Segment: Equatable { case text(String), special(Int32) }

    private struct Entry: Sendable {
        let bytes: [UInt8]
        let id: Int32
        /// User-defined tokens are split out even when special tokens are not parsed.
        let alwaysParsed: Bool
    }

    /// Entries by their first byte, longest first.
    private let byFirstByte: [[Entry]]
    private let hasAlwaysParsed: Bool

    init(tokens: [String], types: [Tokenizer.TokenType]) {
        var buckets = [[Entry]](repeating: [], count: 256)
        for (i, text) in tokens.enumerated() where !text.isEmpty {
            let type = types[i]
            guard type == .control || type == .unknown || type == .userDefined else { continue }
            let bytes = Array(text.utf8)
            buckets[Int(bytes[0])].append(Entry(bytes: bytes, id: Int32(i), alwaysParsed: type == .userDefined))
        }
        byFirstByte = buckets.map { bucket in bucket.sorted { $0.bytes.count > $1.bytes.count } }
        hasAlwaysParsed = buckets.contains { $0.contains(where: \.alwaysParsed) }
    }

    /// `text` cut into plain text and special tokens. Cuts fall on character boundaries: a token's
    /// text is valid UTF-8, so it starts and ends where characters do.
    func split(_ text: String, parseSpecial: Bool) -> [Segment] {
        guard parseSpecial || hasAlwaysParsed else { return text.isEmpty ? [] : [.text(text)] }
        let bytes = Array(text.utf8)
        var segments: [Segment] = []
        var pendingStart = 0
        var i = 0
        scan: while i < bytes.count {
            for entry in byFirstByte[Int(bytes[i])] where (parseSpecial || entry.alwaysParsed) && Self.matches(entry.bytes, in: bytes, at: i) {
                if pendingStart < i { segments.append(.text(String(decoding: bytes[pendingStart..<i], as: UTF8.self))) }
                segments.append(.special(entry.id))
                i += entry.bytes.count
                pendingStart = i
                continue scan
            }
            i += 1
        }
        if pendingStart < bytes.count { segments.append(.text(String(decoding: bytes[pendingStart...], as: UTF8.self))) }
        return segments
    }

    private static func matches(_ token: [UInt8], in bytes: [UInt8], at start: Int) -> Bool {
        guard bytes.count - start >= token.count else { return false }
        for k in 1..<token.count where bytes[start + k] != token[k] { return false }
        return true
    }
}
