import Foundation
import Testing
@testable import Inference

/// The GGUF inputs the fuzzer kept (Fuzz/corpus/gguf, see Fuzz/README.md), loaded as the node loads a model:
/// each is refused with a typed error or parses, and what parses goes on to the tokenizer, the shape and the
/// model the same way. The fuzzer itself runs with scripts/fuzz.sh.
@Suite struct GGUFCorpusReplayTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/corpus/gguf")

    @Test func everyCorpusFileParsesOrIsRefusedAndLoadsOrIsRefused() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.corpus.path).sorted()
        var models = 0
        for name in names {
            let bytes = [UInt8](try Data(contentsOf: Self.corpus.appendingPathComponent(name)))
            bytes.withUnsafeBytes { raw in
                guard let file = try? GGUFFile(bytes: raw, owner: nil) else { return }
                for tensor in file.tensors { #expect(tensor.offset + tensor.byteCount <= bytes.count - file.dataStart, "\(name)") }
                if let tokenizer = try? Tokenizer(gguf: file) { _ = tokenizer.decode(tokenizer.encode("Hello <|im_start|>wörld 123\n", parseSpecial: true)) }
                _ = try? ModelShape(gguf: file)
                if (try? LlamaModel(file: file, threads: 1)) != nil { models += 1 }
            }
        }
        #expect(names.count >= 3)
        #expect(models >= 1, "the hand-made one-layer model (seed tiny-llama) loads")
    }
}
