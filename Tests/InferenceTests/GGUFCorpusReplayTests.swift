import Foundation
import Testing
@testable import Inference

/// The GGUF inputs the fuzzer kept (Fuzz/corpus/gguf) and the ones that crashed it (Fuzz/regressions/gguf),
/// loaded as the node loads a model: each is refused with a typed error or parses, and what parses goes on to
/// the tokenizer, the shape and the model the same way. The fuzzer itself runs with scripts/fuzz.sh.
@Suite struct GGUFCorpusReplayTests {
    static let fuzz = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz")

    static func inputs(_ dir: String) throws -> [(name: String, bytes: [UInt8])] {
        let url = fuzz.appendingPathComponent(dir)
        return try FileManager.default.contentsOfDirectory(atPath: url.path).sorted().map {
            ($0, [UInt8](try Data(contentsOf: url.appendingPathComponent($0))))
        }
    }

    @Test func everyCorpusFileParsesOrIsRefusedAndLoadsOrIsRefused() throws {
        let inputs = try Self.inputs("corpus/gguf") + Self.inputs("regressions/gguf")
        var models = 0
        for (name, bytes) in inputs {
            bytes.withUnsafeBytes { raw in
                guard let file = try? GGUFFile(bytes: raw, owner: nil) else { return }
                for tensor in file.tensors { #expect(tensor.offset + tensor.byteCount <= bytes.count - file.dataStart, "\(name)") }
                if let tokenizer = try? Tokenizer(gguf: file) { _ = tokenizer.decode(tokenizer.encode("Hello <|im_start|>wörld 123\n", parseSpecial: true)) }
                _ = try? ModelShape(gguf: file)
                if (try? LlamaModel(file: file, threads: 1)) != nil { models += 1 }
            }
        }
        #expect(inputs.count >= 5)
        #expect(models >= 1, "the hand-made one-layer model (seed tiny-llama) loads")
    }

    /// Found by the fuzzer: a bos id of 0xFA000000 trapped converting to Int32.
    @Test func aTokenIDNoInt32HoldsIsRefused() throws {
        let bytes = try #require(Self.inputs("regressions/gguf").first { $0.name == "bos-id-beyond-int32" }).bytes
        try bytes.withUnsafeBytes { raw in
            let file = try GGUFFile(bytes: raw, owner: nil)
            #expect(throws: Tokenizer.Error.badTokenID("tokenizer.ggml.bos_token_id")) { try Tokenizer(gguf: file) }
        }
    }

    /// A context length of 2^31 in an otherwise loadable model made the run state allocate 8 GB and more.
    @Test func anAbsurdContextLengthIsRefusedBeforeAnythingIsAllocated() throws {
        let bytes = try #require(Self.inputs("regressions/gguf").first { $0.name == "context-length-2g" }).bytes
        try bytes.withUnsafeBytes { raw in
            let file = try GGUFFile(bytes: raw, owner: nil)
            #expect(throws: LlamaConfig.Error.self) { try LlamaConfig(gguf: file) }
            #expect(throws: LlamaModel.Error.self) { try LlamaModel(file: file, threads: 1) }
        }
    }
}
