import Foundation
import Gossip
import Inference
import Logging
import Mesh

/// What a node's ranks need of a model it lacks, and who has it.
struct FetchRequest: Sendable {
    var model: String
    var sha256: String
    var sizeBytes: UInt64
    /// The piece-list root the sources advertise.
    var chunkRoot: String
    /// The layer ranges this node's ranks run (their bytes come first).
    var layers: [Range<Int>]
    /// Live peers that hold the file with that root.
    var sources: [NodeID]
}

enum FetchStatus: Sendable, Equatable {
    case fetching(verifiedBytes: UInt64, sizeBytes: UInt64)
    /// The header and the ranks' layers are verified at `path`; the rest of the file may still be coming.
    case usable(path: String)
    case complete(path: String)
    case failed(String)
}

/// Fetches model files from the peers that hold them, over the mesh links: a verified piece list first, then
/// 4 MiB pieces from every source at once (the ranks' bytes first), each checked against its digest on
/// arrival and written into a sparse partial file that survives restarts. A source that sends a bad piece is
/// dropped and reported; the piece is asked of another. The finished file is checked against its SHA-256
/// and moved into the models directory. Requests are paced by a byte-rate limit, at most two transfers run
/// at once, and at most `perPeerLimit` requests are outstanding per source (they wait in the link's bulk lane,
/// behind gossip and pipeline frames).
actor ModelFetcher {
    struct Settings: Sendable {
        var modelsDirectory: URL
        /// Bytes per second over all transfers; 0: no limit.
        var bytesPerSecond: Double
        var perPeerLimit = 4
        var concurrentTransfers = 2
        var requestTimeout = 20.0
        /// Seconds without a rank asking for a file before its fetch is paused (resumable).
        var pauseAfter = 30.0
        /// Seconds before a failed fetch (disk full, a file that does not match its digest) is tried again.
        var retryAfterFailure = 30.0
    }

    struct Hooks: Sendable {
        var send: @Sendable (TransferMessage, NodeID) async -> Bool
        /// A file is complete, verified and in the models directory.
        var completed: @Sendable (_ model: String, _ path: String, _ manifest: ModelManifest) async -> Void
        /// `peer` sent a piece that failed its digest.
        var corrupt: @Sendable (_ peer: NodeID, _ model: String, _ chunk: Int) async -> Void
        /// Progress worth publishing changed.
        var progress: @Sendable ([NodeRecord.Transfer]) async -> Void
    }

    private final class Transfer {
        let model: String
        let sha256: String
        let sizeBytes: UInt64
        let root: String
        let startedAt: ContinuousClock.Instant
        var layers: [Range<Int>] = []
        var sources: [NodeID] = []
        var file: PartialModel?
        var schedule: TransferSchedule?
        var manifestAsked: (request: UInt64, peer: NodeID, at: Double)?
        var manifestRotation = 0
        /// The file's header, parsed once the held prefix covers it.
        var gguf: GGUFFile?
        var verifying = false
        var finished: String?
        var failure: String?
        var fetchedBytes: UInt64 = 0
        var loggedTenth = -1
        /// When a rank last asked for this file (`ensure`); a fetch no rank wants any more is paused.
        var wantedAt: Double = 0
        /// The whole file's SHA-256, fed the held prefix as it grows, so the finished file is not read again.
        var wholeHash: SHA256Stream?
        var hashedPieces = 0

        init(model: String, sha256: String, sizeBytes: UInt64, root: String, startedAt: ContinuousClock.Instant) {
            self.model = model
            self.sha256 = sha256
            self.sizeBytes = sizeBytes
            self.root = root
            self.startedAt = startedAt
        }
    }

    private let settings: Settings
    private let hooks: Hooks
    private let logger: Logger
    private var transfers: [String: Transfer] = [:]
    /// Files this fetcher finished, by SHA-256: asked again (before the catalog lists them), they are not fetched again.
    private var completed: [String: String] = [:]
    /// Fetches that failed, by SHA-256, and when to try again.
    private var failures: [String: (reason: String, retryAt: Double)] = [:]
    private var order: [String] = []
    private var requests: [UInt64: (sha256: String, chunk: Int?, peer: NodeID)] = [:]
    private var nextRequest: UInt64 = 1
    private var bucket: TokenBucket
    private let clock = ContinuousClock()
    private let epoch = ContinuousClock.now
    private var published: [NodeRecord.Transfer] = []
    private var lastPublished: Double = -1

    init(settings: Settings, hooks: Hooks, logger: Logger) {
        self.settings = settings
        self.hooks = hooks
        self.logger = logger
        bucket = TokenBucket(bytesPerSecond: settings.bytesPerSecond, burst: Double(2 * ModelManifest.defaultChunkBytes))
    }

    private var now: Double {
        let d = clock.now - epoch
        return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }

    private var partialDirectory: URL { PartialModel.directory(in: settings.modelsDirectory) }

    // MARK: Requests from the node

    /// Starts or continues fetching `request.sha256` and says how far it is.
    func ensure(_ request: FetchRequest) async -> FetchStatus {
        if let path = completed[request.sha256], FileManager.default.fileExists(atPath: path) { return .complete(path: path) }
        if let failed = failures[request.sha256], now < failed.retryAt { return .failed(failed.reason) }
        let transfer: Transfer
        if let existing = transfers[request.sha256] {
            transfer = existing
        } else {
            transfer = Transfer(model: request.model, sha256: request.sha256, sizeBytes: request.sizeBytes, root: request.chunkRoot, startedAt: clock.now)
            transfers[request.sha256] = transfer
            order.append(request.sha256)
            logger.info("fetching model from peers", metadata: ["model": "\(request.model)", "sha256": "\(request.sha256.prefix(12))",
                                                                 "bytes": "\(request.sizeBytes)", "sources": "\(request.sources.count)"])
            resume(transfer)
        }
        transfer.wantedAt = now
        if let finished = transfer.finished { return .complete(path: finished) }
        if let failure = transfer.failure {
            // A failed transfer is forgotten once reported and started afresh after a pause (not every second).
            forget(transfer)
            failures[transfer.sha256] = (failure, now + settings.retryAfterFailure)
            return .failed(failure)
        }
        let newLayers = request.layers.filter { !transfer.layers.contains($0) }
        transfer.layers += newLayers
        transfer.sources = request.sources
        transfer.schedule?.setSources(request.sources.map(\.hex))
        if !newLayers.isEmpty { prioritizeRankBytes(transfer) }
        await pump(transfer)
        return status(of: transfer)
    }

    /// What every transfer has verified, for the node's record and `/state`.
    func snapshot() -> [NodeRecord.Transfer] {
        order.compactMap { transfers[$0] }.map(summary(of:))
    }

    /// Called about once a second: gives up requests that timed out and keeps transfers moving.
    func tick() async {
        for transfer in order.compactMap({ transfers[$0] }) {
            if now - transfer.wantedAt > settings.pauseAfter, !transfer.verifying {
                // The instance went away: stop, keeping what is verified on disk for a later fetch to resume.
                logger.info("pausing model fetch: no rank of this node needs it now", metadata: [
                    "model": "\(transfer.model)", "verified": "\(transfer.file?.heldBytes ?? 0) of \(transfer.sizeBytes) bytes",
                ])
                forget(transfer)
                continue
            }
            if let asked = transfer.manifestAsked, now - asked.at >= settings.requestTimeout {
                logger.warning("no piece list from peer, asking another", metadata: ["model": "\(transfer.model)", "peer": "\(asked.peer.short)"])
                transfer.manifestAsked = nil
                transfer.manifestRotation += 1
            }
            if let late = transfer.schedule?.expire(now: now), !late.isEmpty {
                logger.warning("piece requests timed out, asking other peers", metadata: ["model": "\(transfer.model)", "pieces": "\(late.map(\.chunk))"])
            }
            await pump(transfer)
        }
        await publish(force: false)
    }

    // MARK: Answers from peers

    /// An answer from `peer`. `digest` is the BLAKE2b-256 of a piece's bytes, computed by the caller off this actor.
    func receive(_ message: TransferMessage, payload: ArraySlice<UInt8>, digest: String? = nil, from peer: NodeID) async {
        switch message {
        case .manifest(let id, let manifest):
            guard let asked = requests.removeValue(forKey: id), asked.peer == peer, let transfer = transfers[asked.sha256] else { return }
            await received(manifest, for: transfer, from: peer)
        case .chunk(let id, let sha256, let chunk):
            guard let asked = requests.removeValue(forKey: id), asked.peer == peer, asked.sha256 == sha256, asked.chunk == chunk,
                  let transfer = transfers[sha256] else { return }
            await received(chunk: chunk, bytes: payload, digest: digest ?? Sodium.blake2b(payload), for: transfer, from: peer)
        case .refused(let id, _, _, let reason):
            guard let asked = requests.removeValue(forKey: id), asked.peer == peer, let transfer = transfers[asked.sha256] else { return }
            logger.debug("peer refused a transfer request: \(reason)", metadata: ["peer": "\(peer.short)", "model": "\(transfer.model)"])
            if let chunk = asked.chunk {
                transfer.schedule?.refused(chunk: chunk, by: peer.hex)
            } else {
                transfer.manifestAsked = nil
                transfer.manifestRotation += 1
            }
            // Asked again on the next tick, not at once: a busy peer is not hammered.
        case .manifestRequest, .chunkRequest:
            return
        }
    }

    // MARK: Steps

    private func resume(_ transfer: Transfer) {
        guard let saved = PartialModel.savedManifest(directory: partialDirectory, sha256: transfer.sha256),
              saved.invalidity(sha256: transfer.sha256, sizeBytes: transfer.sizeBytes, root: transfer.root) == nil
        else { return }
        adopt(saved, for: transfer)
        if let file = transfer.file {
            logger.info("resuming model fetch", metadata: ["model": "\(transfer.model)", "pieces": "\(file.heldCount) of \(saved.chunkCount) already verified"])
        }
    }

    private func received(_ manifest: ModelManifest, for transfer: Transfer, from peer: NodeID) async {
        transfer.manifestAsked = nil
        guard transfer.schedule == nil else { return }
        if let reason = manifest.invalidity(sha256: transfer.sha256, sizeBytes: transfer.sizeBytes, root: transfer.root) {
            logger.warning("peer sent a bad piece list: \(reason)", metadata: ["peer": "\(peer.short)", "model": "\(transfer.model)"])
            transfer.manifestRotation += 1
            await hooks.corrupt(peer, transfer.model, -1)
            return
        }
        adopt(manifest, for: transfer)
        await pump(transfer)
    }

    private func adopt(_ manifest: ModelManifest, for transfer: Transfer) {
        do {
            let file = try PartialModel(directory: partialDirectory, model: transfer.model, manifest: manifest)
            var schedule = TransferSchedule(chunkCount: manifest.chunkCount, have: file.held, perPeerLimit: settings.perPeerLimit,
                                            requestTimeout: settings.requestTimeout)
            schedule.setSources(transfer.sources.map(\.hex))
            transfer.file = file
            transfer.schedule = schedule
            prioritizeRankBytes(transfer)
        } catch {
            transfer.failure = "\(error)"
            logger.error("cannot store fetched model: \(error)", metadata: ["model": "\(transfer.model)"])
        }
    }

    private func received(chunk: Int, bytes: ArraySlice<UInt8>, digest: String, for transfer: Transfer, from peer: NodeID) async {
        guard let file = transfer.file, var schedule = transfer.schedule, file.manifest.chunks.indices.contains(chunk) else { return }
        let valid = bytes.count == file.manifest.range(ofChunk: chunk).count && digest == file.manifest.chunks[chunk]
        let arrival = schedule.arrived(chunk: chunk, from: peer.hex, valid: valid)
        transfer.schedule = schedule
        switch arrival {
        case .write:
            do {
                try file.write(chunk: chunk, bytes: bytes)
                transfer.schedule?.stored(chunk: chunk)
                transfer.fetchedBytes += UInt64(bytes.count)
                advanceWholeHash(transfer, latest: chunk, bytes: bytes)
            } catch {
                transfer.schedule?.refused(chunk: chunk, by: peer.hex)
                logger.error("cannot write fetched piece: \(error)", metadata: ["model": "\(transfer.model)"])
            }
            if transfer.gguf == nil { prioritizeRankBytes(transfer) }
            logProgress(transfer)
            await publish(force: false)
        case .corrupt:
            logger.warning("peer sent a piece that fails its digest; dropping it as a source", metadata: [
                "peer": "\(peer.short)", "model": "\(transfer.model)", "piece": "\(chunk)",
            ])
            await hooks.corrupt(peer, transfer.model, chunk)
        case .duplicate, .unsolicited:
            break
        }
        await pump(transfer)
    }

    /// Feeds the whole-file hash every piece of the held prefix not yet in it (the one just received from
    /// memory, earlier ones read back from the page cache).
    private func advanceWholeHash(_ transfer: Transfer, latest: Int, bytes: ArraySlice<UInt8>) {
        guard let file = transfer.file, let prefix = transfer.schedule?.heldPrefix else { return }
        if transfer.wholeHash == nil {
            transfer.wholeHash = SHA256Stream()
            transfer.hashedPieces = 0
        }
        while transfer.hashedPieces < prefix, let hash = transfer.wholeHash {
            let index = transfer.hashedPieces
            if index == latest {
                hash.update(bytes)
            } else if let stored = try? file.read(chunk: index) {
                hash.update(stored)
            } else {
                transfer.wholeHash = nil  // read back at the end instead
                return
            }
            transfer.hashedPieces += 1
        }
    }

    /// Marks the pieces the ranks read as first in line: the header until it parses from the held prefix,
    /// then every piece of the ranks' tensors.
    private func prioritizeRankBytes(_ transfer: Transfer) {
        guard let file = transfer.file, var schedule = transfer.schedule else { return }
        defer { transfer.schedule = schedule }
        if transfer.gguf == nil {
            let prefix = schedule.heldPrefix
            let prefixBytes = prefix == schedule.chunkCount ? file.manifest.sizeBytes : UInt64(prefix) * UInt64(file.manifest.chunkBytes)
            // Parsing reads past the held prefix only when the header goes on beyond it, and then its end lies past it.
            if prefix > 0, let gguf = try? GGUFFile(path: file.dataPath), UInt64(gguf.dataStart) <= prefixBytes {
                transfer.gguf = gguf
            } else {
                schedule.prioritize([min(prefix, schedule.chunkCount - 1)])
                return
            }
        }
        guard let gguf = transfer.gguf else { return }
        for layers in transfer.layers {
            for range in RankBytes.ranges(of: gguf, layers: layers) {
                schedule.prioritize(file.manifest.chunks(covering: range))
            }
        }
    }

    /// Sends what the schedule allows; finishes a complete transfer.
    private func pump(_ transfer: Transfer) async {
        guard transfer.finished == nil, transfer.failure == nil, !transfer.verifying else { return }
        guard var schedule = transfer.schedule else {
            await askForManifest(transfer)
            return
        }
        if schedule.isComplete {
            await verifyAndInstall(transfer)
            return
        }
        // Only the oldest transfers move; the others wait their turn.
        let running = order.compactMap { transfers[$0] }.filter { $0.finished == nil && $0.failure == nil }.prefix(settings.concurrentTransfers)
        guard running.contains(where: { $0 === transfer }) else { return }
        let batch = schedule.nextRequests(limit: settings.perPeerLimit * max(1, transfer.sources.count))
        var sent: [TransferSchedule.Request] = []
        var delays: [Double] = []
        for request in batch {
            let bytes = transfer.file.map { Int($0.manifest.range(ofChunk: request.chunk).count) } ?? 0
            delays.append(bucket.take(bytes, now: now))
            sent.append(request)
        }
        schedule.sent(sent, at: now + (delays.max() ?? 0))
        transfer.schedule = schedule
        for (request, delay) in zip(sent, delays) {
            guard let peer = NodeID(hex: request.peer) else { continue }
            let id = nextRequest
            nextRequest += 1
            requests[id] = (transfer.sha256, request.chunk, peer)
            let message = TransferMessage.chunkRequest(request: id, sha256: transfer.sha256, chunk: request.chunk)
            if delay > 0 {
                Task { [hooks] in
                    try? await Task.sleep(for: .seconds(delay))
                    if await !hooks.send(message, peer) { await self.sendFailed(id) }
                }
            } else if await !hooks.send(message, peer) {
                sendFailed(id)
            }
        }
    }

    private func sendFailed(_ id: UInt64) {
        guard let asked = requests.removeValue(forKey: id), let chunk = asked.chunk, let transfer = transfers[asked.sha256] else { return }
        transfer.schedule?.refused(chunk: chunk, by: asked.peer.hex)
    }

    private func askForManifest(_ transfer: Transfer) async {
        guard transfer.manifestAsked == nil, !transfer.sources.isEmpty else { return }
        let peer = transfer.sources.sorted()[transfer.manifestRotation % transfer.sources.count]
        let id = nextRequest
        nextRequest += 1
        requests[id] = (transfer.sha256, nil, peer)
        transfer.manifestAsked = (id, peer, now)
        if await !hooks.send(.manifestRequest(request: id, sha256: transfer.sha256), peer) {
            requests[id] = nil
            transfer.manifestAsked = nil
            transfer.manifestRotation += 1
        }
    }

    private func verifyAndInstall(_ transfer: Transfer) async {
        guard let file = transfer.file else { return }
        transfer.verifying = true
        let path = file.dataPath
        let digest: String?
        if let hash = transfer.wholeHash, transfer.hashedPieces == file.manifest.chunkCount {
            digest = hash.finish()
            transfer.wholeHash = nil
        } else {
            digest = await Task.detached(priority: .utility) { try? Sodium.sha256(fileAt: path) }.value
        }
        transfer.verifying = false
        guard digest == transfer.sha256 else {
            logger.error("fetched model does not match its digest; discarding it", metadata: ["model": "\(transfer.model)", "got": "\(digest ?? "unreadable")"])
            file.discard()
            transfer.failure = "the fetched file's SHA-256 is \(digest ?? "unreadable"), not \(transfer.sha256)"
            return
        }
        let destination = settings.modelsDirectory.appendingPathComponent("\(transfer.model).gguf").path
        var finalPath = file.dataPath
        if !FileManager.default.fileExists(atPath: destination) {
            do {
                try file.finish(at: destination)
                finalPath = destination
            } catch {
                logger.warning("keeping the fetched model in the partial directory: \(error)", metadata: ["model": "\(transfer.model)"])
            }
        }
        transfer.finished = finalPath
        completed[transfer.sha256] = finalPath
        let seconds = max(0.001, Double((clock.now - transfer.startedAt).components.seconds) + Double((clock.now - transfer.startedAt).components.attoseconds) * 1e-18)
        logger.info("model fetched and verified", metadata: [
            "model": "\(transfer.model)", "path": "\(finalPath)", "bytes": "\(transfer.fetchedBytes)",
            "seconds": "\(String(format: "%.2f", seconds))", "MB/s": "\(String(format: "%.1f", Double(transfer.fetchedBytes) / seconds / 1e6))",
        ])
        await hooks.completed(transfer.model, finalPath, file.manifest)
        forget(transfer)
        await publish(force: true)
    }

    private func forget(_ transfer: Transfer) {
        transfers[transfer.sha256] = nil
        order.removeAll { $0 == transfer.sha256 }
        requests = requests.filter { $0.value.sha256 != transfer.sha256 }
    }

    // MARK: Reporting

    private func status(of transfer: Transfer) -> FetchStatus {
        transfer.wantedAt = now
        if let finished = transfer.finished { return .complete(path: finished) }
        if let failure = transfer.failure { return .failed(failure) }
        guard let file = transfer.file, let schedule = transfer.schedule else { return .fetching(verifiedBytes: 0, sizeBytes: transfer.sizeBytes) }
        if transfer.gguf != nil, schedule.prioritySatisfied { return .usable(path: file.dataPath) }
        return .fetching(verifiedBytes: file.heldBytes, sizeBytes: transfer.sizeBytes)
    }

    private func summary(of transfer: Transfer) -> NodeRecord.Transfer {
        let ready: Bool
        switch status(of: transfer) {
        case .usable, .complete: ready = true
        default: ready = false
        }
        return .init(model: transfer.model, sha256: transfer.sha256, sizeBytes: transfer.sizeBytes,
                     verifiedBytes: transfer.finished != nil ? transfer.sizeBytes : transfer.file?.heldBytes ?? 0, ranksReady: ready)
    }

    private func logProgress(_ transfer: Transfer) {
        guard let file = transfer.file else { return }
        let tenth = Int(file.heldBytes * 10 / max(1, transfer.sizeBytes))
        guard tenth > transfer.loggedTenth else { return }
        transfer.loggedTenth = tenth
        logger.info("model fetch progress", metadata: ["model": "\(transfer.model)", "percent": "\(tenth * 10)",
                                                        "pieces": "\(file.heldCount)/\(file.manifest.chunkCount)", "sources": "\(transfer.sources.count)"])
    }

    /// Publishes progress at most once a second, and at once when a transfer's readiness changed or it ended.
    private func publish(force: Bool) async {
        let current = snapshot()
        guard current != published else { return }
        let readinessChanged = current.map(\.ranksReady) != published.map(\.ranksReady) || current.count != published.count
        guard force || readinessChanged || now - lastPublished >= 1 else { return }
        published = current
        lastPublished = now
        await hooks.progress(current)
    }
}
