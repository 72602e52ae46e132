import Mesh
import Testing
@testable import Gossip

@Suite("Gossip core rules")
struct GossipInstanceTests {
    /// a and b know each other's first records.
    func pair() throws -> (GossipInstance, GossipInstance) {
        var a = try Fixture.instance(1)
        var b = try Fixture.instance(2)
        _ = a.learn(b.ownSigned, now: .zero)
        _ = b.learn(a.ownSigned, now: .zero)
        return (a, b)
    }

    @Test func aForgedRecordNeverChangesTheViewAndIsCounted() throws {
        var (a, b) = try pair()
        _ = try b.updateLocal(now: .zero) { $0.apiPort = 9 }
        let good = b.ownSigned
        var bytes = good.payload
        bytes[bytes.count / 2] ^= 1
        let forged = SignedRecord(payload: bytes, signature: good.signature, signer: good.signer, stamp: good.stamp)
        let before = a.members[b.id]!.stamp
        _ = a.receive(GossipMessage(stamp: good.stamp, body: .records([forged], hops: 3)), from: b.id, now: .seconds(1))
        #expect(a.members[b.id]!.stamp == before)
        #expect(a.rejected[.badSignature] == 1)
    }

    @Test func aReplayedOlderRecordIsDroppedAndCounted() throws {
        var (a, b) = try pair()
        let old = b.ownSigned
        _ = try b.updateLocal(now: .zero) { $0.apiPort = 9 }
        _ = a.learn(b.ownSigned, now: .zero)
        let out = a.receive(GossipMessage(stamp: old.stamp, body: .records([old], hops: 3)), from: b.id, now: .seconds(1))
        #expect(a.members[b.id]!.stamp == b.ownSigned.stamp)
        #expect(a.rejected[.replayed] == 1)
        #expect(Fixture.records(out).isEmpty, "a replay is not forwarded")
    }

    @Test func aNewerRecordIsAppliedAndForwardedOnFirstReceiptOnly() throws {
        var (a, b) = try pair()
        let c = try Fixture.instance(3)
        _ = a.learn(c.ownSigned, now: .zero)
        _ = try b.updateLocal(now: .zero) { $0.apiPort = 9 }
        let message = GossipMessage(stamp: b.ownSigned.stamp, body: .records([b.ownSigned], hops: 2))
        let first = a.receive(message, from: b.id, now: .seconds(1))
        #expect(a.members[b.id]!.record.apiPort == 9)
        #expect(Fixture.records(first, to: c.id) == [b.ownSigned])
        let second = a.receive(message, from: b.id, now: .seconds(1))
        #expect(Fixture.records(second).isEmpty)
        #expect(a.duplicates == 1)
    }

    @Test func aDigestIsAnsweredWithExactlyTheNewerRecordsAndARequestForWhatIsMissing() throws {
        var (a, b) = try pair()
        let c = try Fixture.instance(3)
        let d = try Fixture.instance(4)
        _ = a.learn(c.ownSigned, now: .zero)   // a has c, b does not
        _ = b.learn(d.ownSigned, now: .zero)   // b has d, a does not
        let out = a.receive(GossipMessage(stamp: b.ownSigned.stamp, body: .digest(WireVector(b.vector), reply: true)), from: b.id, now: .seconds(1))
        #expect(Set(Fixture.records(out, to: b.id).map(\.signer)) == [c.id])
        let requests = Fixture.sent(out).compactMap { m, _ -> [NodeID: Stamp]? in
            if case .digest(let v, false) = m.body { v.entries } else { nil }
        }
        #expect(requests.count == 1)
        #expect(Set(requests.first?.keys.map { $0 } ?? []) == [d.id])
        // b answers the request with d's record, and a applies it.
        var bb = b
        let answer = bb.receive(Fixture.sent(out).first { if case .digest = $0.0.body { true } else { false } }!.0, from: a.id, now: .seconds(1))
        #expect(Fixture.records(answer, to: a.id).map(\.signer) == [d.id])
    }

    @Test func equalSummariesEndTheExchangeAndDifferentOnesOpenIt() throws {
        var (a, b) = try pair()
        let same = a.receive(GossipMessage(stamp: b.ownSigned.stamp, body: .syn(summary: b.vector.summary, count: b.vector.count)), from: b.id, now: .seconds(1))
        #expect(Fixture.sent(same).isEmpty)
        _ = try b.updateLocal(now: .zero) { $0.apiPort = 7 }
        let differ = a.receive(GossipMessage(stamp: b.ownSigned.stamp, body: .syn(summary: b.vector.summary, count: b.vector.count)), from: b.id, now: .seconds(1))
        #expect(Fixture.sent(differ).contains { if case .digest(_, true) = $0.0.body { true } else { false } })
    }

    @Test func anUnansweredProbeMakesSuspectAndSilenceMakesDead() throws {
        var (a, b) = try pair()
        let out = Fixture.tick(&a, from: .zero, to: .seconds(2))
        #expect(out.contains(.liveness(b.id, .suspect)))
        #expect(a.liveness(of: b.id) == .suspect)
        // Not dead before the suspicion timeout (a paused process), dead after.
        _ = Fixture.tick(&a, from: .seconds(2), to: .seconds(7))
        #expect(a.liveness(of: b.id) == .suspect)
        _ = Fixture.tick(&a, from: .seconds(7), to: .seconds(12))
        #expect(a.liveness(of: b.id) == .dead)
        // Stale gossip (the same record again, from anyone) does not resurrect it.
        _ = a.learn(b.ownSigned, now: .seconds(12))
        #expect(a.liveness(of: b.id) == .dead)
        // A newer record signed by b does.
        _ = try b.updateLocal(now: .seconds(12)) { _ in }
        let revived = a.learn(b.ownSigned, now: .seconds(12))
        #expect(revived.contains(.liveness(b.id, .alive)))
    }

    @Test func anAckClearsSuspicion() throws {
        var (a, b) = try pair()
        let out = Fixture.tick(&a, from: .zero, to: .seconds(2))
        #expect(a.liveness(of: b.id) == .suspect)
        let ping = Fixture.sent(out).last { $0.1 == b.id && { if case .ping = $0.body { true } else { false } }($0.0) }!.0
        let reply = b.receive(ping, from: a.id, now: .seconds(2))
        let ack = Fixture.sent(reply).first { if case .ack = $0.0.body { true } else { false } }!.0
        let cleared = a.receive(ack, from: b.id, now: .seconds(2))
        #expect(cleared.contains(.liveness(b.id, .alive)))
    }

    @Test func aRumourOfOwnDeathIsRefutedWithANewerVersion() throws {
        var (a, b) = try pair()
        let before = b.ownSigned.stamp
        let rumour = Rumour(kind: .dead, subject: b.id, stamp: before)
        let out = b.receive(GossipMessage(stamp: a.ownSigned.stamp, rumours: [rumour], body: .ping(seq: 0)), from: a.id, now: .seconds(1))
        #expect(b.ownSigned.stamp > before)
        #expect(Fixture.records(out, to: a.id) == [b.ownSigned])
        // a had declared b dead; the refutation revives it.
        _ = a.receive(GossipMessage(stamp: b.ownSigned.stamp, rumours: [rumour], body: .ping(seq: 0)), from: b.id, now: .seconds(1))
        #expect(a.liveness(of: b.id) == .dead)
        _ = a.receive(GossipMessage(stamp: b.ownSigned.stamp, body: .records(Fixture.records(out, to: a.id), hops: 0)), from: b.id, now: .seconds(1))
        #expect(a.liveness(of: b.id) == .alive)
    }

    @Test func aDroppedConnectionIsConfirmedByProbesBeforeDeath() throws {
        var (a, b) = try pair()
        // Answered: stays alive.
        var out = a.peerDisconnected(b.id, now: .seconds(1))
        #expect(a.liveness(of: b.id) == .suspect)
        let ping = Fixture.sent(out).first { $0.1 == b.id }!.0
        let ack = Fixture.sent(b.receive(ping, from: a.id, now: .seconds(1))).first!.0
        _ = a.receive(ack, from: b.id, now: .seconds(1))
        #expect(a.liveness(of: b.id) == .alive)
        // Unanswered: dead within the confirm timeout.
        out = a.peerDisconnected(b.id, now: .seconds(2))
        out += Fixture.tick(&a, from: .seconds(2), to: .milliseconds(3600))
        #expect(a.liveness(of: b.id) == .dead)
        #expect(Fixture.sent(out).filter { $0.1 == b.id }.count >= 4, "probed repeatedly before declaring death")
    }

    @Test func aDepartureIsSeenAtOnceAndPrunedAfterTheGraceBehindATombstone() throws {
        var settings = GossipSettings()
        settings.pruneAfter = .seconds(5)
        var a = try Fixture.instance(1, settings: settings)
        var b = try Fixture.instance(2, settings: settings)
        _ = a.learn(b.ownSigned, now: .zero)
        _ = b.learn(a.ownSigned, now: .zero)
        let stale = b.ownSigned
        let out = try b.leave(now: .seconds(1))
        for (message, to) in Fixture.sent(out) where to == a.id { _ = a.receive(message, from: b.id, now: .seconds(1)) }
        #expect(a.liveness(of: b.id) == .left)
        let pruned = Fixture.tick(&a, from: .seconds(1), to: .seconds(8))
        #expect(pruned.contains(.pruned(b.id)))
        #expect(a.members[b.id] == nil)
        _ = a.learn(stale, now: .seconds(9))
        #expect(a.members[b.id] == nil, "a pruned node is not resurrected by stale gossip")
        #expect(a.rejected[.replayed] == 1)
    }

    @Test func convergenceCountsTheLiveNodesWhoseSeenCoversARecord() throws {
        var (a, b) = try pair()
        // b re-signs with a seen vector that covers a; a learns it.
        _ = try b.updateLocal(now: .zero) { _ in }
        _ = a.learn(b.ownSigned, now: .zero)
        let view = a.convergence()
        let ofA = view.first { $0.node == a.id }!
        #expect(ofA.liveNodes == 2)
        #expect(ofA.isComplete)
        let ofB = view.first { $0.node == b.id }!
        #expect(ofB.knownBy == 2)
        // A change of a is not yet covered by b's seen.
        _ = try a.updateLocal(now: .seconds(1)) { $0.apiPort = 1 }
        #expect(a.convergence().first { $0.node == a.id }!.knownBy == 1)
    }

    @Test func malformedWireBytesAreAnErrorNotACrash() {
        #expect(throws: GossipWireError.self) { try GossipWire.decode(Array("{\"body\":7}".utf8)) }
    }

    @Test func messagesRoundTripThroughTheWireFormat() throws {
        let (a, b) = try pair()
        let message = GossipMessage(stamp: a.ownSigned.stamp, rumours: [Rumour(kind: .suspect, subject: b.id, stamp: b.ownSigned.stamp)],
                                    body: .records([a.ownSigned], hops: 2))
        #expect(try GossipWire.decode(GossipWire.encode(message)) == message)
        let digest = GossipMessage(stamp: a.ownSigned.stamp, body: .digest(WireVector(a.vector), reply: true))
        #expect(try GossipWire.decode(GossipWire.encode(digest)) == digest)
    }
}

@Suite("Gossip reconciliation and probing at scale")
struct GossipScaleTests {
    /// `n` instances that all hold each other's first records.
    func cluster(_ n: Int) throws -> [GossipInstance] {
        var nodes = try (1...n).map { try Fixture.instance(UInt64($0)) }
        let records = nodes.map(\.ownSigned)
        for i in nodes.indices { for r in records where r.signer != nodes[i].id { _ = nodes[i].learn(r, now: .zero) } }
        return nodes
    }

    @Test func vectorsThatDifferHaveDifferentSummaries() throws {
        // Two members moving 1.1 -> 1.2 used to cancel out in a sum of plain FNV-1a hashes.
        let ids = (1...200).map { Fixture.simulatedID(UInt64($0)) }
        let old = Dictionary(uniqueKeysWithValues: ids.map { ($0, Stamp(epoch: 1, version: 1)) })
        for a in 0..<ids.count { for b in (a + 1)..<min(ids.count, a + 20) {
            var new = old
            new[ids[a]] = Stamp(epoch: 1, version: 2)
            new[ids[b]] = Stamp(epoch: 1, version: 2)
            #expect(new.summary != old.summary)
        } }
    }

    @Test func largeVectorsReconcileOnlyTheBucketsThatDiffer() throws {
        var nodes = try cluster(100)
        var a = nodes.removeFirst()
        var b = nodes.removeFirst()
        _ = try nodes[0].updateLocal(now: .seconds(1)) { $0.apiPort = 7 }
        _ = a.learn(nodes[0].ownSigned, now: .seconds(1))
        #expect(a.vectorSummary != b.vectorSummary)
        // b opens: a large vector is summarised per bucket, not sent whole.
        let syn = b.receive(GossipMessage(stamp: a.ownSigned.stamp, body: .syn(summary: a.vectorSummary, count: a.vector.count)), from: a.id, now: .seconds(1))
        guard case .buckets(let summaries)? = Fixture.sent(syn).first?.0.body else { Issue.record("no bucket summaries"); return }
        let digest = a.receive(GossipMessage(stamp: b.ownSigned.stamp, body: .buckets(summaries)), from: b.id, now: .seconds(1))
        guard case .bucketDigest(let entries, let buckets)? = Fixture.sent(digest).first?.0.body else { Issue.record("no bucket digest"); return }
        #expect(buckets == [GossipInstance.bucket(of: nodes[0].id)])
        #expect(entries.entries.count < 20, "only one bucket's entries travel")
        let answer = b.receive(GossipMessage(stamp: a.ownSigned.stamp, body: .bucketDigest(entries, buckets: buckets)), from: a.id, now: .seconds(1))
        let requests = Fixture.sent(answer).compactMap { m, _ -> [NodeID: Stamp]? in if case .digest(let v, false) = m.body { v.entries } else { nil } }
        #expect(requests.first.map { Array($0.keys) } == [nodes[0].id])
        let records = a.receive(Fixture.sent(answer).first { if case .digest = $0.0.body { true } else { false } }!.0, from: b.id, now: .seconds(1))
        for record in Fixture.records(records, to: b.id) { _ = b.learn(record, now: .seconds(1)) }
        #expect(a.vectorSummary == b.vectorSummary)
    }

    @Test func aSuspectIsToldSoInEveryMessageItIsSentAndRefutesAtOnce() throws {
        let nodes = try cluster(12)
        var a = nodes[0]
        var b = nodes[1]
        // Older rumours about ten others fill the piggyback slots (8) before the one about b.
        for other in nodes[2...] { _ = a.peerDisconnected(other.id, now: .seconds(1)) }
        let suspicion = Rumour(kind: .suspect, subject: b.id, stamp: b.ownSigned.stamp)
        let probe = Fixture.sent(a.peerDisconnected(b.id, now: .seconds(1))).filter { $0.1 == b.id }
        #expect(probe.count == 1, "the confirmation probe")
        #expect(probe.allSatisfy { $0.0.rumours.contains(suspicion) })
        // Until b would be declared dead (disconnectConfirmTimeout 1.5 s), every message a sends it says so.
        let later = Fixture.sent(Fixture.tick(&a, from: .milliseconds(1100), to: .seconds(2))).filter { $0.1 == b.id }
        #expect(!later.isEmpty && later.allSatisfy { $0.0.rumours.contains(suspicion) }, "every later message too")
        guard let ping = probe.first?.0 else { return }
        let reply = b.receive(ping, from: a.id, now: .seconds(1))
        #expect(b.ownSigned.stamp > suspicion.stamp, "b refuted")
        #expect(Fixture.records(reply, to: a.id).map(\.stamp) == [b.ownSigned.stamp])
    }

    @Test func aLostDirectProbeIsRetriedThroughOtherMembersBeforeSuspicion() throws {
        var nodes = try cluster(5)
        var a = nodes[0]
        // Tick until a probes someone; drop the ping (lost), and let the deadline pass.
        var t = Duration.zero
        var probe: (seq: UInt64, to: NodeID)?
        while probe == nil, t < .seconds(2) {
            for (m, to) in Fixture.sent(a.tick(now: t)) { if case .ping(let seq) = m.body, seq > 0 { probe = (seq, to) } }
            t += .milliseconds(100)
        }
        guard let probe else { Issue.record("no probe"); return }
        let expired = a.tick(now: t + .milliseconds(500))
        let requests = Fixture.sent(expired).filter { if case .pingReq(seq: probe.seq, target: probe.to) = $0.0.body { true } else { false } }
        #expect(!requests.isEmpty && requests.count <= 3)
        #expect(a.liveness(of: probe.to) == .alive, "not suspect while indirect probes are out")
        // One helper relays: it pings the target, the target acks, the helper tells a.
        let helperIndex = nodes.firstIndex { $0.id == requests[0].1 }!
        let targetIndex = nodes.firstIndex { $0.id == probe.to }!
        let relayed = nodes[helperIndex].receive(requests[0].0, from: a.id, now: t + .milliseconds(500))
        let ping = Fixture.sent(relayed).first { $0.1 == probe.to }!.0
        let ack = Fixture.sent(nodes[targetIndex].receive(ping, from: nodes[helperIndex].id, now: t + .milliseconds(501))).first!.0
        let told = Fixture.sent(nodes[helperIndex].receive(ack, from: probe.to, now: t + .milliseconds(502))).first { $0.1 == a.id }!.0
        _ = a.receive(told, from: nodes[helperIndex].id, now: t + .milliseconds(503))
        _ = a.tick(now: t + .milliseconds(1100))
        #expect(a.liveness(of: probe.to) == .alive)
    }
}
