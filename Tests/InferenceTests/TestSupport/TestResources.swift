import Foundation
import Testing

/// Where tests find the default model and llama.cpp's reference outputs.
enum TestResources {
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `EXO_MODEL_PATH`, else the default model in `$EXO_HOME/models` or `~/.exo-peer/models`.
    static var modelPath: String {
        let env = ProcessInfo.processInfo.environment
        if let path = env["EXO_MODEL_PATH"] { return path }
        let home = env["EXO_HOME"] ?? (NSHomeDirectory() + "/.exo-peer")
        return home + "/models/SmolLM2-135M-Instruct.Q4_1.gguf"
    }

    /// `EXO_FIXTURES`, else `../shared/fixtures` beside the repository.
    static var fixtures: URL {
        if let path = ProcessInfo.processInfo.environment["EXO_FIXTURES"] { return URL(fileURLWithPath: path) }
        return repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/fixtures")
    }

    static func fixture<T: Decodable>(_ name: String, as type: T.Type) throws -> T {
        let url = fixtures.appendingPathComponent(name)
        let data = try #require(try? Data(contentsOf: url), "fixture \(url.path) is missing; run tests from a clone with ../shared beside it")
        return try JSONDecoder().decode(T.self, from: data)
    }

    /// A real model `file` in the test models' directory, `$EXO_TEST_MODELS` or `~/.cache/exo-peer/models`:
    /// apart from the node's models directory, whose contents the multi-node tests count.
    static func realModelPath(_ file: String) -> String {
        let env = ProcessInfo.processInfo.environment
        let directory = env["EXO_TEST_MODELS"] ?? (NSHomeDirectory() + "/.cache/exo-peer/models")
        return directory + "/" + file
    }

    /// The real model `file`'s path; a missing file fails the test with how to fetch it.
    static func requireRealModel(_ file: String, fetchName: String) throws -> String {
        let path = realModelPath(file)
        try #require(FileManager.default.fileExists(atPath: path), "model \(path) is missing; run scripts/fetch-model.sh --model \(fetchName) ~/.cache/exo-peer/models (make test does)")
        return path
    }

    static func requireModel() throws -> String {
        let path = modelPath
        try #require(FileManager.default.fileExists(atPath: path), "model \(path) is missing; run scripts/fetch-model.sh (make test does)")
        return path
    }
}
