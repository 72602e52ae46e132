/// A bounds-checked cursor over untrusted bytes: every read checks what is left first, so a
/// truncated or hostile file ends in `GGUFError`, never in a read past the buffer.
struct GGUFReader {
    let base: UnsafeRawPointer
    let count: Int
    private(set) var offset = 0

    init(_ buffer: UnsafeRawBufferPointer) {
        base = buffer.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!
        count = buffer.count
    }

    var remaining: Int { count - offset }

    mutating func scalar<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws(GGUFError) -> T {
        guard remaining >= MemoryLayout<T>.size else { throw .truncated(offset: offset, reading: what()) }
        let value = T(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: T.self))
        offset += MemoryLayout<T>.size
        return value
    }

    mutating func count(_ what: @autoclosure () -> String, minimumItemBytes: Int) throws(GGUFError) -> Int {
        let raw = try scalar(UInt64.self, what())
        // Each item takes at least `minimumItemBytes`, so a count larger than what is left is a lie.
        guard raw <= UInt64(remaining / max(minimumItemBytes, 1)) else { throw .implausibleCount(what(), Int(clamping: raw)) }
        return Int(raw)
    }

    mutating func string(_ what: @autoclosure () -> String) throws(GGUFError) -> String {
        let length = try count(what(), minimumItemBytes: 1)
        let start = offset
        let bytes = UnsafeRawBufferPointer(start: base + offset, count: length)
        offset += length
        guard let text = String(validating: bytes, as: UTF8.self) else { throw .invalidUTF8(offset: start) }
        return text
    }

    mutating func align(to alignment: Int) {
        let rest = offset % alignment
        if rest != 0 { offset += alignment - rest }
    }
}
