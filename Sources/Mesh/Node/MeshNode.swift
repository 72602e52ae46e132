import Foundation
import Logging
import NIOCore
import NIOPosix

/// The connection manager: accepts and dials TCP links, authenticates them with `Handshake`, keeps one link
/// per peer, redials with backoff, and hands authenticated frames to the layers above as AsyncStreams.
///
/// Each connection runs in its own child task of one task group; the actor holds only the bookkeeping
/// (who is connected, over which link, counters), so frames never queue behind the actor.
public actor MeshNode {
    public nonisolated let id: NodeID
    /// Frames from authenticated peers, in arrival order per peer. One consumer.
    public nonisolated let inbound: AsyncStream<InboundFrame>
    /// Peers connecting and disconnecting. One consumer.
    public nonisolated let events: AsyncStream<PeerEvent>

    public private(set) var counters = MeshCounters()
    /// The port we listen on, once started.
    public private(set) var listenPort: Int?

    private let identity: NodeIdentity
    private let configuration: MeshConfiguration
    private let group: any EventLoopGroup
    private let logger: Logger
    private let inboundContinuation: AsyncStream<InboundFrame>.Continuation
    private let eventsContinuation: AsyncStream<PeerEvent>.Continuation

    private struct Link {
        let connectionID: Int
        let session: PeerSession
        let address: PeerAddress
        let queue: OutboundQueue
    }

    private enum Command: Sendable {
        case accepted(NIOAsyncChannel<Frame, Frame>)
        case dial(PeerAddress, NodeID?)
    }

    private enum Outcome {
        case connectFailed
        case handshakeFailed(HandshakeError)
        case duplicate(NodeID)
        case sessionEnded(NodeID, Duration)
    }

    private var links: [NodeID: Link] = [:]
    private var dialTargets: [PeerAddress: NodeID?] = [:]
    private var pendingHandshakes = 0
    private var nextConnectionID = 0
    private var commands: AsyncStream<Command>.Continuation?
    private var serverChannel: (any Channel)?
    private var runTask: Task<Void, Never>?

    public init(identity: NodeIdentity, configuration: MeshConfiguration = MeshConfiguration(),
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger = Logger(label: "exo.mesh")) {
        self.identity = identity
        self.id = identity.id
        self.configuration = configuration
        self.group = group
        var logger = logger
        logger[metadataKey: "node"] = "\(identity.id.short)"
        self.logger = logger
        (inbound, inboundContinuation) = AsyncStream.makeStream(of: InboundFrame.self, bufferingPolicy: .bufferingOldest(configuration.inboundQueueLimit))
        (events, eventsContinuation) = AsyncStream.makeStream(of: PeerEvent.self)
    }

    // MARK: API for the layers above

    /// TCP_USER_TIMEOUT (Linux: 18), in milliseconds.
    private static let tcpUserTimeout = ChannelOptions.Types.SocketOption(level: .tcp, name: NIOBSDSocket.Option(rawValue: 18))

    private static func milliseconds(_ d: Duration) -> SocketOptionValue {
        SocketOptionValue(d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000)
    }

    /// Binds the listening socket and starts serving; returns the bound port.
    public func start() async throws -> Int {
        if let listenPort { return listenPort }
        let maximumPayload = configuration.maximumPayload
        let idleTimeout = configuration.idleTimeout
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(Self.tcpUserTimeout, value: Self.milliseconds(configuration.unacknowledgedTimeout))
            .bind(host: configuration.host, port: configuration.port) { channel in
                channel.eventLoop.makeCompletedFuture { try MeshNode.wrap(channel, maximumPayload: maximumPayload, idleTimeout: idleTimeout) }
            }
        let port = server.channel.localAddress?.port ?? configuration.port
        listenPort = port
        serverChannel = server.channel
        let (commandStream, commandContinuation) = AsyncStream.makeStream(of: Command.self)
        commands = commandContinuation
        runTask = Task { await self.run(server: server, commands: commandStream, commandContinuation: commandContinuation) }
        logger.info("mesh listening", metadata: ["port": "\(port)"])
        return port
    }

    /// Starts, serves until the calling task is cancelled, then shuts down (for a ServiceGroup-style runner).
    public func run() async throws {
        _ = try await start()
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(3600))
        }
        await shutdown()
    }

    /// Keeps a link to `address`: dials now and redials with backoff whenever it drops, until `forget`.
    /// `expecting` (an id from discovery) makes a different node at that address fail the handshake.
    public func connect(to address: PeerAddress, expecting: NodeID? = nil) {
        guard let commands, dialTargets[address] == nil else { return }
        dialTargets[address] = .some(expecting)
        commands.yield(.dial(address, expecting))
    }

    /// Stops redialing `address` (e.g. discovery lost it). An open link stays until it drops.
    public func forget(_ address: PeerAddress) {
        dialTargets[address] = nil
    }

    /// Queues `frame` for `peer`. Frames to one peer arrive in the order sent.
    public func send(_ frame: Frame, to peer: NodeID) throws(MeshError) {
        switch frame.kind {
        case .hello, .proof, .sealed: throw .reservedKind(frame.kind)
        case .ping, .pong, .control, .gossip, .tensor, .transfer: break
        }
        // Leave room for the sealing overhead so the peer's cap never trips on our frames.
        guard frame.payload.readableBytes + 64 <= configuration.maximumPayload else { throw .frameTooLarge(frame.payload.readableBytes) }
        guard let link = links[peer] else { throw .notConnected(peer) }
        // Model transfer frames go in the bulk lane: gossip and pipeline frames never wait behind more than one.
        switch link.queue.enqueue(frame, bulk: frame.kind == .transfer) {
        case .enqueued: return
        case .dropped: throw .peerBusy(peer)
        case .terminated: throw .notConnected(peer)
        }
    }

    /// Addresses this node keeps a link to (redialing when it drops).
    public var dialing: Set<PeerAddress> { Set(dialTargets.keys) }

    /// Connected peers and where each accepts connections.
    public var peers: [NodeID: PeerAddress] { links.mapValues(\.address) }

    /// Closes the listener, flushes and closes every link (waiting up to `drainTimeout`), then stops; the streams
    /// finish. Frames sent before this call are delivered if the peer is reachable. The node cannot be started again.
    public func shutdown(drainTimeout: Duration = .seconds(1)) async {
        dialTargets.removeAll()
        try? await serverChannel?.close()
        // Finishing a queue lets its writer flush what is queued (e.g. a departure notice), then close the link.
        for link in links.values { link.queue.finish() }
        let drainDeadline = ContinuousClock.now + drainTimeout
        while !links.isEmpty, ContinuousClock.now < drainDeadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        // Only now end the command loop: when it ends, it cancels every connection task, and a writer
        // cancelled before it drained would drop the frames this shutdown promises to deliver.
        commands?.finish()
        commands = nil
        runTask?.cancel()
        await runTask?.value
        runTask = nil
        inboundContinuation.finish()
        eventsContinuation.finish()
    }

    // MARK: Tasks

    private nonisolated static func wrap(_ channel: any Channel, maximumPayload: Int, idleTimeout: Duration) throws -> NIOAsyncChannel<Frame, Frame> {
        try channel.pipeline.syncOperations.addHandlers([
            IdleStateHandler(readTimeout: TimeAmount(idleTimeout)),
            CloseOnReadIdle(),
            ByteToMessageHandler(FrameDecoder(maximumPayload: maximumPayload)),
            MessageToByteHandler(FrameEncoder(maximumPayload: maximumPayload)),
        ])
        // Finishing the writer half-closes (FIN after the last queued frame) instead of closing: a full
        // close with unread bytes in our receive buffer makes the kernel send RST, and a RST makes the
        // peer's kernel discard frames it has received but not yet read. The peer answers our FIN by
        // closing, which ends our reader.
        return try NIOAsyncChannel<Frame, Frame>(
            wrappingChannelSynchronously: channel,
            configuration: .init(isOutboundHalfClosureEnabled: true)
        )
    }

    private nonisolated func run(server: NIOAsyncChannel<NIOAsyncChannel<Frame, Frame>, Never>, commands: AsyncStream<Command>,
                                 commandContinuation: AsyncStream<Command>.Continuation) async {
        await withDiscardingTaskGroup { group in
            group.addTask {
                do {
                    try await server.executeThenClose { accepted in
                        for try await child in accepted { commandContinuation.yield(.accepted(child)) }
                    }
                } catch {
                    self.logger.debug("listener stopped", metadata: ["reason": "\(error)"])
                }
            }
            for await command in commands {
                switch command {
                case .accepted(let child): group.addTask { await self.serveAccepted(child) }
                case .dial(let address, let expected): group.addTask { await self.dialLoop(address, expecting: expected) }
                }
            }
            group.cancelAll()
        }
    }

    private nonisolated func serveAccepted(_ channel: NIOAsyncChannel<Frame, Frame>) async {
        guard await admit() else {
            // Too many connections are still proving themselves: refuse this one without reading a byte.
            try? await channel.channel.close()
            return
        }
        _ = await runConnection(channel, role: .responder, expecting: nil, dialed: nil)
    }

    private nonisolated func dialLoop(_ address: PeerAddress, expecting: NodeID?) async {
        var attempt = 0
        var knownPeer = expecting
        while !Task.isCancelled, await isDialTarget(address) {
            if let knownPeer, await isConnected(knownPeer) {
                // Linked through another connection (it dialed us, or another address): check again later.
                try? await Task.sleep(for: .milliseconds(500))
                continue
            }
            switch await dialOnce(address, expecting: expecting) {
            case .sessionEnded(let peer, let lasted):
                knownPeer = peer
                attempt = lasted > .seconds(5) ? 0 : attempt + 1
            case .duplicate(let peer):
                knownPeer = peer
                attempt = 0
                continue
            case .handshakeFailed(.selfConnection):
                logger.info("not dialing our own address", metadata: ["address": "\(address)"])
                await forget(address)
                return
            case .handshakeFailed, .connectFailed:
                attempt += 1
            }
            try? await Task.sleep(for: configuration.backoff.delay(attempt: attempt, random: Double.random(in: 0..<1)))
        }
    }

    private nonisolated func dialOnce(_ address: PeerAddress, expecting: NodeID?) async -> Outcome {
        let maximumPayload = configuration.maximumPayload
        let idleTimeout = configuration.idleTimeout
        let channel: NIOAsyncChannel<Frame, Frame>
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(TimeAmount(configuration.connectTimeout))
                .channelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
                .channelOption(Self.tcpUserTimeout, value: Self.milliseconds(configuration.unacknowledgedTimeout))
                .connect(host: address.host, port: address.port) { channel in
                    channel.eventLoop.makeCompletedFuture { try MeshNode.wrap(channel, maximumPayload: maximumPayload, idleTimeout: idleTimeout) }
                }
        } catch {
            logger.debug("dial failed", metadata: ["address": "\(address)", "reason": "\(error)"])
            return .connectFailed
        }
        return await runConnection(channel, role: .initiator, expecting: expecting, dialed: address)
    }

    /// One connection from handshake to close.
    private nonisolated func runConnection(_ channel: NIOAsyncChannel<Frame, Frame>, role: Handshake.Role, expecting: NodeID?,
                                           dialed: PeerAddress?) async -> Outcome {
        let remoteHost = channel.channel.remoteAddress?.ipAddress ?? dialed?.host ?? "unknown"
        let listenPort = await listenPort ?? 0
        let timeout = configuration.handshakeTimeout
        let started = ContinuousClock.now
        var handshake = Handshake(identity: identity, role: role, networkKey: configuration.networkKey, listenPort: UInt16(clamping: listenPort),
                                  expectedPeer: expecting, nowMillis: UInt64(max(0, Date().timeIntervalSince1970 * 1000)))
        var logger = self.logger
        logger[metadataKey: "remote"] = "\(remoteHost)"
        do {
            return try await channel.executeThenClose { inbound, outbound in
                // The deadline closes the channel; the read below then ends and the handshake reports the timeout.
                let deadline = channel.channel.eventLoop.scheduleTask(in: TimeAmount(timeout)) { channel.channel.close(promise: nil) }
                var frames = inbound.makeAsyncIterator()
                var actions = handshake.start()
                var established: PeerSession?
                handshaking: while true {
                    for action in actions {
                        switch action {
                        case .send(let frame):
                            do {
                                try await outbound.write(frame)
                            } catch {
                                deadline.cancel()
                                await self.handshakeFailed(.connectionClosed, countsAsPending: role == .responder, droppedFrame: false, logger: logger)
                                return .handshakeFailed(.connectionClosed)
                            }
                        case .established(let session):
                            established = session
                            break handshaking
                        case .fail(let error):
                            deadline.cancel()
                            await self.handshakeFailed(error, countsAsPending: role == .responder, droppedFrame: false, logger: logger)
                            return .handshakeFailed(error)
                        }
                    }
                    let next: Frame?
                    do {
                        next = try await frames.next()
                    } catch let error as FrameError {
                        deadline.cancel()
                        let failure = HandshakeError.malformed("\(error)")
                        await self.handshakeFailed(failure, countsAsPending: role == .responder, droppedFrame: true, logger: logger)
                        return .handshakeFailed(failure)
                    } catch {
                        // Closed under us: by the deadline, or by the peer (a partial frame at EOF also lands here).
                        actions = ContinuousClock.now - started >= timeout ? handshake.timeoutFired() : [.fail(.connectionClosed)]
                        continue
                    }
                    if let next {
                        actions = handshake.receive(next)
                    } else {
                        actions = ContinuousClock.now - started >= timeout ? handshake.timeoutFired() : [.fail(.connectionClosed)]
                    }
                }
                deadline.cancel()
                guard let session = established else { return .handshakeFailed(.connectionClosed) }
                let address = dialed ?? PeerAddress(host: remoteHost, port: Int(session.peerListenPort))
                let queue = OutboundQueue(urgentLimit: self.configuration.outboundQueueLimit, bulkLimit: 64)
                guard let connectionID = await self.register(session, address: address, queue: queue, countsAsPending: role == .responder) else {
                    // The peer may still be using this link (see `MeshConfiguration.duplicateLinger`): keep
                    // delivering what it sends until then, and close after.
                    let linger = channel.channel.eventLoop.scheduleTask(in: TimeAmount(self.configuration.duplicateLinger)) {
                        channel.channel.close(promise: nil)
                    }
                    await self.readFrames(from: &frames, session: session, replies: queue, logger: logger)
                    linger.cancel()
                    queue.finish()
                    return .duplicate(session.peer)
                }
                logger[metadataKey: "peer"] = "\(session.peer.short)"
                let linkLogger = logger
                let linkStarted = ContinuousClock.now
                await withTaskGroup(of: Void.self) { group in
                    group.addTask {
                        var sealer = session.cipher
                        do {
                            while let frame = await queue.next() {
                                if sealer != nil {
                                    try await outbound.write(try sealer!.seal(frame))
                                } else {
                                    try await outbound.write(frame)
                                }
                            }
                        } catch {
                            linkLogger.debug("write failed", metadata: ["reason": "\(error)"])
                        }
                        // Replaced by a link that won the id rule: the peer may not have switched yet, so the
                        // reader goes on and the close waits (cancelled at once if the peer closes first).
                        if await self.wasReplaced(session.peer, connectionID: connectionID) {
                            try? await Task.sleep(for: self.configuration.duplicateLinger)
                        }
                        // The queue ends when the link is replaced or the node stops. Finishing the writer
                        // half-closes after the frames still buffered in it are written (closing the channel
                        // directly would drop them: `write` returns before the frame reaches the socket).
                        outbound.finish()
                    }
                    let keepalive = self.configuration.keepaliveInterval
                    group.addTask {
                        while (try? await Task.sleep(for: keepalive)) != nil {
                            queue.enqueue(Frame(kind: .ping, bytes: []))
                        }
                    }
                    await self.readFrames(from: &frames, session: session, replies: queue, logger: linkLogger)
                    queue.finish()
                    group.cancelAll()
                }
                await self.unregister(session.peer, connectionID: connectionID)
                return .sessionEnded(session.peer, ContinuousClock.now - linkStarted)
            }
        } catch {
            logger.debug("connection ended", metadata: ["reason": "\(error)"])
            return .connectFailed
        }
    }

    /// Delivers a peer's frames upward until it closes or breaks the protocol (which closes the link).
    private nonisolated func readFrames(from frames: inout NIOAsyncChannelInboundStream<Frame>.AsyncIterator, session: PeerSession,
                                        replies: OutboundQueue, logger: Logger) async {
        var opener = session.cipher
        do {
            while var frame = try await frames.next() {
                if opener != nil {
                    frame = try opener!.open(frame)
                }
                switch frame.kind {
                case .ping:
                    replies.enqueue(Frame(kind: .pong, payload: frame.payload))
                case .pong:
                    break
                case .control, .gossip, .tensor, .transfer:
                    if case .dropped = inboundContinuation.yield(InboundFrame(peer: session.peer, frame: frame)) {
                        await count { $0.inboundOverflow += 1 }
                    }
                case .hello, .proof, .sealed:
                    throw ProtocolViolation(kind: frame.kind)
                }
            }
        } catch let error as FrameError {
            await count { $0.droppedFrames += 1 }
            logger.warning("closing link: \(error)")
        } catch let error as SessionError {
            await count { $0.droppedFrames += 1 }
            logger.warning("closing link: \(error)")
        } catch let error as ProtocolViolation {
            await count { $0.droppedFrames += 1 }
            logger.warning("closing link: \(error)")
        } catch {
            // Cancellation, a reset, or our own close (idle timeout, replaced link): not the peer's fault.
            logger.debug("link closed", metadata: ["reason": "\(error)"])
        }
    }

    private struct ProtocolViolation: Error, CustomStringConvertible {
        let kind: FrameKind
        var description: String { "peer sent a \(kind) frame after the handshake" }
    }

    // MARK: Bookkeeping (actor-isolated)

    private func admit() -> Bool {
        guard pendingHandshakes < configuration.maximumPendingHandshakes else {
            counters.refusedConnections += 1
            return false
        }
        pendingHandshakes += 1
        return true
    }

    private func handshakeFailed(_ error: HandshakeError, countsAsPending: Bool, droppedFrame: Bool, logger: Logger) {
        if countsAsPending { pendingHandshakes -= 1 }
        counters.failedHandshakes += 1
        if droppedFrame { counters.droppedFrames += 1 }
        if error == .timedOut { counters.timedOutHandshakes += 1 }
        switch error {
        case .selfConnection: logger.debug("handshake: \(error)")
        default: logger.warning("handshake failed: \(error)")
        }
    }

    /// Makes the link current unless the peer already has one that wins by the id rule; nil means "close this one".
    private func register(_ session: PeerSession, address: PeerAddress, queue: OutboundQueue,
                          countsAsPending: Bool) -> Int? {
        if countsAsPending { pendingHandshakes -= 1 }
        counters.connectionsEstablished += 1
        if let existing = links[session.peer] {
            guard Self.newLinkWins(existing: existing.session, new: session, us: id) else {
                counters.duplicateConnections += 1
                return nil
            }
            counters.duplicateConnections += 1
            existing.queue.finish()
        }
        nextConnectionID += 1
        let isNewPeer = links[session.peer] == nil
        links[session.peer] = Link(connectionID: nextConnectionID, session: session, address: address, queue: queue)
        if isNewPeer {
            logger.info("peer connected", metadata: ["peer": "\(session.peer.short)", "address": "\(address)"])
            eventsContinuation.yield(.connected(session.peer, address))
        }
        return nextConnectionID
    }

    /// Both ends must pick the same link of two: the one dialed by the smaller id; between two links dialed
    /// the same way, the one with the larger session id (both ends know both).
    static func newLinkWins(existing: PeerSession, new: PeerSession, us: NodeID) -> Bool {
        if existing.role != new.role {
            let newDialer = new.role == .initiator ? us : new.peer
            return newDialer == min(us, new.peer)
        }
        return existing.sessionID.lexicographicallyPrecedes(new.sessionID)
    }

    private func unregister(_ peer: NodeID, connectionID: Int) {
        guard let link = links[peer], link.connectionID == connectionID else { return }
        links[peer] = nil
        logger.info("peer disconnected", metadata: ["peer": "\(peer.short)", "address": "\(link.address)"])
        eventsContinuation.yield(.disconnected(peer, link.address))
    }

    private func isDialTarget(_ address: PeerAddress) -> Bool { dialTargets[address] != nil }
    private func isConnected(_ peer: NodeID) -> Bool { links[peer] != nil }
    private func wasReplaced(_ peer: NodeID, connectionID: Int) -> Bool {
        links[peer].map { $0.connectionID != connectionID } ?? false
    }
    private func count(_ update: (inout MeshCounters) -> Void) { update(&counters) }
}
