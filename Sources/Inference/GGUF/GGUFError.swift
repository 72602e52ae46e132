/// What is wrong with a GGUF file, in words that name the problem.
public enum GGUFError: Error, Equatable, CustomStringConvertible {
    case cannotOpen(path: String, reason: String)
    case notGGUF
    case unsupportedVersion(UInt32)
    case truncated(offset: Int, reading: String)
    case unknownValueType(UInt32, key: String)
    case unknownTensorType(UInt32, tensor: String)
    case implausibleCount(String, Int)
    case badTensorShape(tensor: String, reason: String)
    case tensorOutOfBounds(tensor: String)
    case duplicateTensor(String)
    case badAlignment(Int)
    case invalidUTF8(offset: Int)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let reason): "cannot open model file \(path): \(reason)"
        case .notGGUF: "not a GGUF file (the first four bytes are not 'GGUF')"
        case .unsupportedVersion(let v): "GGUF version \(v) is not supported (versions 2 and 3 are)"
        case .truncated(let offset, let what): "file is truncated: ran out of bytes at offset \(offset) reading \(what)"
        case .unknownValueType(let t, let key): "metadata '\(key)' has unknown value type \(t)"
        case .unknownTensorType(let t, let name): "tensor '\(name)' has unknown or unsupported type \(t)"
        case .implausibleCount(let what, let n): "implausible \(what): \(n) (corrupt header?)"
        case .badTensorShape(let name, let reason): "tensor '\(name)' has a bad shape: \(reason)"
        case .tensorOutOfBounds(let name): "tensor '\(name)' lies outside the file (truncated download?)"
        case .duplicateTensor(let name): "tensor '\(name)' appears twice"
        case .badAlignment(let a): "general.alignment \(a) is not a positive power of two"
        case .invalidUTF8(let offset): "string at offset \(offset) is not valid UTF-8"
        }
    }
}
