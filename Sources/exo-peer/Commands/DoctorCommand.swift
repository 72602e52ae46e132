import ArgumentParser
import Foundation

struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check the mesh: every peer reachable and healthy, the view converged, instances placed and their runners.",
        discussion: """
            Asks the node for /health, /peers, /state and /instances, then every live peer for /health and \
            /instances at the address it gossips. Prints one line per check and exits 0 when all pass, 1 otherwise. \
            Transient states (a record still spreading, a runner loading) are re-checked for up to --wait seconds.
            """
    )

    @Option(help: "The node to ask.")
    var node: String = "http://127.0.0.1:52415"

    @Option(help: "Seconds to keep re-checking while something fails (0: check once).")
    var wait: Double = 5

    @Option(help: "Seconds each peer has to answer.")
    var peerTimeout: Double = 3

    @Flag(help: "Treat warnings (suspect or departed peers, runners still starting) as failures.")
    var strict = false

    @Flag(help: "Print the findings as JSON.")
    var json = false

    func run() async throws {
        let deadline = Date().addingTimeInterval(wait)
        var report: DoctorReport
        repeat {
            let snapshot = try await MeshProbe(node: node, peerTimeout: peerTimeout).snapshot()
            report = DoctorReport(node: node, findings: Doctor.evaluate(snapshot), strict: strict)
            if report.healthy || Date() >= deadline { break }
            try await Task.sleep(for: .seconds(1))
        } while true
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            FileHandle.standardOutput.write(try encoder.encode(report))
            print()
        } else {
            print(report.render())
        }
        if !report.healthy { throw ExitCode.failure }
    }
}

/// The doctor's I/O: the asked node's documents, then every live peer asked directly, concurrently.
struct MeshProbe {
    let node: String
    let peerTimeout: TimeInterval

    func snapshot() async throws -> MeshSnapshot {
        let client = NodeClient(base: node)
        // Each request runs to its end before any failure is thrown: on Linux, a URLSession request cancelled
        // while it is failing never returns, so an `async let` tuple (which cancels the rest when one throws)
        // hung `doctor --node` at a stopped node until the request timeout instead of "cannot reach".
        async let health = settled { try await client.document("/health", as: HealthDocument.self) }
        async let peers = settled { try await client.document("/peers", as: PeersResponse.self) }
        async let state = settled { try await client.document("/state", as: StateDocument.self) }
        async let instances = settled { try await client.document("/instances", as: InstancesDocument.self) }
        let results = await (health, peers, state, instances)
        let (h, p, s, i) = try (results.0.get(), results.1.get(), results.2.get(), results.3.get())
        let targets = p.peers.filter { !$0.isSelf && Liveness.isUp($0.liveness) }
            .compactMap { peer in NodeClient.base(address: peer.address, port: peer.apiPort).map { (peer.id, $0) } }
        let probes = await withTaskGroup(of: (String, PeerProbe).self) { group in
            for (id, base) in targets {
                group.addTask { (id, await probe(base)) }
            }
            return await group.reduce(into: [String: PeerProbe]()) { $0[$1.0] = $1.1 }
        }
        return MeshSnapshot(health: h, peers: p, state: s, instances: i, probes: probes)
    }

    private func settled<T>(_ fetch: () async throws -> T) async -> Result<T, any Error> {
        do { return .success(try await fetch()) } catch { return .failure(error) }
    }

    private func probe(_ base: String) async -> PeerProbe {
        var client = NodeClient(base: base)
        client.timeout = peerTimeout
        do {
            let health = try await client.document("/health", as: HealthDocument.self)
            let instances = try? await client.document("/instances", as: InstancesDocument.self)
            return PeerProbe(url: base, outcome: .answered(health, instances))
        } catch {
            return PeerProbe(url: base, outcome: .unreachable("\(error)"))
        }
    }
}
