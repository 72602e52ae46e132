import Foundation
import NIOCore
import NIOPosix
import Testing
@testable import Mesh

@Suite(.serialized) struct MeshNodeTests {
    @Test func twoNodesConnectAndExchangeFramesBothWays() async throws {
        let a = try await TestNode.start()
        let b = try await TestNode.start()
        await a.node.connect(to: b.address)
        await eventually("a and b linked") { let ab = await a.node.peers[b.id], ba = await b.node.peers[a.id]; return ab != nil && ba != nil }
        #expect(await a.node.peers[b.id] == b.address)
        #expect(await b.node.peers[a.id] == a.address, "b learns where a listens from a's hello")

        try await a.node.send(Frame(kind: .gossip, bytes: Array("from a".utf8)), to: b.id)
        try await b.node.send(Frame(kind: .control, bytes: Array("from b".utf8)), to: a.id)
        await eventually("frames delivered") { let fb = await b.recorder.frames.count, fa = await a.recorder.frames.count; return fa == 1 && fb == 1 }
        #expect(await b.recorder.frames == [InboundFrame(peer: a.id, frame: Frame(kind: .gossip, bytes: Array("from a".utf8)))])
        #expect(await a.recorder.frames == [InboundFrame(peer: b.id, frame: Frame(kind: .control, bytes: Array("from b".utf8)))])
        #expect(await a.recorder.connected(b.id) == 1)
        await a.node.shutdown()
        await eventually("b sees a leave") { await b.recorder.disconnected(a.id) == 1 }
        await b.node.shutdown()
    }

    @Test func framesSentJustBeforeShutdownAreDelivered() async throws {
        let a = try await TestNode.start()
        let b = try await TestNode.start()
        await a.node.connect(to: b.address)
        await eventually("linked") { await a.node.peers[b.id] != nil }
        for i in 0..<50 { try await a.node.send(Frame(kind: .gossip, bytes: [UInt8(i)]), to: b.id) }
        await a.node.shutdown()
        let arrived = await eventually("all 50 frames, e.g. a departure notice, arrive") { await b.recorder.frames.count == 50 }
        if !arrived { Issue.record("b received \(await b.recorder.frames.count) frames; a: \(await a.node.counters), b: \(await b.node.counters)") }
        await b.node.shutdown()
    }

    @Test func runServesUntilCancelledThenStops() async throws {
        let node = MeshNode(identity: try NodeIdentity.ephemeral(), configuration: loopbackConfiguration(), logger: quietLogger())
        let running = Task { try await node.run() }
        await eventually("listening") { await node.listenPort != nil }
        running.cancel()
        try await running.value
        var events = node.events.makeAsyncIterator()
        #expect(await events.next() == nil, "the event stream finished")
    }

    @Test func threeNodesFormAFullMeshAndFramesArriveInOrder() async throws {
        let nodes = [try await TestNode.start(), try await TestNode.start(), try await TestNode.start()]
        await nodes[0].node.connect(to: nodes[1].address)
        await nodes[1].node.connect(to: nodes[2].address)
        await nodes[2].node.connect(to: nodes[0].address)
        await eventually("every node has two peers") {
            var all = true
            for n in nodes where await n.node.peers.count != 2 { all = false }
            return all
        }
        for sender in nodes {
            for receiver in nodes where receiver.id != sender.id {
                for i in 0..<20 { try await sender.node.send(Frame(kind: .gossip, bytes: [UInt8(i)]), to: receiver.id) }
            }
        }
        await eventually("40 frames at each node") {
            var all = true
            for n in nodes where await n.recorder.frames.count != 40 { all = false }
            return all
        }
        for receiver in nodes {
            let frames = await receiver.recorder.frames
            for sender in nodes where sender.id != receiver.id {
                #expect(frames.filter { $0.peer == sender.id }.map { $0.frame.bytes[0] } == Array(0..<20))
            }
        }
        for n in nodes { await n.node.shutdown() }
    }

    @Test func bothSidesDialingAtOnceLeavesOneLinkPerPair() async throws {
        let a = try await TestNode.start()
        let b = try await TestNode.start()
        async let dialA: Void = a.node.connect(to: b.address)
        async let dialB: Void = b.node.connect(to: a.address)
        _ = await (dialA, dialB)
        await eventually("linked") { let ab = await a.node.peers[b.id], ba = await b.node.peers[a.id]; return ab != nil && ba != nil }
        // Let both dial loops settle, then check nothing flapped.
        try await Task.sleep(for: .milliseconds(800))
        #expect(await a.recorder.connected(b.id) == 1)
        #expect(await a.recorder.disconnected(b.id) == 0)
        #expect(await b.recorder.connected(a.id) == 1)
        #expect(await b.recorder.disconnected(a.id) == 0)
        try await a.node.send(Frame(kind: .gossip, bytes: [1]), to: b.id)
        try await b.node.send(Frame(kind: .gossip, bytes: [2]), to: a.id)
        await eventually("frames over the surviving link") { let fb = await b.recorder.frames.count, fa = await a.recorder.frames.count; return fa == 1 && fb == 1 }
        await a.node.shutdown()
        await b.node.shutdown()
    }

    @Test func theIdRuleKeepsTheSameLinkOnBothEnds() throws {
        let small = try NodeIdentity.ephemeral().id
        let large = try NodeIdentity.ephemeral().id
        let (lo, hi) = small < large ? (small, large) : (large, small)
        func session(_ peer: NodeID, _ role: Handshake.Role, _ sid: UInt8) -> PeerSession {
            PeerSession(peer: peer, role: role, sessionID: [sid], peerListenPort: 1, clockOffsetMillis: 0, cipher: nil)
        }
        // Link 1: lo dialed hi. Link 2: hi dialed lo. Both ends keep link 1, whichever they saw first.
        let loSeesLink1 = session(hi, .initiator, 1), loSeesLink2 = session(hi, .responder, 2)
        let hiSeesLink1 = session(lo, .responder, 1), hiSeesLink2 = session(lo, .initiator, 2)
        #expect(!MeshNode.newLinkWins(existing: loSeesLink1, new: loSeesLink2, us: lo))
        #expect(MeshNode.newLinkWins(existing: loSeesLink2, new: loSeesLink1, us: lo))
        #expect(!MeshNode.newLinkWins(existing: hiSeesLink1, new: hiSeesLink2, us: hi))
        #expect(MeshNode.newLinkWins(existing: hiSeesLink2, new: hiSeesLink1, us: hi))
        // Two links dialed the same way: the larger session id wins on both ends.
        #expect(MeshNode.newLinkWins(existing: session(hi, .initiator, 1), new: session(hi, .initiator, 2), us: lo))
        #expect(!MeshNode.newLinkWins(existing: session(lo, .responder, 2), new: session(lo, .responder, 1), us: hi))
    }

    @Test func aPeerThatRestartsIsRedialedAndRejoins() async throws {
        let a = try await TestNode.start()
        let bIdentity = try NodeIdentity.ephemeral()
        let b = try await TestNode.start(identity: bIdentity)
        await a.node.connect(to: b.address)
        await eventually("first link") { await a.recorder.connected(b.id) == 1 }
        await b.node.shutdown()
        await eventually("a notices b is gone") { await a.recorder.disconnected(b.id) == 1 }
        let b2 = try await TestNode.start(identity: bIdentity, configuration: loopbackConfiguration(port: b.port))
        await eventually("a redials b") { await a.recorder.connected(b.id) == 2 }
        try await a.node.send(Frame(kind: .gossip, bytes: [7]), to: b.id)
        await eventually("frame after rejoin") { await b2.recorder.frames.count == 1 }
        await a.node.shutdown()
        await b2.node.shutdown()
    }

    @Test func garbageAndOversizedFramesAreDroppedAndCountedWhileTheNodeKeepsServing() async throws {
        let a = try await TestNode.start()
        // An HTTP request: its first four bytes read as a length far above the cap.
        let http = try await rawExchange(port: a.port, sending: Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        #expect(http.count == Frame.headerSize + 76, "only our hello was sent before the close")
        var oversized = ByteBuffer()
        oversized.writeInteger(UInt32(2 << 20), endianness: .big)
        oversized.writeInteger(FrameKind.gossip.rawValue)
        _ = try await rawExchange(port: a.port, sending: Array(oversized.readableBytesView))
        _ = try await rawExchange(port: a.port, sending: [0, 0, 0, 1, 0xEE, 0])
        // A well-framed hello that is not a valid hello.
        _ = try await rawExchange(port: a.port, sending: [0, 0, 0, 3, FrameKind.hello.rawValue, 1, 2, 3])

        await eventually("four failed handshakes counted") { await a.node.counters.failedHandshakes == 4 }
        #expect(await a.node.counters.droppedFrames == 3, "three frames broke the framing rules")
        #expect(await a.node.peers.isEmpty)

        let b = try await TestNode.start()
        await b.node.connect(to: a.address)
        await eventually("a still accepts real peers") { await a.node.peers[b.id] != nil }
        await a.node.shutdown()
        await b.node.shutdown()
    }

    @Test func anAuthenticatedPeerThatBreaksTheProtocolIsCutOffAndCounted() async throws {
        let a = try await TestNode.start()
        let mallory = try NodeIdentity.ephemeral()
        // A second hello after the handshake: the link is closed, the frame counted, nothing delivered.
        #expect(try await handMadePeer(port: a.port, identity: mallory, afterwards: [Frame(kind: .hello, bytes: [1])]))
        await eventually("link closed") { await a.recorder.disconnected(mallory.id) == 1 }
        #expect(await a.node.counters.droppedFrames == 1)
        #expect(await a.recorder.frames.isEmpty)
        await a.node.shutdown()
    }

    @Test func onAnEncryptedMeshAPlaintextFrameAfterTheHandshakeIsRejected() async throws {
        let key = NetworkKey(material: Array("a private mesh of exactly 32 byt".utf8))
        let a = try await TestNode.start(configuration: loopbackConfiguration(key: key))
        let mallory = try NodeIdentity.ephemeral()
        #expect(try await handMadePeer(port: a.port, identity: mallory, key: key, afterwards: [Frame(kind: .gossip, bytes: Array("forged".utf8))]))
        await eventually("link closed") { await a.recorder.disconnected(mallory.id) == 1 }
        #expect(await a.node.counters.droppedFrames == 1)
        #expect(await a.recorder.frames.isEmpty, "an unsealed frame never reaches the layer above")
        await a.node.shutdown()
    }

    @Test func silentConnectionsAreBoundedAndTimedOut() async throws {
        let a = try await TestNode.start(configuration: loopbackConfiguration(handshakeTimeout: .milliseconds(600), maximumPendingHandshakes: 2))
        // Three clients that never answer; the third is refused at once, the other two time out.
        async let s1 = rawExchange(port: a.port, sending: [])
        async let s2 = rawExchange(port: a.port, sending: [])
        try await Task.sleep(for: .milliseconds(150))
        let refusedStart = ContinuousClock.now
        let refused = try await rawExchange(port: a.port, sending: [])
        #expect(refused.isEmpty, "a refused connection is closed without a hello")
        #expect(ContinuousClock.now - refusedStart < .milliseconds(500))
        _ = try await (s1, s2)
        await eventually("two timeouts and one refusal") {
            let c = await a.node.counters
            return c.failedHandshakes == 2 && c.refusedConnections == 1
        }
        #expect(await a.node.counters.timedOutHandshakes == 2)
        #expect(await a.node.counters.droppedFrames == 0, "silence is not a bad frame")
        let b = try await TestNode.start()
        await b.node.connect(to: a.address)
        await eventually("a serves again once the slow ones are gone") { await a.node.peers[b.id] != nil }
        await a.node.shutdown()
        await b.node.shutdown()
    }

    @Test func connectionsThatHangUpMidHandshakeFreeTheirSlot() async throws {
        let a = try await TestNode.start(configuration: loopbackConfiguration(maximumPendingHandshakes: 2))
        for _ in 0..<6 {
            // Connect and hang up at once: the node's hello write or read fails, and the slot must come back.
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: a.port).get()
            try await channel.close()
        }
        await eventually("six failed handshakes") { await a.node.counters.failedHandshakes == 6 }
        let b = try await TestNode.start()
        await b.node.connect(to: a.address)
        await eventually("a still admits peers") { await a.node.peers[b.id] != nil }
        #expect(await a.node.counters.refusedConnections == 0)
        await a.node.shutdown()
        await b.node.shutdown()
    }

    @Test func pingsKeepAQuietLinkUpAndASilentPeerIsDropped() async throws {
        func configuration(keepalive: Duration, idle: Duration) -> MeshConfiguration {
            var c = loopbackConfiguration()
            c.keepaliveInterval = keepalive
            c.idleTimeout = idle
            return c
        }
        let a = try await TestNode.start(configuration: configuration(keepalive: .milliseconds(100), idle: .milliseconds(500)))
        let b = try await TestNode.start(configuration: configuration(keepalive: .milliseconds(100), idle: .milliseconds(500)))
        await b.node.connect(to: a.address)
        await eventually("linked") { await a.node.peers[b.id] != nil }
        try await Task.sleep(for: .milliseconds(1500))
        #expect(await a.recorder.disconnected(b.id) == 0, "pings kept the quiet link alive")

        // Neither end pings within c's idle timeout: c drops the link as if d had vanished.
        let c = try await TestNode.start(configuration: configuration(keepalive: .seconds(3600), idle: .milliseconds(400)))
        let d = try await TestNode.start(configuration: configuration(keepalive: .seconds(3600), idle: .seconds(3600)))
        await d.node.connect(to: c.address)
        await eventually("c drops the silent link", timeout: .seconds(3)) { await c.recorder.disconnected(d.id) >= 1 }
        #expect(await c.node.counters.droppedFrames == 0, "an idle close is not a protocol violation")
        for n in [a, b, c, d] { await n.node.shutdown() }
    }

    @Test func aNetworkKeyEncryptsTheLinkAndKeepsOutsiders() async throws {
        let key = NetworkKey(material: Array("a private mesh of exactly 32 byt".utf8))
        let a = try await TestNode.start(configuration: loopbackConfiguration(key: key))
        let b = try await TestNode.start(configuration: loopbackConfiguration(key: key))
        let outsider = try await TestNode.start()
        await b.node.connect(to: a.address)
        await outsider.node.connect(to: a.address)
        await eventually("members linked") { await a.node.peers[b.id] != nil }
        for i in 0..<5 { try await b.node.send(Frame(kind: .tensor, bytes: [UInt8(i), 1, 2, 3]), to: a.id) }
        await eventually("sealed frames open in order") { await a.recorder.frames.map { $0.frame.bytes[0] } == [0, 1, 2, 3, 4] }
        await eventually("outsider refused") { let fa = await a.node.counters.failedHandshakes, fo = await outsider.node.counters.failedHandshakes; return fa >= 1 && fo >= 1 }
        #expect(await a.node.peers[outsider.id] == nil)
        for n in [a, b, outsider] { await n.node.shutdown() }
    }

    @Test func sendingToAnUnknownPeerOrAReservedKindIsATypedError() async throws {
        let a = try await TestNode.start()
        let stranger = try NodeIdentity.ephemeral().id
        await #expect(throws: MeshError.notConnected(stranger)) { try await a.node.send(Frame(kind: .gossip, bytes: []), to: stranger) }
        await #expect(throws: MeshError.reservedKind(.hello)) { try await a.node.send(Frame(kind: .hello, bytes: []), to: stranger) }
        await a.node.shutdown()
    }

    @Test func dialingOurOwnAddressStopsAfterTheHandshakeSaysSo() async throws {
        let a = try await TestNode.start()
        await a.node.connect(to: a.address)
        await eventually("self-connection detected") { await a.node.counters.failedHandshakes >= 2 }
        try await Task.sleep(for: .milliseconds(500))
        let after = await a.node.counters.failedHandshakes
        try await Task.sleep(for: .milliseconds(500))
        #expect(await a.node.counters.failedHandshakes == after, "no redial after a self-connection")
        #expect(await a.node.peers.isEmpty)
        await a.node.shutdown()
    }

    @Test(arguments: [(0, 0.0, 50), (0, 1.0, 100), (3, 1.0, 800), (20, 1.0, 10_000), (20, 0.0, 5_000)])
    func backoffGrowsExponentiallyWithinItsJitterAndCap(attempt: Int, random: Double, expectedMillis: Int) {
        let backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(10), multiplier: 2, jitter: 0.5)
        let delay = backoff.delay(attempt: attempt, random: random)
        #expect(abs(Double(delay.components.attoseconds) / 1e15 + Double(delay.components.seconds) * 1000 - Double(expectedMillis)) < 1)
    }
}
