/// Which piece of a file to ask which peer for, and what to make of each answer. Pure: the fetcher feeds
/// it arrivals, refusals and the time, and sends what it returns.
///
/// Pieces a rank needs (`prioritize`) go before the rest, lowest index first. Requests spread over the
/// sources, at most `perPeerLimit` outstanding per peer, the least busy peer first. A peer that refused a
/// piece or let it time out is asked for it again only when no other source is left; a peer that sent a
/// piece that fails its digest is dropped for the rest of the transfer.
struct TransferSchedule: Sendable {
    struct Request: Sendable, Hashable {
        var chunk: Int
        var peer: String
    }

    enum Arrival: Sendable, Equatable {
        /// Verified and missing: write it, then call `stored`.
        case write
        /// Verified, but already held (a late answer to a request that had timed out).
        case duplicate
        /// Failed its digest: the peer is dropped.
        case corrupt
        /// Not a piece of this file, or not asked of this peer.
        case unsolicited
    }

    let chunkCount: Int
    let perPeerLimit: Int
    /// Seconds a request may stay unanswered before the piece is asked of another peer.
    let requestTimeout: Double
    private(set) var have: [Bool]
    private(set) var haveCount = 0
    private(set) var sources: [String] = []
    private(set) var banned: Set<String> = []
    private(set) var priority: Set<Int> = []
    private var inFlight: [Int: (peer: String, since: Double)] = [:]
    private var failedBy: [Int: Set<String>] = [:]
    private var rotation = 0

    init(chunkCount: Int, have: [Bool]? = nil, perPeerLimit: Int = 2, requestTimeout: Double = 20) {
        self.chunkCount = chunkCount
        self.perPeerLimit = max(1, perPeerLimit)
        self.requestTimeout = requestTimeout
        let initial = have.flatMap { $0.count == chunkCount ? $0 : nil } ?? [Bool](repeating: false, count: chunkCount)
        self.have = initial
        self.haveCount = initial.count { $0 }
    }

    var isComplete: Bool { haveCount == chunkCount }
    var outstanding: Int { inFlight.count }
    /// True when every prioritized piece is held (vacuously before any is prioritized).
    var prioritySatisfied: Bool { priority.allSatisfy { have[$0] } }

    /// The peers to fetch from; banned ones stay out.
    mutating func setSources(_ peers: some Sequence<String>) {
        sources = Set(peers).subtracting(banned).sorted()
        for (chunk, request) in inFlight where !sources.contains(request.peer) { inFlight[chunk] = nil }
    }

    mutating func prioritize(_ chunks: some Sequence<Int>) {
        for chunk in chunks where have.indices.contains(chunk) { priority.insert(chunk) }
    }

    /// The number of leading pieces held without a gap.
    var heldPrefix: Int { have.firstIndex(of: false) ?? chunkCount }

    /// New requests to send, at most `limit` (the caller's rate and transfer budget).
    mutating func nextRequests(limit: Int) -> [Request] {
        guard limit > 0, !sources.isEmpty else { return [] }
        var load = Dictionary(uniqueKeysWithValues: sources.map { ($0, 0) })
        for request in inFlight.values { load[request.peer, default: 0] += 1 }
        var requests: [Request] = []
        let missing = have.indices.filter { !have[$0] && inFlight[$0] == nil }
        let ordered = missing.filter { priority.contains($0) } + missing.filter { !priority.contains($0) }
        for chunk in ordered {
            guard requests.count < limit else { break }
            let free = sources.filter { load[$0, default: 0] < perPeerLimit }
            guard !free.isEmpty else { break }
            let fresh = free.filter { !(failedBy[chunk]?.contains($0) ?? false) }
            let pool = fresh.isEmpty ? free : fresh
            let least = pool.map { load[$0, default: 0] }.min() ?? 0
            let idle = pool.filter { load[$0, default: 0] == least }
            let peer = idle[rotation % idle.count]
            rotation &+= 1
            load[peer, default: 0] += 1
            requests.append(Request(chunk: chunk, peer: peer))
        }
        return requests
    }

    /// Records that `requests` went out at `now`.
    mutating func sent(_ requests: [Request], at now: Double) {
        for request in requests { inFlight[request.chunk] = (request.peer, now) }
    }

    /// A piece arrived from `peer`; `valid` is whether it matched its digest.
    mutating func arrived(chunk: Int, from peer: String, valid: Bool) -> Arrival {
        guard have.indices.contains(chunk) else { return .unsolicited }
        let asked = inFlight[chunk]?.peer == peer
        if !valid {
            guard asked || sources.contains(peer) else { return .unsolicited }
            if asked { inFlight[chunk] = nil }
            ban(peer)
            return .corrupt
        }
        if have[chunk] {
            if asked { inFlight[chunk] = nil }
            return .duplicate
        }
        guard asked || failedBy[chunk]?.contains(peer) == true else { return .unsolicited }
        inFlight[chunk] = nil
        return .write
    }

    /// The piece is written: it counts as held.
    mutating func stored(chunk: Int) {
        guard have.indices.contains(chunk), !have[chunk] else { return }
        have[chunk] = true
        haveCount += 1
        failedBy[chunk] = nil
    }

    /// `peer` could not serve `chunk` (busy, missing file, write failed here): ask someone else.
    mutating func refused(chunk: Int, by peer: String) {
        guard inFlight[chunk]?.peer == peer else { return }
        inFlight[chunk] = nil
        failedBy[chunk, default: []].insert(peer)
    }

    /// Requests older than the timeout are given up (their pieces go back in the queue) and returned.
    mutating func expire(now: Double) -> [Request] {
        let late = inFlight.filter { now - $0.value.since >= requestTimeout }.map { Request(chunk: $0.key, peer: $0.value.peer) }
        for request in late { refused(chunk: request.chunk, by: request.peer) }
        return late.sorted { $0.chunk < $1.chunk }
    }

    mutating func ban(_ peer: String) {
        banned.insert(peer)
        setSources(sources)
    }
}
