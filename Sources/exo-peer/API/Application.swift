import Hummingbird
import Logging

/// The HTTP API of a node. Routes come from small controllers, so tests drive the router without a port.
func buildApplication(
    node: Node, backend: some ChatBackend, configuration: NodeConfiguration, logger: Logger
) -> some ApplicationProtocol {
    Application(
        router: buildRouter(node: node, backend: backend, policy: AccessPolicy(apiKey: configuration.apiKey)),
        configuration: .init(address: .hostname(configuration.apiHost, port: configuration.apiPort), serverName: "exo-peer"),
        logger: logger
    )
}

func buildRouter(node: Node, backend: some ChatBackend, policy: AccessPolicy = AccessPolicy()) -> Router<NodeRequestContext> {
    let router = Router(context: NodeRequestContext.self)
    router.add(middleware: AccessMiddleware(policy: policy, metrics: node.metrics))
    HealthController(node: node).addRoutes(to: router)
    PeersController(node: node).addRoutes(to: router)
    StateController(node: node).addRoutes(to: router)
    InstancesController(node: node).addRoutes(to: router)
    MetricsController(metrics: node.metrics).addRoutes(to: router)
    DashboardController().addRoutes(to: router)
    ChatController(backend: backend).addRoutes(to: router)
    return router
}
