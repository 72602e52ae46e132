import ArgumentParser
import Foundation

/// `exo-peer place MODEL`: propose an instance (an intent in the node's gossiped record) and show
/// the plan the mesh derives for it. `exo-peer place --list` shows the instances.
struct PlaceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "place",
        abstract: "Propose an instance of a model across the mesh and show its plan (or list instances)."
    )

    @Option(help: "The node to ask (changing instances needs loopback or --api-key / EXO_API_KEY).")
    var node = "http://127.0.0.1:52415"

    @Option(help: "fit (fewest nodes that hold it, fastest split) or spread (size tiers).")
    var policy = "fit"

    @Option(name: .customLong("min-nodes"), help: "Use at least this many nodes.")
    var minNodes: Int?

    @Option(name: .customLong("max-nodes"), help: "Use at most this many nodes.")
    var maxNodes: Int?

    @Flag(help: "List the instances instead of proposing one.")
    var list = false

    @Option(help: "Withdraw the instance with this id.")
    var remove: String?

    @Argument(help: "The model to place.")
    var model: String?

    func validate() throws {
        guard list || remove != nil || model != nil else { throw ValidationError("name a model, or pass --list or --remove ID") }
    }

    func run() async throws {
        let client = NodeClient(base: node)
        if let remove {
            _ = try await client.send("/instances/\(remove)", method: "DELETE", body: nil)
            print("withdrew \(remove)")
            return
        }
        if let model {
            var body: [String: Any] = ["model": model, "policy": policy]
            if let minNodes { body["min_nodes"] = minNodes }
            if let maxNodes { body["max_nodes"] = maxNodes }
            let data = try await client.send("/instances", method: "POST", body: try JSONSerialization.data(withJSONObject: body))
            let created = try JSONDecoder().decode(Created.self, from: data)
            if let instance = created.instance {
                print(Self.render([instance]))
            } else {
                print("proposed \(created.id); not placed: \(created.unplacedReason ?? "no plan yet")")
            }
            return
        }
        let view = try JSONDecoder().decode(View.self, from: try await client.get("/instances"))
        print(view.instances.isEmpty ? "no instances" : Self.render(view.instances))
        for u in view.unplaced { print("not placed: \(u.id) (\(u.model)): \(u.reason)") }
    }

    struct Rank: Decodable { var rank: Int; var node: String; var layerStart: Int; var layerEnd: Int; var runner: String }
    struct Row: Decodable {
        var id: String; var model: String; var policy: String; var planHash: String; var ranks: [Rank]
        var predictedTokensPerSecond: Double?
    }
    struct Unplaced: Decodable { var id: String; var model: String; var reason: String }
    struct View: Decodable { var instances: [Row]; var unplaced: [Unplaced] }
    struct Created: Decodable { var id: String; var instance: Row?; var unplacedReason: String? }

    static func render(_ rows: [Row]) -> String {
        rows.map { row in
            let speed = row.predictedTokensPerSecond.map { String(format: ", predicted %.0f tok/s", $0) } ?? ""
            let ranks = row.ranks.map { "  rank \($0.rank): node \($0.node.prefix(8)) layers \($0.layerStart)..<\($0.layerEnd) (runner: \($0.runner))" }
            return (["\(row.id)  \(row.model)  policy \(row.policy)  plan \(row.planHash)\(speed)"] + ranks).joined(separator: "\n")
        }.joined(separator: "\n")
    }
}
