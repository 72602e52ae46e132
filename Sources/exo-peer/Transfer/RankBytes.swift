import Inference

/// The bytes of a GGUF file a pipeline rank reads: the header and tensor directory, the tensors outside
/// the blocks (embedding, final norm, head), and the blocks of its layers. A rank can start once these are
/// present; the rest of the file may follow.
enum RankBytes {
    static func ranges(of file: GGUFFile, layers: Range<Int>) -> [Range<UInt64>] {
        var ranges: [Range<UInt64>] = [0..<UInt64(file.dataStart)]
        for tensor in file.tensors {
            if let layer = blockIndex(tensor.name), !layers.contains(layer) { continue }
            let start = UInt64(file.dataStart + tensor.offset)
            ranges.append(start..<start + UInt64(tensor.byteCount))
        }
        return ranges
    }

    /// The `N` of a tensor named `blk.N.…`, nil for any other name.
    static func blockIndex(_ name: String) -> Int? {
        guard name.hasPrefix("blk.") else { return nil }
        let digits = name.dropFirst(4).prefix { $0.isNumber }
        guard !digits.isEmpty, name.dropFirst(4 + digits.count).first == "." else { return nil }
        return Int(digits)
    }
}
