import Foundation
import Gossip
import Placement

/// Instances without a master: a proposal is an intent in this node's own signed record, a removal a
/// tombstone in it; what is active is derived by every node from everything gossiped (`InstanceView`).
extension Node {
    enum InstanceRequestError: Error, Equatable {
        case unknownModel(String, available: [String])
        case unknownInstance(String)
    }

    func instanceView() async -> InstanceView {
        let own = await gossip.ownRecord
        var records: [(record: NodeRecord, alive: Bool)] = [(own, true)]
        for (id, member) in await gossip.members where id != identity.id {
            records.append((member.record, member.liveness == .alive || member.liveness == .suspect))
        }
        return InstanceView.derive(from: records)
    }

    /// Models some live node holds, with the shape placement needs.
    func placeableModels() async -> [String] {
        var ids: Set<String> = Set((await gossip.ownRecord).models.filter { $0.shape != nil }.map(\.id))
        for member in (await gossip.members).values where member.liveness == .alive || member.liveness == .suspect {
            ids.formUnion(member.record.models.filter { $0.shape != nil }.map(\.id))
        }
        return ids.sorted()
    }

    /// Adds an intent to this node's record and returns its id; the instance appears in every
    /// node's derived view as the record spreads.
    func proposeInstance(model: String, policy: PlacementPolicy.Strategy, minNodes: Int?, maxNodes: Int?) async throws -> String {
        let available = await placeableModels()
        guard available.contains(model) else { throw InstanceRequestError.unknownModel(model, available: available) }
        let id = "inst-" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        let intent = NodeRecord.InstanceIntent(
            id: id, model: model, policy: policy.rawValue, minNodes: minNodes, maxNodes: maxNodes,
            createdAt: UInt64(Date().timeIntervalSince1970 * 1000), proposer: identity.id
        )
        try await gossip.updateRecord { $0.intents.append(intent) }
        return id
    }

    /// Withdraws an instance: drops our own intent, and tombstones the id so intents of other nodes
    /// with it stop counting too.
    func removeInstance(_ id: String) async throws {
        let known = await allIntentIDs()
        guard known.contains(id) else { throw InstanceRequestError.unknownInstance(id) }
        try await gossip.updateRecord { record in
            record.intents.removeAll { $0.id == id }
            var tombstones = record.tombstones ?? []
            if !tombstones.contains(id) { tombstones.append(id) }
            record.tombstones = tombstones
        }
    }

    private func allIntentIDs() async -> Set<String> {
        var ids = Set((await gossip.ownRecord).intents.map(\.id))
        for member in (await gossip.members).values { ids.formUnion(member.record.intents.map(\.id)) }
        return ids
    }

    /// An intent lives in its proposer's record, which is pruned a minute after the proposer dies or
    /// leaves. So that the instance outlives its proposer, the live node with the lowest id copies such
    /// intents into its own record, unchanged (same id, time and proposer): derivation counts an id once,
    /// so the copy changes no plan, and one adopter means no churn.
    func adoptOrphanedIntents() async {
        let own = await gossip.ownRecord
        var alive: Set<String> = [own.node.hex]
        var orphaned: [NodeRecord.InstanceIntent] = []
        var tombstones = Set(own.tombstones ?? [])
        for member in (await gossip.members).values {
            tombstones.formUnion(member.record.tombstones ?? [])
            if (member.liveness == .alive || member.liveness == .suspect) && !member.record.leaving {
                alive.insert(member.record.node.hex)
            } else {
                orphaned += member.record.intents
            }
        }
        guard alive.min() == own.node.hex else { return }
        let held = Set(own.intents.map(\.id))
        var adopted: [NodeRecord.InstanceIntent] = []
        for intent in orphaned where !held.contains(intent.id) && !tombstones.contains(intent.id) && !adopted.contains(where: { $0.id == intent.id }) {
            adopted.append(intent)
        }
        guard !adopted.isEmpty else { return }
        logger.info("adopting instances whose proposer is gone", metadata: ["instances": "\(adopted.map(\.id).joined(separator: ","))"])
        let copies = adopted
        try? await gossip.updateRecord { $0.intents += copies }
    }
}
