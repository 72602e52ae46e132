import ArgumentParser
import Foundation

struct ModelsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "List the models available anywhere in the mesh: which nodes hold them, size, digest, layers, instances."
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
