import Foundation
import Gossip
import Hummingbird
import HummingbirdTesting
import Logging
import Testing
@testable import exo_peer

/// A mesh of `count` nodes as the doctor sees it from node 1: everyone alive, healthy, converged,
/// and answering at its gossiped address. Tests break one thing at a time.
enum MeshFixture {
    static func id(_ n: Int) -> String { String(repeating: String(n), count: 64) }
    static func address(_ n: Int) -> String { "10.0.0.\(n)" }
    static let stamp = Stamp(epoch: 1, version: 5)

    static func healthy(nodes count: Int = 3, instances: [InstancesDocument.Instance] = []) -> MeshSnapshot {
        let ids = (1...count).map(id)
        let seen = Dictionary(uniqueKeysWithValues: ids.map { ($0, stamp) })
        let members = ids.enumerated().map { index, id in
            StateDocument.Member(
                id: id, liveness: "alive", lastHeardSeconds: index == 0 ? nil : 0.4,
                record: .init(node: id, epoch: 1, version: 7, contentVersion: 5, addresses: [address(index + 1)], apiPort: 52415,
                              models: [], runners: [], health: .init(score: 1, processAlive: true, recentErrors: []), seen: seen, leaving: false)
            )
        }
        let peers = ids.enumerated().map { index, id in
            PeerSummary(id: id, address: address(index + 1), apiPort: 52415, liveness: "alive", lastHeardSeconds: index == 0 ? nil : 0.4,
                        memoryTotalBytes: 8 << 30, memoryAvailableBytes: 4 << 30, cores: 2, models: [], healthScore: 1, isSelf: index == 0)
        }
        let document = InstancesDocument(instances: instances, unplaced: [], superseded: [])
        let probes = Dictionary(uniqueKeysWithValues: ids.dropFirst().enumerated().map { index, id in
            (id, PeerProbe(url: "http://\(address(index + 2)):52415", outcome: .answered(health(id), document)))
        })
        return MeshSnapshot(
            health: health(ids[0]), peers: PeersResponse(node: ids[0], peers: peers),
            state: StateDocument(node: ids[0], epoch: 1, converged: true, members: members,
                                 convergence: ids.map { .init(node: $0, stamp: stamp, knownBy: count, liveNodes: count) }),
            instances: document, probes: probes
        )
    }

    static func health(_ id: String, epoch: UInt64 = 1) -> HealthDocument {
        HealthDocument(status: "ok", node: id, epoch: epoch, uptimeSeconds: 120, version: "0.1.0")
    }

    static func instance(runners: [String], id: String = "inst-1") -> InstancesDocument.Instance {
        .init(id: id, model: "m", planHash: "abc123", ranks: runners.enumerated().map { index, runner in
            .init(rank: index, node: MeshFixture.id(index + 1), layerStart: index * 10, layerEnd: index * 10 + 10, runner: runner)
        })
    }

    static func setLiveness(_ liveness: String, of n: Int, in snapshot: inout MeshSnapshot) {
        snapshot.peers.peers[n - 1].liveness = liveness
        snapshot.state.members[n - 1].liveness = liveness
        if !Liveness.isUp(liveness) { snapshot.probes[id(n)] = nil }
    }
}

@Suite struct DoctorTests {
    func failures(_ findings: [DoctorFinding]) -> [DoctorFinding] { findings.filter { $0.status == .fail } }

    @Test func aHealthyMeshPassesEveryCheckAndSaysSo() {
        let findings = Doctor.evaluate(MeshFixture.healthy(instances: [MeshFixture.instance(runners: ["none", "none"])]))
        #expect(findings.allSatisfy { $0.status == .ok }, "\(findings)")
        #expect(Set(findings.map(\.check)) == ["node", "liveness", "reachable", "health", "convergence", "plans", "instances"])
        let report = DoctorReport(node: "http://x", findings: findings, strict: true)
        #expect(report.healthy)
        #expect(report.render().hasSuffix("OK: the mesh looks healthy"))
    }

    @Test func aDeadPeerFailsLivenessAndIsNotAsked() {
        var snapshot = MeshFixture.healthy()
        MeshFixture.setLiveness("dead", of: 3, in: &snapshot)
        snapshot.peers.peers[2].lastHeardSeconds = 12
        let findings = Doctor.evaluate(snapshot)
        #expect(failures(findings).map(\.message) == ["node 33333333 (10.0.0.3) is dead, last heard 12.0 s ago"])
        #expect(!findings.contains { $0.check == "reachable" && $0.message.contains("33333333") })
        let report = DoctorReport(node: "http://x", findings: findings, strict: false)
        #expect(!report.healthy)
        #expect(report.render().contains("✗ liveness"))
        #expect(report.render().hasSuffix("FAIL: 1 failed (see ✗ above)"))
    }

    @Test(arguments: ["suspect", "left"])
    func aSuspectOrDepartedPeerIsAWarningThatStrictTurnsIntoAFailure(liveness: String) {
        var snapshot = MeshFixture.healthy()
        MeshFixture.setLiveness(liveness, of: 2, in: &snapshot)
        if liveness == "suspect" { snapshot.probes[MeshFixture.id(2)] = MeshFixture.healthy().probes[MeshFixture.id(2)] }
        let findings = Doctor.evaluate(snapshot)
        #expect(findings.filter { $0.status != .ok }.map(\.check) == ["liveness"])
        #expect(DoctorReport(node: "", findings: findings, strict: false).healthy)
        #expect(!DoctorReport(node: "", findings: findings, strict: true).healthy)
    }

    @Test func aPeerThatDoesNotAnswerOrAnswersAsAnotherNodeFails() {
        var snapshot = MeshFixture.healthy()
        snapshot.probes[MeshFixture.id(2)]?.outcome = .unreachable("connection refused")
        snapshot.probes[MeshFixture.id(3)]?.outcome = .answered(MeshFixture.health(MeshFixture.id(4)), nil)
        let messages = failures(Doctor.evaluate(snapshot)).map(\.message)
        #expect(messages == [
            "node 22222222 does not answer at http://10.0.0.2:52415: connection refused",
            "http://10.0.0.3:52415 answers as node 44444444, not 33333333: two nodes share an address?",
        ])
    }

    @Test func recentErrorsADeadProcessOrALowScoreFailHealth() {
        var snapshot = MeshFixture.healthy()
        snapshot.state.members[1].record.health = .init(score: 0.9, processAlive: true, recentErrors: ["model-file: truncated", "mesh: handshake timed out"])
        snapshot.state.members[2].record.health = .init(score: 0, processAlive: false, recentErrors: [])
        let messages = failures(Doctor.evaluate(snapshot)).map(\.message)
        #expect(messages == [
            "node 22222222: score 0.90, 2 recent errors, last: mesh: handshake timed out",
            "node 33333333: its supervisor reports the process dead",
        ])
    }

    @Test func aRecordNotYetSeenByEveryoneFailsConvergenceNamingWhoLags() {
        var snapshot = MeshFixture.healthy()
        let newer = Stamp(epoch: 1, version: 9)
        snapshot.state.members[1].record.contentVersion = 9
        snapshot.state.convergence[1] = .init(node: MeshFixture.id(2), stamp: newer, knownBy: 2, liveNodes: 3)
        let messages = failures(Doctor.evaluate(snapshot)).map(\.message)
        #expect(messages == ["record of node 22222222 (1.9) known by 2 of 3 live nodes; not yet seen by 33333333"])
    }

    @Test func aRestartThisNodeHasNotHeardOfFailsConvergence() {
        var snapshot = MeshFixture.healthy()
        snapshot.probes[MeshFixture.id(3)]?.outcome = .answered(MeshFixture.health(MeshFixture.id(3), epoch: 2), snapshot.instances)
        #expect(failures(Doctor.evaluate(snapshot)).map(\.message)
            == ["node 33333333 runs epoch 2 but this node holds its epoch 1 record: the restart has not spread yet"])
    }

    @Test func nodesDerivingDifferentPlansFail() {
        var snapshot = MeshFixture.healthy(instances: [MeshFixture.instance(runners: ["none"])])
        var other = snapshot.instances
        other.instances[0].planHash = "fff000"
        snapshot.probes[MeshFixture.id(2)]?.outcome = .answered(MeshFixture.health(MeshFixture.id(2)), other)
        let found = failures(Doctor.evaluate(snapshot))
        #expect(found.map(\.check) == ["plans"])
        #expect(found.first?.message == "node 22222222 derives inst-1 plan fff000, this node inst-1 plan abc123")
    }

    @Test(arguments: [
        ("none", DoctorFinding.Status.ok), ("ready", .ok), ("running", .ok),
        ("idle", .warn), ("connecting", .warn), ("loading", .warn), ("warmingUp", .warn),
        ("failed", .fail), ("shuttingDown", .fail), ("shutdown", .fail), ("exploded", .fail),
    ])
    func runnerStatesMapToOkWarnOrFail(runner: String, expected: DoctorFinding.Status) {
        let snapshot = MeshFixture.healthy(instances: [MeshFixture.instance(runners: ["ready", runner])])
        let finding = Doctor.instances(snapshot)
        #expect(finding.count == 1)
        #expect(finding.first?.status == expected)
        if expected != .ok { #expect(finding.first?.message.contains("rank 1 on 22222222: runner \(runner)") == true) }
    }

    @Test func aRankOnADeadNodeAndAnUnplacedIntentFail() {
        var snapshot = MeshFixture.healthy(instances: [MeshFixture.instance(runners: ["ready", "ready", "ready"])])
        MeshFixture.setLiveness("dead", of: 3, in: &snapshot)
        snapshot.instances.unplaced = [.init(id: "inst-2", model: "big", reason: "needs 40 GB, the mesh has 16 GB")]
        let messages = failures(Doctor.instances(snapshot)).map(\.message)
        #expect(messages == [
            "instance inst-1 (m), 3 ranks: rank 2 on 33333333: node is dead",
            "instance inst-2 (big) is not placed: needs 40 GB, the mesh has 16 GB",
        ])
    }

    @Test func aDifferentVersionOnAPeerIsAWarning() {
        var snapshot = MeshFixture.healthy()
        var health = MeshFixture.health(MeshFixture.id(2))
        health.version = "0.0.9"
        snapshot.probes[MeshFixture.id(2)]?.outcome = .answered(health, snapshot.instances)
        let warnings = Doctor.evaluate(snapshot).filter { $0.status == .warn }
        #expect(warnings.map(\.message) == ["node 22222222 answers at http://10.0.0.2:52415, up 2 min (version 0.0.9, this node runs 0.1.0)"])
    }

    /// The documents decode what a real node's routes answer, and a lone fresh node is healthy.
    @Test func aLoneFreshNodesOwnAnswersDecodeAndPass() async throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("exo-doctor-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: home) }
        let configuration = NodeConfiguration(
            home: home, modelsDirectory: home.appendingPathComponent("models"),
            apiHost: "127.0.0.1", apiPort: 0, meshPort: 0, logLevel: .error, useMDNS: false
        )
        let node = try await Node.start(configuration: configuration, logger: Logger(label: "test"))
        let app = Application(router: buildRouter(node: node, backend: EchoBackend()))
        try await app.test(.router) { client in
            func get<T: Decodable>(_ path: String, as: T.Type) async throws -> T {
                try await client.execute(uri: path, method: .get) { response in
                    #expect(response.status == .ok)
                    return try JSONDecoder().decode(T.self, from: Data(buffer: response.body))
                }
            }
            let snapshot = MeshSnapshot(
                health: try await get("/health", as: HealthDocument.self), peers: try await get("/peers", as: PeersResponse.self),
                state: try await get("/state", as: StateDocument.self), instances: try await get("/instances", as: InstancesDocument.self),
                probes: [:]
            )
            #expect(snapshot.health.node == node.identity.id.hex)
            let findings = Doctor.evaluate(snapshot)
            #expect(findings.allSatisfy { $0.status == .ok }, "\(findings)")
            #expect(findings.first { $0.check == "liveness" }?.message == "1 node known, all alive")
            _ = try await get("/v1/models", as: ModelListDocument.self)
        }
    }
}
