import Foundation
import Gossip
import Inference
import Logging
import Mesh
import ServiceLifecycle

/// One exo-peer node: identity, mesh links, discovery and the gossiped view of the cluster.
/// The pieces only talk through this actor, which wires streams between them.
actor Node: Service {
    nonisolated let identity: NodeIdentity
    nonisolated let configuration: NodeConfiguration
    nonisolated let startedAt: Date
    nonisolated let metrics = NodeMetrics()
    nonisolated let catalog: ModelCatalog
    let mesh: MeshNode
    let gossip: GossipNode
    /// Chat from this node's disk when no instance of the model is ready.
    nonisolated let local: LocalBackend
    nonisolated let supervisor: RunnerSupervisor
    nonisolated let driver: PipelineDriver
    nonisolated let relay: ChatRelay
    nonisolated let router: PipelineRouter
    /// Model files fetched from peers, and this node's files served to them.
    nonisolated let fetcher: ModelFetcher
    nonisolated let modelServer: ModelServer
    /// This node's complete model files, as last scanned (what `modelServer` may serve).
    nonisolated let heldFiles: HeldModelFiles
    /// The file each model this node runs a rank of is read from (a partial one while it is fetched).
    var rankModelPaths: [String: String] = [:]
    private let discovery: (any Discovery)?
    let logger: Logger
    /// Mesh addresses already handed to the mesh to keep a link to.
    private var dialed: Set<PeerAddress> = []
    /// Tokenizers of the models this node drives instances of, by file path.
    var codecs: [String: TextCodec] = [:]
    /// Wakes the runner reconciliation (coalesced: a burst of gossip is one pass).
    nonisolated let nudges: AsyncStream<Void>
    nonisolated let nudge: AsyncStream<Void>.Continuation

    private init(identity: NodeIdentity, configuration: NodeConfiguration, mesh: MeshNode, gossip: GossipNode,
                 discovery: (any Discovery)?, catalog: ModelCatalog, logger: Logger) {
        self.identity = identity
        self.configuration = configuration
        self.startedAt = Date()
        self.mesh = mesh
        self.gossip = gossip
        self.discovery = discovery
        self.catalog = catalog
        self.logger = logger
        let metrics = self.metrics
        local = LocalBackend(catalog: catalog, metrics: metrics, threads: configuration.threads)
        let router = PipelineRouter(me: identity.id, mesh: mesh, logger: logger)
        self.router = router
        let me = identity.id.hex
        let supervisor = RunnerSupervisor(
            node: me,
            settings: .init(executable: configuration.runnerExecutable, threads: configuration.threads),
            hooks: .init(
                publish: { runners, health in
                    try? await gossip.updateRecord { record in
                        record.runners = runners
                        record.health = .init(score: health.score, processAlive: health.processAlive,
                                              recentErrors: health.recentErrors.suffix(4).map(\.message))
                    }
                },
                deliver: { reply, floats in await router.route(reply, floats: floats) },
                runnerLost: { assignment, reason in
                    // The driver (rank 0's node) fails the generations running through this rank.
                    let message = PipelineMessage.aborted(plan: assignment.planHash, reason: "rank \(assignment.rank)'s runner \(reason)")
                    _ = await router.deliver(message, to: assignment.plan.ranks[0].node)
                    metrics.runnerRestarts.increment()
                }
            ),
            logger: logger
        )
        self.supervisor = supervisor
        driver = PipelineDriver(node: me, send: { message, floats, node in await router.deliver(message, floats: floats, to: node) }, metrics: metrics)
        relay = ChatRelay(send: { message, peer in
            guard let bytes = try? JSON.encode(message) else { return false }
            do { try await mesh.send(Frame(kind: .control, bytes: bytes), to: peer); return true } catch { return false }
        })
        let (nudges, nudge) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        (self.nudges, self.nudge) = (nudges, nudge)
        router.attach(supervisor: supervisor, driver: driver)
        let sendTransfer: @Sendable (TransferMessage, [UInt8], NodeID) async -> Bool = { message, payload, peer in
            guard let bytes = try? message.encoded(payload: payload) else { return false }
            do { try await mesh.send(Frame(kind: .transfer, bytes: bytes), to: peer); return true } catch { return false }
        }
        let held = HeldModelFiles()
        heldFiles = held
        modelServer = ModelServer(
            settings: .init(bytesPerSecond: configuration.transferBytesPerSecond),
            lookup: { sha256 in held.file(sha256: sha256).map { ($0.path, $0.manifest) } },
            send: sendTransfer, logger: logger
        )
        fetcher = ModelFetcher(
            settings: .init(modelsDirectory: configuration.modelsDirectory, bytesPerSecond: configuration.transferBytesPerSecond),
            hooks: .init(
                send: { message, peer in await sendTransfer(message, [], peer) },
                completed: { model, path, manifest in
                    catalog.remember(path: path, sha256: manifest.sha256, chunks: manifest.chunks)
                    let models = Node.models(catalog, held: held)
                    try? await gossip.updateRecord { $0.models = models }
                    nudge.yield()
                },
                corrupt: { peer, model, chunk in
                    metrics.transferCorruptChunks.increment()
                    let what = chunk < 0 ? "a piece list" : "piece \(chunk)"
                    await supervisor.report(error: "peer \(peer.short) sent \(what) of model \(model) that fails its digest; no longer fetching from it")
                },
                progress: { transfers in
                    try? await gossip.updateRecord { $0.transfers = transfers.isEmpty ? nil : transfers }
                }
            ),
            logger: logger
        )
    }

    static func start(configuration: NodeConfiguration, logger baseLogger: Logger) async throws -> Node {
        // A write to a runner that just died must fail with EPIPE, not kill the node.
        signal(SIGPIPE, SIG_IGN)
        let identity = try NodeIdentity.loadOrCreate(home: configuration.home)
        var logger = baseLogger
        logger[metadataKey: "node"] = "\(identity.id.short)"
        let networkKey = try configuration.networkKeyFile.map { url throws in try NetworkKey.load(path: url.path) }
        let mesh = MeshNode(
            identity: identity,
            configuration: MeshConfiguration(host: "0.0.0.0", port: configuration.meshPort, networkKey: networkKey),
            logger: logger
        )
        let meshPort = try await mesh.start()
        let catalog = ModelCatalog(directory: configuration.modelsDirectory, cacheFile: configuration.home.appendingPathComponent("model-digests.json"))
        let record = NodeRecord(
            node: identity.id, epoch: identity.epoch,
            addresses: LocalAddresses.current(interfaces: configuration.interfaces),
            meshPort: UInt16(clamping: meshPort), apiPort: UInt16(clamping: configuration.apiPort),
            resources: Self.resources(limit: configuration.memoryLimitBytes), models: []
        )
        let gossip = try GossipNode(record: record, identity: identity, transport: MeshGossipTransport(mesh: mesh, logger: logger), logger: logger)
        let discovery: (any Discovery)? = configuration.useMDNS
            ? AvahiDiscovery(advertising: .init(id: identity.id, meshPort: meshPort, apiPort: configuration.apiPort),
                             interfaces: Set(configuration.interfaces), logger: logger)
            : nil
        logger.info("node \(identity.id.short) epoch \(identity.epoch): API on http://\(configuration.apiHost):\(configuration.apiPort), mesh port \(meshPort)")
        let node = Node(identity: identity, configuration: configuration, mesh: mesh, gossip: gossip, discovery: discovery, catalog: catalog, logger: logger)
        let models = Self.models(catalog, held: node.heldFiles)
        try? await gossip.updateRecord { $0.models = models }
        await node.relay.setServer { [weak node] (job: ChatJob) in
            guard let node else { throw APIError.unavailable("The node is stopping.") }
            return try await node.generate(job, forwarded: true)
        }
        return node
    }

    func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.gossip.run() }
            group.addTask { await self.deliverInboundFrames() }
            group.addTask { await self.followPeerEvents() }
            group.addTask { await self.followGossipEvents() }
            group.addTask { await self.refreshOwnRecordPeriodically() }
            group.addTask { await self.driveRunners() }
            group.addTask { await self.nudgePeriodically() }
            if let discovery {
                group.addTask { await self.mesh.follow(await discovery.start()) }
            }
            for address in configuration.staticPeers { await dial(address) }

            // Until SIGTERM/SIGINT: then announce departure so peers see it at once, and drain.
            try? await gracefulShutdown()
            logger.info("node \(identity.id.short) stopping: stopping runners, announcing departure")
            await supervisor.shutdownAll()
            do { try await gossip.leave() } catch { logger.warning("could not announce departure: \(error)") }
            await discovery?.stop()
            await mesh.shutdown(drainTimeout: .seconds(1))
            group.cancelAll()
        }
        logger.info("node \(identity.id.short) stopped")
    }

    // MARK: Wiring

    private func deliverInboundFrames() async {
        for await inbound in mesh.inbound {
            let bytes = Array(inbound.frame.payload.readableBytesView)
            switch inbound.frame.kind {
            case .gossip:
                await gossip.receive(bytes: bytes, from: inbound.peer)
            case .tensor:
                await router.receive(bytes, from: inbound.peer)
            case .transfer:
                // Off this loop: hashing a piece, or a rate-limited upload, must not hold up gossip frames behind it.
                let peer = inbound.peer
                Task { await self.receiveTransfer(bytes, from: peer) }
            case .control:
                do {
                    await relay.receive(try JSONDecoder().decode(ChatRelayMessage.self, from: Data(bytes)), from: inbound.peer)
                } catch {
                    logger.warning("dropped control message", metadata: ["peer": "\(inbound.peer.short)", "reason": "\(error)"])
                }
            default:
                continue
            }
        }
    }

    private func followPeerEvents() async {
        for await event in mesh.events {
            switch event {
            case .connected(let peer, _): await gossip.peerConnected(peer)
            case .disconnected(let peer, _):
                await gossip.peerDisconnected(peer)
                await relay.peerLost(peer)
                await driver.peerLost(peer.hex, routes: await activeRoutes())
            }
        }
    }

    /// Addresses learned through gossip are dialed too, so a node found by one peer is linked by all.
    private func followGossipEvents() async {
        for await directive in gossip.events {
            nudge.yield()
            guard case .recordChanged(let peer) = directive, peer != identity.id else { continue }
            guard let record = await gossip.members[peer]?.record, !record.leaving else { continue }
            let linked = await mesh.peers[peer] != nil
            guard !linked, let host = record.addresses.first else { continue }
            await dial(PeerAddress(host: host, port: Int(record.meshPort)), expecting: peer)
        }
    }

    private func dial(_ address: PeerAddress, expecting: NodeID? = nil) async {
        guard !dialed.contains(address) else { return }
        dialed.insert(address)
        await mesh.connect(to: address, expecting: expecting)
    }

    /// Memory and models change slowly; the record is re-signed only when they changed.
    private func refreshOwnRecordPeriodically() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(10))
            let resources = Self.resources(limit: configuration.memoryLimitBytes)
            let models = Self.models(catalog, held: heldFiles)
            let current = await gossip.ownRecord
            let memoryMoved = abs(Double(current.resources.memoryAvailableBytes) - Double(resources.memoryAvailableBytes)) > 256 * 1_048_576
            guard memoryMoved || current.models != models || current.resources.cores != resources.cores else { continue }
            try? await gossip.updateRecord { record in
                record.resources = resources
                record.models = models
            }
        }
    }

    private static func resources(limit: UInt64?) -> NodeRecord.Resources {
        let r = SystemResources.current()
        return .init(memoryTotalBytes: r.memoryTotalBytes, memoryAvailableBytes: r.memoryAvailableBytes, cores: r.cores,
                     throughputBytesPerSecond: measuredThroughput, memoryLimitBytes: limit)
    }

    /// Bytes per second this node streams from memory, measured once at start (a 64 MB read, a few
    /// milliseconds): decode reads every weight once per token, so placement splits layers by it.
    private static let measuredThroughput = MemoryBandwidth.measure(bytes: 64 << 20, repeats: 3)

    /// The models on disk as gossiped; also refreshes `held`, what this node serves to peers that fetch.
    static func models(_ catalog: ModelCatalog, held: HeldModelFiles) -> [NodeRecord.ModelOnDisk] {
        let files = catalog.scan()
        held.replace(with: files)
        return files.map { file in
            .init(id: file.id, sizeBytes: file.sizeBytes, sha256: file.sha256, shape: ModelShapes.shape(of: file),
                  chunkRoot: file.chunks.isEmpty ? nil : file.manifest.root, chunkBytes: UInt64(ModelManifest.defaultChunkBytes))
        }
    }

    // MARK: Views for the API

    /// This node and every member of the gossiped view.
    func peerSummaries() async -> [PeerSummary] {
        let members = await gossip.members
        let own = await gossip.ownRecord
        var rows = [summary(of: own, liveness: "alive", lastHeard: nil, isSelf: true)]
        for (id, member) in members where id != identity.id {
            rows.append(summary(of: member.record, liveness: member.liveness.rawValue, lastHeard: await gossip.lastHeard(id), isSelf: false))
        }
        return rows
    }

    private func summary(of record: NodeRecord, liveness: String, lastHeard: Double?, isSelf: Bool) -> PeerSummary {
        PeerSummary(
            id: record.node.hex, address: record.addresses.first ?? "?", apiPort: Int(record.apiPort), liveness: liveness,
            lastHeardSeconds: lastHeard, memoryTotalBytes: record.resources.memoryTotalBytes,
            memoryAvailableBytes: record.resources.memoryAvailableBytes, cores: record.resources.cores,
            models: record.models.map(\.id), healthScore: record.health.score, isSelf: isSelf
        )
    }
}
