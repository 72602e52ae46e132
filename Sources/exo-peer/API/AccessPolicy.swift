import Hummingbird
import NIOCore

/// Who may call what. exo shipped its cluster-changing endpoints open to the LAN, and anyone could
/// list and delete every instance with two curl commands; here they answer loopback callers only,
/// unless an API key is configured and presented.
struct AccessPolicy: Sendable {
    var apiKey: String?

    enum Decision: Equatable { case allow, unauthorized, forbidden }

    /// Pure decision from the request line, the bearer token presented, and whether the caller is local.
    func decide(method: HTTPRequest.Method, path: String, bearer: String?, callerIsLoopback: Bool) -> Decision {
        if path == "/health" { return .allow }
        let keyPresented = apiKey != nil && bearer == apiKey
        if apiKey != nil && !keyPresented { return .unauthorized }
        if Self.changesCluster(method: method, path: path) && !callerIsLoopback && !keyPresented { return .forbidden }
        return .allow
    }

    static func changesCluster(method: HTTPRequest.Method, path: String) -> Bool {
        (method == .post || method == .delete) && (path == "/instances" || path.hasPrefix("/instances/"))
    }

    static func isLoopback(_ address: SocketAddress?) -> Bool {
        guard let address else { return true } // in-process router tests have no socket
        switch address {
        case .v4(let v4): return v4.host.hasPrefix("127.")
        case .v6(let v6): return v6.host == "::1" || v6.host.hasPrefix("::ffff:127.")
        case .unixDomainSocket: return true
        }
    }
}

/// Applies `AccessPolicy` and counts requests.
struct AccessMiddleware<Context: RemoteAddressRequestContext>: RouterMiddleware {
    let policy: AccessPolicy
    let metrics: NodeMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        metrics.httpRequests.increment()
        let bearer = request.headers[.authorization].flatMap { header -> String? in
            header.hasPrefix("Bearer ") ? String(header.dropFirst(7)) : nil
        }
        switch policy.decide(method: request.method, path: request.uri.path, bearer: bearer, callerIsLoopback: AccessPolicy.isLoopback(context.remoteAddress)) {
        case .allow:
            return try await next(request, context)
        case .unauthorized:
            throw APIError.unauthorized
        case .forbidden:
            throw APIError(status: .forbidden, message: "Changing instances is allowed from this machine only, unless the node runs with --api-key and the request presents it.", type: "invalid_request_error", code: "forbidden")
        }
    }
}
