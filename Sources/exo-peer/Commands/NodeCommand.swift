import ArgumentParser
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Start a node: discovery, gossip and the HTTP API (the default subcommand)."
    )

    @OptionGroup var options: NodeOptions

    func run() async throws {
        let configuration = try options.configuration()
        var logger = Logger(label: "exo-peer")
        logger.logLevel = configuration.logLevel
        let node = try await Node.start(configuration: configuration, logger: logger)
        let app = buildApplication(node: node, backend: MeshChatBackend(node: node), configuration: configuration, logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: app), .init(service: node)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
    }
}
