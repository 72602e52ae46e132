#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A parsed GGUF file: metadata, tensor directory, and views into the weights. The file is
/// memory-mapped read-only and the weights are never copied; views live as long as this object.
public final class GGUFFile: @unchecked Sendable {
    public let version: UInt32
    public let metadata: [String: GGUFValue]
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    /// Offset of the tensor data in the file (the end of the header and tensor directory, aligned).
    public let dataStart: Int
    private let tensorIndex: [String: Int]
    private let data: UnsafeRawPointer
    private let dataCount: Int
    private let owner: AnyObject?
    private let mapping: (base: UnsafeMutableRawPointer, length: Int)?

    /// Maps and parses the file at `path`.
    public convenience init(path: String) throws(GGUFError) {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw .cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        let length = Int(info.st_size)
        guard length > 0 else { throw .notGGUF }
        guard let base = mmap(nil, length, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw .cannotOpen(path: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        do {
            try self.init(bytes: UnsafeRawBufferPointer(start: base, count: length), owner: nil, mapping: (base, length))
        } catch {
            munmap(base, length)
            throw error
        }
    }

    /// Parses bytes already in memory; `owner` is kept alive as long as this object (fuzzing, tests).
    public convenience init(bytes: UnsafeRawBufferPointer, owner: AnyObject?) throws(GGUFError) {
        try self.init(bytes: bytes, owner: owner, mapping: nil)
    }

    private init(bytes: UnsafeRawBufferPointer, owner: AnyObject?, mapping: (UnsafeMutableRawPointer, Int)?) throws(GGUFError) {
        var reader = GGUFReader(bytes)
        guard try reader.scalar(UInt32.self, "magic") == 0x4655_4747 else { throw .notGGUF }
        let version = try reader.scalar(UInt32.self, "version")
        guard version == 2 || version == 3 else { throw .unsupportedVersion(version) }
        // A tensor info takes at least 8+4+8+4+8 bytes, a key-value at least 8+4+1.
        let tensorCount = try reader.count("tensor count", minimumItemBytes: 32)
        let kvCount = try reader.count("metadata count", minimumItemBytes: 13)

        var metadata: [String: GGUFValue] = [:]
        metadata.reserveCapacity(kvCount)
        for _ in 0..<kvCount {
            let key = try reader.string("metadata key")
            let type = try reader.scalar(UInt32.self, "type of '\(key)'")
            metadata[key] = try Self.value(type: type, key: key, reader: &reader, depth: 0)
        }

        let alignment = metadata["general.alignment"]?.int ?? 32
        guard alignment > 0, alignment & (alignment - 1) == 0 else { throw .badAlignment(alignment) }

        var tensors: [GGUFTensorInfo] = []
        tensors.reserveCapacity(tensorCount)
        var index: [String: Int] = [:]
        for _ in 0..<tensorCount {
            let name = try reader.string("tensor name")
            let dimensionCount = try reader.scalar(UInt32.self, "dimensions of '\(name)'")
            guard (1...4).contains(dimensionCount) else { throw .badTensorShape(tensor: name, reason: "\(dimensionCount) dimensions") }
            var dimensions: [Int] = []
            var elements = 1
            for _ in 0..<dimensionCount {
                let d = try reader.scalar(UInt64.self, "shape of '\(name)'")
                guard d > 0, d < 1 << 40 else { throw .badTensorShape(tensor: name, reason: "dimension \(d)") }
                let (product, overflow) = elements.multipliedReportingOverflow(by: Int(d))
                guard !overflow, product < 1 << 42 else { throw .badTensorShape(tensor: name, reason: "too many elements") }
                elements = product
                dimensions.append(Int(d))
            }
            let rawType = try reader.scalar(UInt32.self, "type of '\(name)'")
            guard let type = GGMLType(rawValue: rawType) else { throw .unknownTensorType(rawType, tensor: name) }
            guard dimensions[0] % type.blockSize == 0 else {
                throw .badTensorShape(tensor: name, reason: "row of \(dimensions[0]) is not a multiple of the \(type) block size \(type.blockSize)")
            }
            let offset = try reader.scalar(UInt64.self, "offset of '\(name)'")
            guard offset < 1 << 48 else { throw .tensorOutOfBounds(tensor: name) }
            guard index[name] == nil else { throw .duplicateTensor(name) }
            index[name] = tensors.count
            tensors.append(GGUFTensorInfo(name: name, dimensions: dimensions, type: type, offset: Int(offset)))
        }

        reader.align(to: alignment)
        let dataStart = reader.offset
        let dataCount = max(0, bytes.count - dataStart)
        for tensor in tensors {
            guard tensor.offset <= dataCount, tensor.byteCount <= dataCount - tensor.offset else {
                throw .tensorOutOfBounds(tensor: tensor.name)
            }
        }

        self.version = version
        self.metadata = metadata
        self.tensors = tensors
        self.alignment = alignment
        self.dataStart = dataStart
        self.tensorIndex = index
        self.data = (bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!) + min(dataStart, bytes.count)
        self.dataCount = dataCount
        self.owner = owner
        self.mapping = mapping
    }

    deinit {
        if let mapping { munmap(mapping.base, mapping.length) }
    }

    /// The tensor called `name`; "t[i]" names matrix i of a 3-D tensor t ([columns, rows, matrices]:
    /// a mixture's experts, stored back to back) as a 2-D tensor of its own.
    public func tensor(named name: String) -> GGUFTensorInfo? {
        if let i = tensorIndex[name] { return tensors[i] }
        return matrix(named: name)
    }

    private func matrix(named name: String) -> GGUFTensorInfo? {
        guard name.hasSuffix("]"), let open = name.lastIndex(of: "["),
              let index = Int(name[name.index(after: open)..<name.index(before: name.endIndex)]),
              let i = tensorIndex[String(name[..<open])] else { return nil }
        let stacked = tensors[i]
        guard stacked.dimensions.count == 3, index >= 0, index < stacked.dimensions[2] else { return nil }
        let matrixBytes = stacked.rowBytes * stacked.dimensions[1]
        return GGUFTensorInfo(name: name, dimensions: Array(stacked.dimensions.prefix(2)), type: stacked.type,
                              offset: stacked.offset + index * matrixBytes)
    }

    /// The tensor's bytes inside the mapping (bounds were checked at load).
    public func bytes(of tensor: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: data + tensor.offset, count: tensor.byteCount)
    }

    public var architecture: String? { metadata["general.architecture"]?.string }

    /// Tells the kernel that `tensor`'s bytes won't be read soon: the whole pages they span leave
    /// the process's resident memory (a memory-mapped file re-reads them if they are read again).
    /// For tensors the model has copied into another layout. No-op for files read into memory.
    public func releasePages(of tensor: GGUFTensorInfo) {
        guard mapping != nil else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = Int(bitPattern: data + tensor.offset), end = start + tensor.byteCount
        let first = (start + page - 1) / page * page, last = end / page * page
        guard last > first else { return }
        _ = madvise(UnsafeMutableRawPointer(bitPattern: first), last - first, Int32(MADV_DONTNEED))
    }

    private static func value(type: UInt32, key: String, reader: inout GGUFReader, depth: Int) throws(GGUFError) -> GGUFValue {
        switch type {
        case 0: return .uint8(try reader.scalar(UInt8.self, key))
        case 1: return .int8(try reader.scalar(Int8.self, key))
        case 2: return .uint16(try reader.scalar(UInt16.self, key))
        case 3: return .int16(try reader.scalar(Int16.self, key))
        case 4: return .uint32(try reader.scalar(UInt32.self, key))
        case 5: return .int32(try reader.scalar(Int32.self, key))
        case 6: return .float32(Float(bitPattern: try reader.scalar(UInt32.self, key)))
        case 7: return .bool(try reader.scalar(UInt8.self, key) != 0)
        case 8: return .string(try reader.string(key))
        case 9:
            guard depth < 4 else { throw .implausibleCount("array nesting of '\(key)'", depth) }
            let itemType = try reader.scalar(UInt32.self, "item type of '\(key)'")
            let itemBytes = switch itemType { case 0, 1, 7: 1; case 2, 3: 2; case 4, 5, 6: 4; case 8, 10, 11, 12: 8; default: 12 }
            let n = try reader.count("length of '\(key)'", minimumItemBytes: itemBytes)
            var items: [GGUFValue] = []
            items.reserveCapacity(n)
            for _ in 0..<n { items.append(try value(type: itemType, key: key, reader: &reader, depth: depth + 1)) }
            return .array(items)
        case 10: return .uint64(try reader.scalar(UInt64.self, key))
        case 11: return .int64(try reader.scalar(Int64.self, key))
        case 12: return .float64(Double(bitPattern: try reader.scalar(UInt64.self, key)))
        default: throw .unknownValueType(type, key: key)
        }
    }
}
