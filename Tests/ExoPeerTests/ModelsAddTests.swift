import Foundation
import Mesh
import Testing

/// `exo-peer models add FILE`, run as a user would (the built binary).
@Suite struct ModelsAddTests {
    private func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try PipelineFixtures.binary())
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test func aModelIsLinkedHashedAndRegisteredOnceAndAFileThatIsNotOneIsRefused() throws {
        let model = try PipelineFixtures.model()
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("models-add-\(UUID())")
        defer { try? FileManager.default.removeItem(at: home) }
        let added = try run(["models", "add", model, "--home", home.path, "--name", "tiny"])
        #expect(added.status == 0, "\(added.output)")
        #expect(added.output.contains("registered tiny: llama, 30 layers"), "\(added.output)")
        #expect(added.output.contains(try Sodium.sha256(fileAt: model)), "\(added.output)")
        let link = home.appendingPathComponent("models/tiny.gguf").path
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == URL(fileURLWithPath: model).standardizedFileURL.path)
        // The digests are cached for the node, so it does not hash the file again.
        #expect(FileManager.default.fileExists(atPath: home.appendingPathComponent("model-digests.json").path))

        let again = try run(["models", "add", model, "--home", home.path, "--name", "tiny"])
        #expect(again.status != 0 && again.output.contains("exists already"), "\(again.output)")
        let text = home.appendingPathComponent("notes.gguf")
        try Data("not a model".utf8).write(to: text)
        let refused = try run(["models", "add", text.path, "--home", home.path])
        #expect(refused.status != 0 && refused.output.contains("is not a model this build can run"), "\(refused.output)")
        #expect(!FileManager.default.fileExists(atPath: home.appendingPathComponent("models/notes.gguf").path))
    }
}
