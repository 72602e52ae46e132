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
