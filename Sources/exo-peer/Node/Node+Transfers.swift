import Foundation
import Gossip
import Mesh

/// Model files move between nodes: a node placed on a model it lacks fetches it from the peers that hold
/// it (`ModelFetcher`), and serves its own files to peers that ask (`ModelServer`).
extension Node {
    func receiveTransfer(_ bytes: [UInt8], from peer: NodeID) async {
        let decoded: (message: TransferMessage, payload: ArraySlice<UInt8>)
        do {
            decoded = try TransferMessage.decode(bytes)
        } catch {
            logger.warning("dropped transfer message", metadata: ["peer": "\(peer.short)", "reason": "\(error)"])
            return
        }
        switch decoded.message {
        case .manifestRequest, .chunkRequest:
            await modelServer.receive(decoded.message, from: peer)
        case .chunk:
            let digest = Sodium.blake2b(decoded.payload)
            await fetcher.receive(decoded.message, payload: decoded.payload, digest: digest, from: peer)
        case .manifest, .refused:
            await fetcher.receive(decoded.message, payload: decoded.payload, from: peer)
        }
    }

    /// The file a rank of `model` running `layers` reads, fetching it when needed: `path` once the header is
    /// verified, `ready` once the rank's bytes are too. Nil when no live peer holds the model (or the fetch failed
    /// and starts again on the next pass).
    func fetchWeights(of model: String, layers: Range<Int>) async -> (path: String?, ready: Bool)? {
        var copies: [String: (file: NodeRecord.ModelOnDisk, holders: [NodeID])] = [:]
        for member in (await gossip.members).values where member.liveness == .alive && !member.record.leaving {
            for file in member.record.models where file.id == model && file.chunkRoot != nil {
                let key = "\(file.sha256) \(file.chunkRoot ?? "")"
                copies[key, default: (file, [])].holders.append(member.record.node)
            }
        }
        // The copy most peers hold (then the lowest digest), so nodes fetching the same model agree on one.
        guard let (file, holders) = copies.values.sorted(by: { ($1.holders.count, $0.file.sha256) < ($0.holders.count, $1.file.sha256) }).first,
              let root = file.chunkRoot
        else {
            logger.warning("placed on this node but no live peer holds the model", metadata: ["model": "\(model)"])
            return nil
        }
        let request = FetchRequest(model: model, sha256: file.sha256, sizeBytes: file.sizeBytes, chunkRoot: root, layers: [layers], sources: holders)
        switch await fetcher.ensure(request) {
        case .fetching: return (nil, false)
        case .usable(let path), .complete(let path): return (path, true)
        case .failed(let reason):
            logger.warning("fetching the model failed; starting again: \(reason)", metadata: ["model": "\(model)"])
            return nil
        }
    }
}
