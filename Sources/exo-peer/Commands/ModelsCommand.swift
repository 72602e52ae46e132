import ArgumentParser
import Foundation
import Inference

struct ModelsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "The models of the mesh: list them, or register a local GGUF file with this machine's node.",
        subcommands: [List.self, Add.self],
        defaultSubcommand: List.self
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the models available anywhere in the mesh: which nodes hold or are fetching them, size, digest, layers, instances."
        )

        @Option(help: "The node to ask.")
        var node: String = "http://127.0.0.1:52415"

        @Flag(help: "Print the list as JSON.")
        var json = false

        func run() async throws {
            let client = NodeClient(base: node)
            async let served = client.document("/v1/models", as: ModelListDocument.self)
            async let state = client.document("/state", as: StateDocument.self)
            async let instances = client.document("/instances", as: InstancesDocument.self)
            let models = MeshModels.list(served: try await served, state: try await state, instances: try await instances)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                FileHandle.standardOutput.write(try encoder.encode(models))
                print()
            } else {
                print(MeshModels.render(models))
            }
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register a local GGUF file: check that this build can run it, hash it, and link it into the models directory. A running node advertises it within 10 s."
        )

        @Argument(help: "The GGUF file.")
        var file: String

        @Option(help: "The model's name in the mesh (default: the file name without .gguf).")
        var name: String?

        @Option(help: "State directory. Default: $EXO_HOME or ~/.exo-peer.")
        var home: String?

        @Option(help: "Directory of GGUF models. Default: <home>/models.")
        var models: String?

        @Flag(help: "Copy the file instead of linking to it.")
        var copy = false

        func run() throws {
            let source = URL(fileURLWithPath: file).standardizedFileURL
            let gguf: GGUFFile
            let shape: ModelShape
            do {
                gguf = try GGUFFile(path: source.path)
                shape = try ModelShape(gguf: gguf)
            } catch {
                throw ValidationError("\(file) is not a model this build can run: \(error)")
            }
            let id = name ?? source.deletingPathExtension().lastPathComponent
            guard !id.isEmpty, !id.contains("/"), !id.hasPrefix(".") else { throw ValidationError("'\(id)' is not a usable model name") }
            let homeURL = URL(fileURLWithPath: home ?? ProcessInfo.processInfo.environment["EXO_HOME"] ?? (NSHomeDirectory() + "/.exo-peer"))
            let directory = models.map { URL(fileURLWithPath: $0) } ?? homeURL.appendingPathComponent("models")
            let destination = directory.appendingPathComponent("\(id).gguf")
            let fm = FileManager.default
            try fm.createDirectory(at: directory, withIntermediateDirectories: true)
            guard !fm.fileExists(atPath: destination.path) else {
                throw ValidationError("\(destination.path) exists already; pick another --name or remove it")
            }
            if copy {
                try fm.copyItem(at: source, to: destination)
            } else {
                try fm.createSymbolicLink(at: destination, withDestinationURL: source)
            }
            // Hash it now (and cache the digests for the node), so the node does not stall on a large file.
            let catalog = ModelCatalog(directory: directory, cacheFile: homeURL.appendingPathComponent("model-digests.json"))
            guard let registered = catalog.scan().first(where: { $0.id == id }) else {
                throw ValidationError("\(destination.path) could not be read back")
            }
            let size = Double(registered.sizeBytes) / 1e6
            print("registered \(id): \(shape.architecture), \(shape.layerCount) layers, \(String(format: "%.1f", size)) MB, sha256 \(registered.sha256)")
            print("  \(destination.path)\(copy ? "" : " -> \(source.path)")")
            print("a running node with this models directory advertises it within 10 s")
        }
    }
}
