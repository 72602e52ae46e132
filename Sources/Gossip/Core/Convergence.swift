import Mesh

/// How far one node's current record has spread: how many live nodes' `seen` vectors cover its content stamp.
public struct Convergence: Codable, Equatable, Sendable {
    public var node: NodeID
    public var stamp: Stamp
    public var knownBy: Int
    public var liveNodes: Int
    /// Every live node's `seen` covers this record.
    public var isComplete: Bool { knownBy == liveNodes }
}

extension GossipInstance {
    /// Per-node convergence for `/state`, as seen from here: self's `seen` is its live vector, others' come
    /// from their last signed record (so it lags by up to `seenRefreshInterval` plus gossip time).
    public func convergence() -> [Convergence] {
        var seenBy: [[String: Stamp]] = [vector.reduce(into: [:]) { $0[$1.key.hex] = $1.value }]
        for member in members.values where member.liveness == .alive || member.liveness == .suspect {
            seenBy.append(member.record.seen)
        }
        // A record counts as known once its content is: a later `seen`-only refresh is not news.
        var subjects: [(NodeID, Stamp)] = [(id, ownRecord.contentStamp)]
        for (node, member) in members where member.liveness == .alive || member.liveness == .suspect {
            subjects.append((node, member.record.contentStamp))
        }
        return subjects.sorted { $0.0 < $1.0 }.map { node, stamp in
            let known = seenBy.count { seen in seen[node.hex].map { $0 >= stamp } ?? false }
            return Convergence(node: node, stamp: stamp, knownBy: known, liveNodes: seenBy.count)
        }
    }
}
