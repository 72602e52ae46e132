/// Where a tensor lives in a GGUF file and how it is laid out.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    /// ne[0] first: `dimensions[0]` is the length of a row.
    public let dimensions: [Int]
    public let type: GGMLType
    /// From the start of the data section.
    public let offset: Int

    public var elementCount: Int { dimensions.reduce(1, *) }
    public var rowLength: Int { dimensions.first ?? 1 }
    public var rowCount: Int { elementCount / max(rowLength, 1) }
    public var byteCount: Int { elementCount / type.blockSize * type.blockBytes }
    public var rowBytes: Int { rowLength / type.blockSize * type.blockBytes }
}
