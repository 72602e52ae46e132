/// GPT-2's byte-level mapping: every byte gets a printable Unicode character, so BPE works on
/// text without ever meeting a control character or a broken UTF-8 sequence.
enum ByteLevel {
    static let byteToCharacter: [Character] = {
        var printable = Array(33...126) + Array(161...172) + Array(174...255)
        var mapping = [Int](repeating: -1, count: 256)
        for b in printable { mapping[b] = b }
        var next = 256
        for b in 0..<256 where mapping[b] < 0 {
            mapping[b] = next
            printable.append(b)
            next += 1
        }
        return mapping.map { Character(Unicode.Scalar(UInt32($0))!) }
    }()

    static let characterToByte: [Character: UInt8] = {
        var table: [Character: UInt8] = [:]
        for (b, c) in byteToCharacter.enumerated() { table[c] = UInt8(b) }
        return table
    }()

    static func encode(_ bytes: some Sequence<UInt8>) -> [Character] { bytes.map { byteToCharacter[Int($0)] } }

    /// The bytes a token's text stands for; characters outside the mapping are kept as their UTF-8.
    static func decode(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        for c in text {
            if let b = characterToByte[c] { out.append(b) } else { out.append(contentsOf: Array(String(c).utf8)) }
        }
        return out
    }
}
