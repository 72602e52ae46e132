#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The bytes libFuzzer hands to `LLVMFuzzerTestOneInput`, as an array.
public func fuzzInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
    guard let data, size > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: size))
}

/// An invariant of the code under test: breaking it is a finding, so it crashes like any other bug.
public func fuzzCheck(_ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) {
    if !condition { fatalError("fuzz invariant broken: \(message())", file: file, line: line) }
}

/// Seed inputs are built by the harness itself (a real frame stream, a real handshake, small GGUF files),
/// so they always match the code. `EXO_FUZZ_SEEDS=DIR fuzz-X` writes them to DIR and exits.
public func writeSeedsIfRequested(_ seeds: () -> [(name: String, bytes: [UInt8])]) {
    guard let dir = getenv("EXO_FUZZ_SEEDS").map({ String(cString: $0) }) else { return }
    mkdir(dir, 0o755)
    let all = seeds()
    for seed in all {
        let path = dir + "/" + seed.name
        guard let file = fopen(path, "wb") else { fatalError("cannot write \(path)") }
        _ = seed.bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        fclose(file)
    }
    print("wrote \(all.count) seeds to \(dir)")
    exit(0)
}

/// Reads fuzz input front to back for harnesses that take a few choices before the payload.
public struct FuzzCursor {
    private let bytes: [UInt8]
    private var offset = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public var isAtEnd: Bool { offset >= bytes.count }

    /// The next byte, 0 once the input is exhausted.
    public mutating func byte() -> UInt8 {
        guard offset < bytes.count else { return 0 }
        defer { offset += 1 }
        return bytes[offset]
    }

    /// Everything not yet read.
    public mutating func rest() -> [UInt8] {
        defer { offset = bytes.count }
        return offset < bytes.count ? Array(bytes[offset...]) : []
    }
}
