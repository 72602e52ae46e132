import Mesh
@testable import Gossip

/// Small helpers shared by the gossip tests.
enum Fixture {
    static func simulatedID(_ n: UInt64) -> NodeID {
        var rng = SeededRandom(seed: n)
        let hex = (0..<4).map { _ in String(rng.next(), radix: 16).leftPadded(to: 16) }.joined()
        return NodeID(hex: hex)!
    }

    static func instance(_ n: UInt64, settings: GossipSettings = GossipSettings(), now: Duration = .zero) throws -> GossipInstance {
        let id = simulatedID(n)
        return try GossipInstance(record: NodeRecord(node: id, epoch: 1), signer: SimulatedSigner(nodeID: id),
                                  verifier: SimulatedVerifier(), settings: settings, now: now, random: SeededRandom(seed: n))
    }

    static func sent(_ directives: [GossipDirective]) -> [(GossipMessage, NodeID)] {
        directives.compactMap { if case .send(let m, let to) = $0 { (m, to) } else { nil } }
    }

    static func records(_ directives: [GossipDirective], to peer: NodeID? = nil) -> [SignedRecord] {
        sent(directives).flatMap { message, to -> [SignedRecord] in
            guard peer == nil || peer == to, case .records(let r, _) = message.body else { return [] }
            return r
        }
    }

    /// Advances `instance` by ticks of 100 ms to `end`, collecting directives.
    static func tick(_ instance: inout GossipInstance, from start: Duration, to end: Duration) -> [GossipDirective] {
        var out: [GossipDirective] = []
        var t = start
        while t <= end {
            out += instance.tick(now: t)
            t += .milliseconds(100)
        }
        return out
    }
}
