import Foundation
import Mesh

/// N gossip instances in one process on a virtual clock: messages are delayed, lost, partitioned, held
/// for paused nodes, and dropped at crashed ones, all from one seed.
public final class SimulatedCluster {
    public enum Signing: String, Sendable {
        case ed25519
        case simulated
    }

    public enum NodeState: Equatable, Sendable {
        case running
        case paused(until: Duration)
        case crashed
    }

    public struct Conditions: Sendable {
        public var loss: Double
        public var latency: ClosedRange<Duration>
        public init(loss: Double = 0, latency: ClosedRange<Duration> = .milliseconds(1) ... .milliseconds(5)) {
            self.loss = loss
            self.latency = latency
        }
    }

    enum Event {
        case tick(Int)
        case deliver(from: Int, to: Int, GossipMessage)
        case disconnected(Int, peer: Int)
        case resume(Int)
    }

    public private(set) var now: Duration = .zero
    public private(set) var nodes: [GossipInstance] = []
    public let ids: [NodeID]
    public let signingScheme: String
    public private(set) var states: [NodeState]
    public var conditions: Conditions
    /// Group per node while partitioned; messages cross no group boundary.
    public private(set) var partition: [Int]?
    public var measureBytes = false
    public private(set) var bytesSent: [Int]
    /// Every liveness change any node reported: (time, observer, subject, liveness).
    public private(set) var livenessLog: [(at: Duration, observer: Int, subject: Int, liveness: Liveness)] = []
    public private(set) var messagesDelivered = 0

    let index: [NodeID: Int]
    var queue = EventQueue<Event>()
    var rng: SeededRandom
    var backlog: [[(from: Int, message: GossipMessage)]]
    private let encoder = JSONEncoder()
    /// Called after every event handled at a node (its index), to observe the view as it changes.
    public var observer: ((SimulatedCluster, Int) -> Void)?

    public init(size: Int, seed: UInt64, signing: Signing, settings: GossipSettings = GossipSettings(), conditions: Conditions = Conditions()) throws {
        var rng = SeededRandom(seed: seed)
        var signers: [any RecordSigner] = []
        let verifier: any SignatureVerifier
        switch signing {
        case .ed25519:
            for _ in 0..<size { signers.append(Ed25519Signer(identity: try NodeIdentity.ephemeral())) }
            verifier = Ed25519Verifier()
        case .simulated:
            for _ in 0..<size {
                let hex = (0..<4).map { _ in String(rng.next(), radix: 16).leftPadded(to: 16) }.joined()
                signers.append(SimulatedSigner(nodeID: NodeID(hex: hex)!))
            }
            verifier = SimulatedVerifier()
        }
        signingScheme = signers.first?.scheme ?? "none"
        ids = signers.map(\.nodeID)
        index = Dictionary(uniqueKeysWithValues: ids.enumerated().map { ($1, $0) })
        states = Array(repeating: .running, count: size)
        bytesSent = Array(repeating: 0, count: size)
        backlog = Array(repeating: [], count: size)
        self.conditions = conditions
        for (i, signer) in signers.enumerated() {
            let record = NodeRecord(node: signer.nodeID, epoch: 1, addresses: ["10.0.\(i / 256).\(i % 256)"], meshPort: 52416, apiPort: 52415,
                                    resources: .init(memoryTotalBytes: 16 << 30, memoryAvailableBytes: 8 << 30, cores: 8))
            nodes.append(try GossipInstance(record: record, signer: signer, verifier: verifier, settings: settings, now: .zero,
                                            random: SeededRandom(seed: rng.next())))
        }
        // Start converged, as after discovery: every node holds every record (already verified once here).
        let decoder = JSONDecoder()
        // In id order, so each instance's sorted member list grows at its end instead of shifting N times.
        let initial = try nodes.map { ($0.ownSigned, try decoder.decode(NodeRecord.self, from: Data($0.ownSigned.payload))) }
            .sorted { $0.0.signer < $1.0.signer }
        for i in nodes.indices {
            var ignored: [GossipDirective] = []
            for (signed, record) in initial where signed.signer != ids[i] { nodes[i].apply(signed, record, now: .zero, &ignored) }
            queue.push(.tick(i), at: settings.tickInterval * Double.random(in: 0..<1, using: &rng))
        }
        self.rng = rng
        encoder.outputFormatting = [.sortedKeys]
    }

    public var running: [Int] { states.indices.filter { states[$0] == .running } }

    // MARK: Faults and changes

    public func update(_ i: Int, _ change: (inout NodeRecord) -> Void) throws {
        perform(try nodes[i].updateLocal(now: now, change), at: i)
    }

    public func crash(_ i: Int) {
        states[i] = .crashed
        backlog[i] = []
        // The kernel closes a killed process's sockets: every connected peer sees the drop.
        for j in running where j != i && nodes[j].members[ids[i]] != nil {
            queue.push(.disconnected(j, peer: i), at: now + latency())
        }
    }

    public func pause(_ i: Int, for duration: Duration) {
        states[i] = .paused(until: now + duration)
        queue.push(.resume(i), at: now + duration)
    }

    public func partition(_ groups: [Int]) { partition = groups }
    public func heal() { partition = nil }

    public func leave(_ i: Int) throws {
        perform(try nodes[i].leave(now: now), at: i)
    }

    // MARK: Running

    public func run(for duration: Duration) { run(until: now + duration) }

    public func run(until end: Duration) {
        while let next = queue.nextTime, next <= end {
            let (at, event) = queue.pop()!
            now = at
            handle(event)
        }
        now = end
    }

    /// Runs in steps until `done` holds (checked every `step`) or `limit` passes; the time taken, or nil.
    public func run(until done: (SimulatedCluster) -> Bool, step: Duration = .milliseconds(10), limit: Duration) -> Duration? {
        let start = now
        while now - start < limit {
            if done(self) { return now - start }
            run(for: step)
        }
        return done(self) ? now - start : nil
    }

    private func handle(_ event: Event) {
        switch event {
        case .tick(let i):
            switch states[i] {
            case .running:
                queue.push(.tick(i), at: now + nodes[i].settings.tickInterval)
                perform(nodes[i].tick(now: now), at: i)
            case .paused:
                queue.push(.tick(i), at: now + nodes[i].settings.tickInterval)
            case .crashed:
                break
            }
        case .deliver(let from, let to, let message):
            switch states[to] {
            case .running:
                messagesDelivered += 1
                perform(nodes[to].receive(message, from: ids[from], now: now), at: to)
            case .paused:
                // The kernel still accepts bytes for a stopped process; it reads them on resume.
                backlog[to].append((from, message))
            case .crashed:
                break
            }
        case .disconnected(let i, let peer):
            if states[i] == .running { perform(nodes[i].peerDisconnected(ids[peer], now: now), at: i) }
        case .resume(let i):
            guard case .paused(let until) = states[i], until <= now else { return }
            states[i] = .running
            let held = backlog[i]
            backlog[i] = []
            for (from, message) in held {
                messagesDelivered += 1
                perform(nodes[i].receive(message, from: ids[from], now: now), at: i)
            }
        }
    }

    private func perform(_ directives: [GossipDirective], at i: Int) {
        for directive in directives {
            switch directive {
            case .send(let message, let peer):
                guard let j = index[peer] else { continue }
                if measureBytes { bytesSent[i] += (try? encoder.encode(message).count) ?? 0 }
                if let partition, partition[i] != partition[j] { continue }
                if conditions.loss > 0, Double.random(in: 0..<1, using: &rng) < conditions.loss { continue }
                queue.push(.deliver(from: i, to: j, message), at: now + latency())
            case .liveness(let peer, let liveness):
                if let j = index[peer] { livenessLog.append((now, i, j, liveness)) }
            case .recordChanged, .pruned:
                break
            }
        }
        observer?(self, i)
    }

    private func latency() -> Duration {
        let low = conditions.latency.lowerBound
        let span = conditions.latency.upperBound - low
        return low + span * Double.random(in: 0...1, using: &rng)
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
