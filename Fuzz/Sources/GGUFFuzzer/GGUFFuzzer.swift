import FuzzSupport
import Inference

/// Input: a whole GGUF file. It is parsed as the node parses a model it is given; whatever parses goes on
/// to what loading a model does with the header: the tokenizer, the shape placement reads, and the model.
/// Any input must end in a typed error or a model, and every tensor view must lie inside the input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGGUF(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    // libFuzzer's own buffer of exactly `size` bytes: a read past it is caught by AddressSanitizer.
    let raw = UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size)
    guard let file = try? GGUFFile(bytes: raw, owner: nil) else { return 0 }
    fuzzCheck(file.dataStart <= max(size, file.dataStart) && file.alignment > 0, "impossible header")
    for tensor in file.tensors {
        let view = file.bytes(of: tensor)
        if view.count > 0, let start = view.baseAddress, let base = raw.baseAddress {
            fuzzCheck(start >= base && start + view.count <= base + size, "tensor '\(tensor.name)' lies outside the input")
        }
    }
    if let tokenizer = try? Tokenizer(gguf: file) {
        let ids = tokenizer.encode("Hello <|im_start|>wörld 123\n", parseSpecial: true)
        _ = tokenizer.decode(ids)
        _ = tokenizer.isEndOfGeneration(tokenizer.eosID)
    }
    _ = try? ModelShape(gguf: file)
    _ = try? LlamaModel(file: file, threads: 1)
    return 0
}

@_cdecl("LLVMFuzzerInitialize")
public func initializeGGUFFuzzer(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    writeSeedsIfRequested(ggufSeeds)
    return 0
}

/// Small hand-made files: an empty one, one with a value of every type, and a complete one-layer llama
/// model (with tokenizer) that loads. The script adds the first kilobytes of the real model.
private func ggufSeeds() -> [(name: String, bytes: [UInt8])] {
    var empty = GGUFBuilder()
    empty.version = 2
    var everyType = GGUFBuilder()
    everyType.metadata = [
        ("u8", .uint8(7)), ("i8", .int8(-7)), ("u16", .uint16(700)), ("i16", .int16(-700)), ("u32", .uint32(70_000)),
        ("i32", .int32(-70_000)), ("f32", .float32(0.5)), ("bool", .bool(true)), ("string", .string("ünïcode")),
        ("u64", .uint64(1 << 40)), ("i64", .int64(-(1 << 40))), ("f64", .float64(-2.5)),
        ("general.alignment", .uint32(64)),
        ("array", .array(itemType: 4, [.uint32(1), .uint32(2), .uint32(3)])),
        ("nested", .array(itemType: 9, [.array(itemType: 8, [.string("a"), .string("b")]), .array(itemType: 8, [])])),
    ]
    everyType.tensors = [("t", [32, 2], 8, [UInt8](repeating: 1, count: 68))]
    return [("empty-v2", empty.build()), ("every-value-type", everyType.build()), ("tiny-llama", tinyLlama().build())]
}

/// One layer, 32-wide, two heads sharing one kv head, four tokens: every tensor LlamaModel looks for.
private func tinyLlama() -> GGUFBuilder {
    var b = GGUFBuilder()
    let tokens = ["a", "b", "ab", "<|im_end|>"]
    b.metadata = [
        ("general.architecture", .string("llama")),
        ("llama.block_count", .uint32(1)), ("llama.embedding_length", .uint32(32)), ("llama.feed_forward_length", .uint32(32)),
        ("llama.attention.head_count", .uint32(2)), ("llama.attention.head_count_kv", .uint32(1)),
        ("llama.context_length", .uint32(64)), ("llama.rope.freq_base", .float32(10_000)),
        ("llama.attention.layer_norm_rms_epsilon", .float32(1e-5)),
        ("tokenizer.ggml.model", .string("gpt2")), ("tokenizer.ggml.pre", .string("smollm")),
        ("tokenizer.ggml.tokens", .array(itemType: 8, tokens.map { .string($0) })),
        ("tokenizer.ggml.token_type", .array(itemType: 5, [.int32(1), .int32(1), .int32(1), .int32(3)])),
        ("tokenizer.ggml.merges", .array(itemType: 8, [.string("a b")])),
        ("tokenizer.ggml.bos_token_id", .uint32(0)), ("tokenizer.ggml.eos_token_id", .uint32(3)),
        ("tokenizer.ggml.add_bos_token", .bool(false)),
    ]
    let ones = (0..<32).flatMap { _ in [0x00, 0x00, 0x80, 0x3f] as [UInt8] }  // F32 1.0
    func q4_1(rows: Int) -> [UInt8] { (0..<rows * 20).map { UInt8(truncatingIfNeeded: $0 &* 7) } }
    b.tensors = [
        ("token_embd.weight", [32, 4], 0, (0..<4 * 32 * 4).map { $0 % 4 == 3 ? 0x3c : 0 }),
        ("blk.0.attn_norm.weight", [32], 0, ones),
        ("blk.0.attn_q.weight", [32, 32], 3, q4_1(rows: 32)),
        ("blk.0.attn_k.weight", [32, 16], 3, q4_1(rows: 16)),
        ("blk.0.attn_v.weight", [32, 16], 3, q4_1(rows: 16)),
        ("blk.0.attn_output.weight", [32, 32], 3, q4_1(rows: 32)),
        ("blk.0.ffn_norm.weight", [32], 0, ones),
        ("blk.0.ffn_gate.weight", [32, 32], 3, q4_1(rows: 32)),
        ("blk.0.ffn_up.weight", [32, 32], 3, q4_1(rows: 32)),
        ("blk.0.ffn_down.weight", [32, 32], 3, q4_1(rows: 32)),
        ("output_norm.weight", [32], 0, ones),
    ]
    return b
}

/// Writes GGUF files (little-endian, version 3 unless told) for the seeds.
private struct GGUFBuilder {
    indirect enum Value {
        case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32), float32(Float), bool(Bool)
        case string(String), uint64(UInt64), int64(Int64), float64(Double)
        case array(itemType: UInt32, [Value])

        var type: UInt32 {
            switch self {
            case .uint8: 0
            case .int8: 1
            case .uint16: 2
            case .int16: 3
            case .uint32: 4
            case .int32: 5
            case .float32: 6
            case .bool: 7
            case .string: 8
            case .array: 9
            case .uint64: 10
            case .int64: 11
            case .float64: 12
            }
        }

        func write(to out: inout [UInt8]) {
            switch self {
            case .uint8(let v): out.append(v)
            case .int8(let v): out.append(UInt8(bitPattern: v))
            case .uint16(let v): out.le(v)
            case .int16(let v): out.le(v)
            case .uint32(let v): out.le(v)
            case .int32(let v): out.le(v)
            case .float32(let v): out.le(v.bitPattern)
            case .bool(let v): out.append(v ? 1 : 0)
            case .string(let s): out.string(s)
            case .uint64(let v): out.le(v)
            case .int64(let v): out.le(v)
            case .float64(let v): out.le(v.bitPattern)
            case .array(let itemType, let items):
                out.le(itemType)
                out.le(UInt64(items.count))
                for item in items { item.write(to: &out) }
            }
        }
    }

    var version: UInt32 = 3
    var metadata: [(String, Value)] = []
    /// Name, dimensions (row length first), ggml type number, data.
    var tensors: [(String, [UInt64], UInt32, [UInt8])] = []

    func build() -> [UInt8] {
        var out: [UInt8] = Array("GGUF".utf8)
        out.le(version)
        out.le(UInt64(tensors.count))
        out.le(UInt64(metadata.count))
        var alignment = 32
        for (key, value) in metadata {
            out.string(key)
            out.le(value.type)
            value.write(to: &out)
            if key == "general.alignment", case .uint32(let a) = value { alignment = Int(a) }
        }
        var data: [UInt8] = []
        for (name, dims, type, bytes) in tensors {
            out.string(name)
            out.le(UInt32(dims.count))
            for d in dims { out.le(d) }
            out.le(type)
            out.le(UInt64(data.count))
            data += bytes
            data += [UInt8](repeating: 0, count: (alignment - data.count % alignment) % alignment)
        }
        out += [UInt8](repeating: 0, count: (alignment - out.count % alignment) % alignment)
        return out + data
    }
}

private extension [UInt8] {
    mutating func le<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }

    mutating func string(_ s: String) {
        le(UInt64(s.utf8.count))
        append(contentsOf: s.utf8)
    }
}
