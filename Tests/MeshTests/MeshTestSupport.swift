import Foundation
import Logging
import NIOCore
import NIOPosix
import Testing
@testable import Mesh

/// Collects a node's events and frames so tests can wait for conditions on them.
actor Recorder {
    private(set) var events: [PeerEvent] = []
    private(set) var frames: [InboundFrame] = []
    private var tasks: [Task<Void, Never>] = []

    func follow(_ node: MeshNode) {
        tasks.append(Task { for await e in node.events { self.record(e) } })
        tasks.append(Task { for await f in node.inbound { self.record(f) } })
    }

    private func record(_ e: PeerEvent) { events.append(e) }
    private func record(_ f: InboundFrame) { frames.append(f) }

    func connected(_ id: NodeID) -> Int { events.filter { if case .connected(id, _) = $0 { true } else { false } }.count }
    func disconnected(_ id: NodeID) -> Int { events.filter { if case .disconnected(id, _) = $0 { true } else { false } }.count }
}

/// Polls `condition` until it holds or `timeout` passes; records an issue naming `what` on timeout.
@discardableResult
func eventually(_ what: String, timeout: Duration = .seconds(5), _ condition: () async -> Bool,
                sourceLocation: SourceLocation = #_sourceLocation) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    if await condition() { return true }
    Issue.record("timed out waiting for: \(what)", sourceLocation: sourceLocation)
    return false
}

func loopbackConfiguration(port: Int = 0, key: NetworkKey? = nil, handshakeTimeout: Duration = .seconds(2),
                           maximumPendingHandshakes: Int = 64) -> MeshConfiguration {
    MeshConfiguration(host: "127.0.0.1", port: port, networkKey: key, maximumPayload: 1 << 20, handshakeTimeout: handshakeTimeout,
                      maximumPendingHandshakes: maximumPendingHandshakes,
                      backoff: Backoff(initial: .milliseconds(50), maximum: .milliseconds(400)))
}

func quietLogger() -> Logger {
    var logger = Logger(label: "test.mesh")
    logger.logLevel = ProcessInfo.processInfo.environment["MESH_TEST_LOG"] != nil ? .debug : .critical
    return logger
}

/// A started node on 127.0.0.1 with a recorder attached.
struct TestNode {
    let node: MeshNode
    let recorder: Recorder
    let port: Int
    var id: NodeID { node.id }
    var address: PeerAddress { PeerAddress(host: "127.0.0.1", port: port) }

    static func start(identity: NodeIdentity? = nil, configuration: MeshConfiguration = loopbackConfiguration()) async throws -> TestNode {
        let node = MeshNode(identity: try identity ?? NodeIdentity.ephemeral(), configuration: configuration, logger: quietLogger())
        let recorder = Recorder()
        await recorder.follow(node)
        // A restart reuses its old port, which a test running in parallel may hold for a moment.
        var attempts = 0
        while true {
            do {
                let port = try await node.start()
                return TestNode(node: node, recorder: recorder, port: port)
            } catch let error as IOError where error.errnoCode == EADDRINUSE && configuration.port != 0 && attempts < 50 {
                attempts += 1
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }
}

/// A plain TCP client that writes raw bytes and reads until the server closes; returns the bytes it got.
func rawExchange(port: Int, sending bytes: [UInt8], timeout: Duration = .seconds(5)) async throws -> [UInt8] {
    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
        }
    let closer = channel.channel.eventLoop.scheduleTask(in: TimeAmount(timeout)) { channel.channel.close(promise: nil) }
    defer { closer.cancel() }
    return try await channel.executeThenClose { inbound, outbound in
        if !bytes.isEmpty { try await outbound.write(ByteBuffer(bytes: bytes)) }
        var received: [UInt8] = []
        do {
            for try await chunk in inbound { received += chunk.readableBytesView }
        } catch {}
        return received
    }
}

/// A hand-made client: completes a real handshake with `identity`, then sends `afterwards` as raw frames
/// (no sealing), and reads until the node closes. Returns whether the handshake was established.
func handMadePeer(port: Int, identity: NodeIdentity, key: NetworkKey? = nil, afterwards: [Frame]) async throws -> Bool {
    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandlers([ByteToMessageHandler(FrameDecoder()), MessageToByteHandler(FrameEncoder())])
                return try NIOAsyncChannel<Frame, Frame>(wrappingChannelSynchronously: channel)
            }
        }
    let closer = channel.channel.eventLoop.scheduleTask(in: .seconds(5)) { channel.channel.close(promise: nil) }
    defer { closer.cancel() }
    return try await channel.executeThenClose { inbound, outbound in
        var handshake = Handshake(identity: identity, role: .initiator, networkKey: key, listenPort: 0, nowMillis: 0)
        var frames = inbound.makeAsyncIterator()
        var actions = handshake.start()
        var established = false
        while !established {
            for action in actions {
                switch action {
                case .send(let frame): try await outbound.write(frame)
                case .established: established = true
                case .fail: return false
                }
            }
            if established { break }
            guard let next = try await frames.next() else { return false }
            actions = handshake.receive(next)
        }
        for frame in afterwards { try await outbound.write(frame) }
        do { while try await frames.next() != nil {} } catch {}
        return true
    }
}
