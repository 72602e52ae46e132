import Foundation
import Testing
@testable import Mesh

@Suite struct DiscoveryTests {
    let own = try! NodeIdentity.ephemeral().id
    let other = try! NodeIdentity.ephemeral().id

    private func service(_ name: String, id: NodeID?, address: String = "10.0.0.2", port: UInt16 = 52416, interface: String = "eth0",
                         extra: [String: String] = ["api": "52415", "v": "1"]) -> AvahiService {
        var txt = extra
        if let id { txt["id"] = id.hex }
        return AvahiService(name: name, type: MeshService.type, interfaceName: interface, hostName: "h.local", address: address, port: port, txt: txt)
    }

    @Test func aResolvedServiceBecomesAPeerWithItsTXTFields() {
        var translator = AvahiEventTranslator(ownID: own)
        let events = translator.translate(.resolved(service("n1", id: other)))
        #expect(events == [.found(DiscoveredPeer(id: other, host: "10.0.0.2", meshPort: 52416, apiPort: 52415, protocolVersion: 1))])
    }

    @Test func ourOwnRecordAndRecordsWithoutAValidIdAreIgnored() {
        var translator = AvahiEventTranslator(ownID: own)
        #expect(translator.translate(.resolved(service("me", id: own))).isEmpty)
        #expect(translator.translate(.resolved(service("anon", id: nil))).isEmpty)
        #expect(translator.translate(.resolved(service("bad", id: nil, extra: ["id": "zz"]))).isEmpty)
        #expect(translator.translate(.resolved(service("noport", id: other, port: 0))).isEmpty)
    }

    @Test func aRemovalReportsWhoLeftAndOnlyOnce() {
        var translator = AvahiEventTranslator(ownID: own)
        _ = translator.translate(.resolved(service("n1", id: other)))
        let peer = DiscoveredPeer(id: other, host: "10.0.0.2", meshPort: 52416, apiPort: 52415, protocolVersion: 1)
        #expect(translator.translate(.removed(name: "n1", interfaceName: "eth1")).isEmpty, "other interface")
        #expect(translator.translate(.removed(name: "n1", interfaceName: "eth0")) == [.lost(peer)])
        #expect(translator.translate(.removed(name: "n1", interfaceName: "eth0")).isEmpty)
    }

    @Test func aChangedRecordIsReportedAsLostThenFound() {
        var translator = AvahiEventTranslator(ownID: own)
        _ = translator.translate(.resolved(service("n1", id: other)))
        #expect(translator.translate(.resolved(service("n1", id: other))).isEmpty, "re-resolving the same record is silent")
        let moved = translator.translate(.resolved(service("n1", id: other, address: "10.0.0.9")))
        #expect(moved.count == 2)
        #expect(moved.last == .found(DiscoveredPeer(id: other, host: "10.0.0.9", meshPort: 52416, apiPort: 52415, protocolVersion: 1)))
    }

    @Test func theAdvertisementCarriesIdApiAndVersion() {
        let ad = AvahiDiscovery.Advertisement(id: own, meshPort: 52416, apiPort: 52415)
        #expect(ad.txt == ["id": own.hex, "api": "52415", "v": "\(Handshake.protocolVersion)"])
        #expect(ad.instanceName.hasPrefix("exo-peer-") && ad.instanceName.utf8.count <= 63)
    }

    @Test func withoutADaemonAvahiDiscoveryWarnsOnceAndItsStreamEnds() async {
        let discovery = AvahiDiscovery(advertising: .init(id: own, meshPort: 1, apiPort: 2), logger: quietLogger(),
                                       connect: { MissingSystemBus.connect() })
        var count = 0
        for await _ in await discovery.start() { count += 1 }
        #expect(count == 0)
        guard case .daemonNotRunning? = await discovery.status else {
            Issue.record("expected daemonNotRunning, got \(String(describing: await discovery.status))")
            return
        }
        await discovery.stop()
    }

    @Test(arguments: ["10.0.0.5:52416", "node.local:1", "[fe80::1]:7000"])
    func staticPeersParse(text: String) throws {
        #expect(PeerAddress(text)?.description == text)
        _ = try StaticDiscovery(peers: [text])
    }

    @Test(arguments: ["10.0.0.5", ":52416", "host:0", "host:70000", "host:x", "[::1]7000"])
    func badStaticPeersAreRejectedWithTheirText(text: String) {
        #expect(PeerAddress(text) == nil)
        #expect(throws: DiscoveryError.badPeerAddress(text)) { try StaticDiscovery(peers: [text]) }
    }

    @Test func staticDiscoveryReportsEveryPeerWithoutAnId() async throws {
        let discovery = try StaticDiscovery(peers: ["10.0.0.5:52416", "10.0.0.6:52417"])
        var found: [DiscoveredPeer] = []
        let stream = await discovery.start()
        await discovery.stop()
        for await case .found(let peer) in stream { found.append(peer) }
        #expect(found.map(\.address) == [PeerAddress(host: "10.0.0.5", port: 52416), PeerAddress(host: "10.0.0.6", port: 52417)])
        #expect(found.allSatisfy { $0.id == nil })
    }

    @Test func aNodeFollowingDiscoveryDialsWhatIsFoundAndStopsRedialingWhatIsLost() async throws {
        let a = try await TestNode.start()
        let b = try await TestNode.start()
        let discovery = InMemoryDiscovery()
        let stream = await discovery.start()
        let following = Task { await a.node.follow(stream) }
        let peerB = DiscoveredPeer(id: b.id, host: "127.0.0.1", meshPort: b.port)
        await discovery.announce(DiscoveredPeer(id: a.id, host: "127.0.0.1", meshPort: a.port))
        await discovery.announce(peerB)
        await eventually("a dials b once discovered") { await a.node.peers[b.id] != nil }
        #expect(await a.node.dialing == [b.address], "our own announcement is not dialed")
        await discovery.withdraw(peerB)
        await eventually("a stops redialing b once discovery lost it") { await a.node.dialing.isEmpty }
        await b.node.shutdown()
        await eventually("a sees b leave") { await a.recorder.disconnected(b.id) == 1 }
        #expect(await a.node.counters.failedHandshakes == 0, "a never dialed itself")
        await discovery.stop()
        await following.value
        await a.node.shutdown()
    }
}
