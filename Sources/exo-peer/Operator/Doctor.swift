import Gossip

/// Everything `exo-peer doctor` gathered from the mesh, as decoded documents. The checks read only
/// this, so they run the same on a live mesh and in tests.
struct MeshSnapshot: Sendable {
    /// The asked node's answers.
    var health: HealthDocument
    var peers: PeersResponse
    var state: StateDocument
    var instances: InstancesDocument
    /// What every other live node answered when asked directly, by node id.
    var probes: [String: PeerProbe]
}

/// A peer asked directly at the API address it gossips.
struct PeerProbe: Sendable, Equatable {
    var url: String
    var outcome: Outcome

    enum Outcome: Sendable, Equatable {
        /// `/health`, and `/instances` when that answered too.
        case answered(HealthDocument, InstancesDocument?)
        case unreachable(String)
    }
}

/// One line of the doctor's report.
struct DoctorFinding: Codable, Sendable, Equatable {
    enum Status: String, Codable, Sendable, Comparable {
        case ok, warn, fail
        static func < (a: Status, b: Status) -> Bool { a.rank < b.rank }
        private var rank: Int {
            switch self {
            case .ok: 0
            case .warn: 1
            case .fail: 2
            }
        }
    }

    var check: String
    var status: Status
    var message: String
}

/// The doctor's checks: pure functions from a snapshot to findings, one group per concern.
enum Doctor {
    /// Runner states on the way to ready: fine for a while, but not serving yet.
    static let startingRunnerStates: Set<String> = ["idle", "connecting", "connected", "loading", "loaded", "warmingUp"]
    static let servingRunnerStates: Set<String> = ["ready", "running"]

    static func evaluate(_ snapshot: MeshSnapshot) -> [DoctorFinding] {
        node(snapshot) + liveness(snapshot) + reachability(snapshot) + health(snapshot)
            + convergence(snapshot) + planAgreement(snapshot) + instances(snapshot)
    }

    /// The node asked answers, and its three documents speak for the same node.
    static func node(_ s: MeshSnapshot) -> [DoctorFinding] {
        let id = s.health.node
        guard s.health.status == "ok" else {
            return [.init(check: "node", status: .fail, message: "node \(id.shortNodeID) reports status '\(s.health.status)'")]
        }
        guard s.peers.node == id, s.state.node == id else {
            return [.init(check: "node", status: .fail, message: "/health, /peers and /state name different nodes (\(id.shortNodeID), \(s.peers.node.shortNodeID), \(s.state.node.shortNodeID)): is a proxy in front of several nodes?")]
        }
        return [.init(check: "node", status: .ok, message: "node \(id.shortNodeID) answers: version \(s.health.version), epoch \(s.health.epoch), up \(duration(s.health.uptimeSeconds))")]
    }

    /// Every known node alive; the dead, suspect and departed named.
    static func liveness(_ s: MeshSnapshot) -> [DoctorFinding] {
        var findings: [DoctorFinding] = []
        for peer in sortedPeers(s) where peer.liveness != "alive" {
            let heard = peer.lastHeardSeconds.map { ", last heard \(duration($0)) ago" } ?? ""
            switch peer.liveness {
            case "dead":
                findings.append(.init(check: "liveness", status: .fail, message: "node \(peer.id.shortNodeID) (\(peer.address)) is dead\(heard)"))
            case "suspect":
                findings.append(.init(check: "liveness", status: .warn, message: "node \(peer.id.shortNodeID) (\(peer.address)) is suspect: not answering probes\(heard)"))
            case "left":
                findings.append(.init(check: "liveness", status: .warn, message: "node \(peer.id.shortNodeID) (\(peer.address)) left the mesh (shut down cleanly)"))
            default:
                findings.append(.init(check: "liveness", status: .fail, message: "node \(peer.id.shortNodeID) has unknown liveness '\(peer.liveness)'"))
            }
        }
        let alive = s.peers.peers.count { $0.liveness == "alive" }
        if findings.isEmpty {
            findings.append(.init(check: "liveness", status: .ok, message: "\(alive) node\(alive == 1 ? "" : "s") known, all alive"))
        }
        return findings
    }

    /// Every other live node answers `/health` at the address it gossips, as itself.
    static func reachability(_ s: MeshSnapshot) -> [DoctorFinding] {
        var findings: [DoctorFinding] = []
        for peer in sortedPeers(s) where !peer.isSelf && Liveness.isUp(peer.liveness) {
            let name = "node \(peer.id.shortNodeID)"
            guard let probe = s.probes[peer.id] else {
                findings.append(.init(check: "reachable", status: .fail, message: "\(name) was not asked (no API address gossiped)"))
                continue
            }
            switch probe.outcome {
            case .unreachable(let error):
                findings.append(.init(check: "reachable", status: .fail, message: "\(name) does not answer at \(probe.url): \(error)"))
            case .answered(let health, _) where health.node != peer.id:
                findings.append(.init(check: "reachable", status: .fail, message: "\(probe.url) answers as node \(health.node.shortNodeID), not \(peer.id.shortNodeID): two nodes share an address?"))
            case .answered(let health, _) where health.status != "ok":
                findings.append(.init(check: "reachable", status: .fail, message: "\(name) at \(probe.url) reports status '\(health.status)'"))
            case .answered(let health, _):
                let versionNote = health.version == s.health.version ? "" : " (version \(health.version), this node runs \(s.health.version))"
                findings.append(.init(check: "reachable", status: health.version == s.health.version ? .ok : .warn,
                                      message: "\(name) answers at \(probe.url), up \(duration(health.uptimeSeconds))\(versionNote)"))
            }
        }
        return findings
    }

    /// Each live node's gossiped health: process alive, full score, no recent errors.
    static func health(_ s: MeshSnapshot) -> [DoctorFinding] {
        var findings: [DoctorFinding] = []
        for member in sortedMembers(s) where Liveness.isUp(member.liveness) {
            let h = member.record.health
            let name = "node \(member.id.shortNodeID)"
            if !h.processAlive {
                findings.append(.init(check: "health", status: .fail, message: "\(name): its supervisor reports the process dead"))
            } else if !h.recentErrors.isEmpty {
                let last = h.recentErrors.last ?? ""
                findings.append(.init(check: "health", status: .fail, message: "\(name): score \(score(h.score)), \(h.recentErrors.count) recent error\(h.recentErrors.count == 1 ? "" : "s"), last: \(last)"))
            } else if h.score < 1 {
                findings.append(.init(check: "health", status: .fail, message: "\(name): score \(score(h.score)) (a resource is degraded or failed)"))
            }
        }
        if findings.isEmpty {
            let count = s.state.members.count { Liveness.isUp($0.liveness) }
            findings.append(.init(check: "health", status: .ok, message: "\(count) live node\(count == 1 ? "" : "s") healthy: score 1.00, no recent errors"))
        }
        return findings
    }

    /// Every live node's `seen` vector covers every live record's current content, and every node
    /// asked directly runs the epoch this node's view holds for it (else a restart has not spread).
    static func convergence(_ s: MeshSnapshot) -> [DoctorFinding] {
        var findings: [DoctorFinding] = []
        let live = sortedMembers(s).filter { Liveness.isUp($0.liveness) }
        for entry in s.state.convergence.sorted(by: { $0.node < $1.node }) where entry.knownBy < entry.liveNodes {
            // The asked node's own seen vector is live, its record's lags: name only the others.
            let behind = live.filter { $0.id != s.state.node && ($0.record.seen[entry.node].map { $0 < entry.stamp } ?? true) && $0.id != entry.node }
            let names = behind.isEmpty ? "" : "; not yet seen by \(behind.map { $0.id.shortNodeID }.joined(separator: ", "))"
            findings.append(.init(check: "convergence", status: .fail,
                                  message: "record of node \(entry.node.shortNodeID) (\(entry.stamp)) known by \(entry.knownBy) of \(entry.liveNodes) live nodes\(names)"))
        }
        let epochs = Dictionary(s.state.members.map { ($0.id, $0.record.epoch) }, uniquingKeysWith: { a, _ in a })
        for (id, probe) in s.probes.sorted(by: { $0.key < $1.key }) {
            guard case .answered(let health, _) = probe.outcome, health.node == id, let held = epochs[id], held != health.epoch else { continue }
            findings.append(.init(check: "convergence", status: .fail,
                                  message: "node \(id.shortNodeID) runs epoch \(health.epoch) but this node holds its epoch \(held) record: the restart has not spread yet"))
        }
        if findings.isEmpty {
            findings.append(.init(check: "convergence", status: .ok,
                                  message: "\(s.state.convergence.count) record\(s.state.convergence.count == 1 ? "" : "s") known by all \(live.count) live node\(live.count == 1 ? "" : "s")"))
        }
        return findings
    }

    /// Leaderless placement works only if every node derives the same instances and plans.
    static func planAgreement(_ s: MeshSnapshot) -> [DoctorFinding] {
        let mine = plans(s.instances)
        var findings: [DoctorFinding] = []
        var compared = 0
        for (id, probe) in s.probes.sorted(by: { $0.key < $1.key }) {
            guard case .answered(_, let theirs?) = probe.outcome else { continue }
            compared += 1
            let other = plans(theirs)
            if other != mine {
                findings.append(.init(check: "plans", status: .fail,
                                      message: "node \(id.shortNodeID) derives \(describe(other)), this node \(describe(mine))"))
            }
        }
        if findings.isEmpty && compared > 0 {
            findings.append(.init(check: "plans", status: .ok, message: "\(compared + 1) nodes derive the same instances and plans"))
        }
        return findings
    }

    /// Each instance's ranks are on live nodes and their runners are serving (or not started by a
    /// build without runners); every intent is placed.
    static func instances(_ s: MeshSnapshot) -> [DoctorFinding] {
        let liveness = Dictionary(s.peers.peers.map { ($0.id, $0.liveness) }, uniquingKeysWith: { a, _ in a })
        var findings: [DoctorFinding] = []
        for instance in s.instances.instances.sorted(by: { $0.id < $1.id }) {
            var problems: [String] = []
            var worst = DoctorFinding.Status.ok
            for rank in instance.ranks {
                let where_ = "rank \(rank.rank) on \(rank.node.shortNodeID)"
                let nodeLiveness = liveness[rank.node] ?? "unknown"
                if nodeLiveness != "alive" {
                    problems.append("\(where_): node is \(nodeLiveness)")
                    worst = max(worst, nodeLiveness == "suspect" ? .warn : .fail)
                }
                switch rank.runner {
                case "none": break // no state gossiped yet (the rank's node has not started its runner)
                case let state where servingRunnerStates.contains(state): break
                case let state where startingRunnerStates.contains(state):
                    problems.append("\(where_): runner \(state)")
                    worst = max(worst, .warn)
                default:
                    problems.append("\(where_): runner \(rank.runner)")
                    worst = max(worst, .fail)
                }
            }
            let ranks = instance.ranks.map { "\($0.node.shortNodeID) layers \($0.layerStart)..<\($0.layerEnd) \($0.runner)" }.joined(separator: ", ")
            let head = "instance \(instance.id) (\(instance.model)), \(instance.ranks.count) rank\(instance.ranks.count == 1 ? "" : "s")"
            let message = problems.isEmpty
                ? "\(head): \(ranks)"
                : "\(head): \(problems.joined(separator: "; "))"
            findings.append(.init(check: "instances", status: worst, message: message))
        }
        for unplaced in s.instances.unplaced.sorted(by: { $0.id < $1.id }) {
            findings.append(.init(check: "instances", status: .fail, message: "instance \(unplaced.id) (\(unplaced.model)) is not placed: \(unplaced.reason)"))
        }
        if findings.isEmpty {
            findings.append(.init(check: "instances", status: .ok, message: "no instances proposed"))
        }
        return findings
    }

    // MARK: - helpers

    private static func plans(_ document: InstancesDocument) -> [String: String] {
        Dictionary(document.instances.map { ($0.id, $0.planHash) }, uniquingKeysWith: { a, _ in a })
    }

    private static func describe(_ plans: [String: String]) -> String {
        plans.isEmpty ? "no instances" : plans.sorted { $0.key < $1.key }.map { "\($0.key) plan \($0.value.prefix(12))" }.joined(separator: ", ")
    }

    private static func sortedPeers(_ s: MeshSnapshot) -> [PeerSummary] {
        s.peers.peers.sorted { ($0.isSelf ? 0 : 1, $0.id) < ($1.isSelf ? 0 : 1, $1.id) }
    }

    private static func sortedMembers(_ s: MeshSnapshot) -> [StateDocument.Member] {
        s.state.members.sorted { ($0.id == s.state.node ? 0 : 1, $0.id) < ($1.id == s.state.node ? 0 : 1, $1.id) }
    }

    static func duration(_ seconds: Double) -> String {
        switch seconds {
        case ..<60: String(format: "%.1f s", seconds)
        case ..<3600: String(format: "%.0f min", seconds / 60)
        case ..<86400: String(format: "%.1f h", seconds / 3600)
        default: String(format: "%.1f d", seconds / 86400)
        }
    }

    private static func score(_ value: Double) -> String { String(format: "%.2f", value) }
}

/// The report as people and scripts read it.
struct DoctorReport: Encodable, Sendable {
    var node: String
    var findings: [DoctorFinding]
    var healthy: Bool

    init(node: String, findings: [DoctorFinding], strict: Bool) {
        self.node = node
        self.findings = findings
        healthy = findings.allSatisfy { $0.status == .ok || (!strict && $0.status == .warn) }
    }

    /// One line per finding, `✓`/`!`/`✗` and the check's name, then a verdict naming the failures.
    func render() -> String {
        let width = findings.map(\.check.count).max() ?? 0
        var lines = findings.map { finding in
            let mark = switch finding.status {
            case .ok: "✓"
            case .warn: "!"
            case .fail: "✗"
            }
            return "\(mark) \(finding.check.padding(toLength: width, withPad: " ", startingAt: 0))  \(finding.message)"
        }
        let failures = findings.count { $0.status == .fail }, warnings = findings.count { $0.status == .warn }
        lines.append("")
        if healthy {
            lines.append("OK: the mesh looks healthy" + (warnings > 0 ? " (\(warnings) warning\(warnings == 1 ? "" : "s"))" : ""))
        } else {
            let counts = [failures > 0 ? "\(failures) failed" : nil, warnings > 0 ? "\(warnings) warning\(warnings == 1 ? "" : "s")" : nil].compactMap { $0 }
            lines.append("FAIL: \(counts.joined(separator: ", ")) (see ✗\(warnings > 0 ? " and !" : "") above)")
        }
        return lines.joined(separator: "\n")
    }
}
