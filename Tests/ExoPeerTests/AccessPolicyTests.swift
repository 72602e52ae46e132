import Hummingbird
import Testing
@testable import exo_peer

@Suite struct AccessPolicyTests {
    typealias Case = (method: HTTPRequest.Method, path: String, key: String?, bearer: String?, loopback: Bool, expected: AccessPolicy.Decision)

    static let cases: [Case] = [
        // Without a key: reads open, cluster changes only from this machine.
        (.get, "/state", nil, nil, false, .allow),
        (.post, "/v1/chat/completions", nil, nil, false, .allow),
        (.post, "/instances", nil, nil, true, .allow),
        (.post, "/instances", nil, nil, false, .forbidden),
        (.delete, "/instances/abc", nil, nil, false, .forbidden),
        (.get, "/instances", nil, nil, false, .allow),
        // With a key: everything but /health needs it, and it opens cluster changes to the LAN.
        (.get, "/health", "k", nil, false, .allow),
        (.get, "/state", "k", nil, true, .unauthorized),
        (.get, "/state", "k", "wrong", false, .unauthorized),
        (.get, "/state", "k", "k", false, .allow),
        (.delete, "/instances/abc", "k", "k", false, .allow),
        (.delete, "/instances/abc", "k", nil, true, .unauthorized),
    ]

    @Test(arguments: cases.indices)
    func decision(index: Int) {
        let c = Self.cases[index]
        let policy = AccessPolicy(apiKey: c.key)
        #expect(policy.decide(method: c.method, path: c.path, bearer: c.bearer, callerIsLoopback: c.loopback) == c.expected)
    }
}
