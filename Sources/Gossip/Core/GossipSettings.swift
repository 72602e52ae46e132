/// Timing and fan-out of the protocol. Defaults meet DESIGN.md's targets for 10…1,000 nodes on a LAN.
public struct GossipSettings: Sendable {
    /// How often the shell calls `tick`; finer than every interval below.
    public var tickInterval: Duration = .milliseconds(100)
    /// SWIM protocol period: one direct probe of the next member in a shuffled round robin.
    public var probeInterval: Duration = .seconds(1)
    /// A probe unanswered this long makes its target suspect.
    public var probeTimeout: Duration = .milliseconds(500)
    /// A suspect that answers nothing for this long is dead. Longer than a 5 s SIGSTOP, so a paused
    /// process is suspected but never declared dead.
    public var suspicionTimeout: Duration = .seconds(8)
    /// After its connection drops (a crashed process's sockets close), a peer is probed this often...
    public var disconnectProbeInterval: Duration = .milliseconds(250)
    /// ...and declared dead if none of those probes is answered within this time.
    public var disconnectConfirmTimeout: Duration = .milliseconds(1500)
    /// Members asked to probe a target indirectly (SWIM `ping-req`) when a direct probe times out; the target
    /// becomes suspect only if none of them gets an answer within another `probeTimeout`. 0 disables.
    public var indirectProbes = 3
    /// Confirmation probes sent per tick at most. A partition makes every node suspect everyone on the
    /// other side at once; without a bound each would probe them all every few hundred milliseconds
    /// (traffic quadratic in the cluster size). Suspects beyond the budget wait their turn (round
    /// robin) or time out, which is right when they are really cut off.
    public var maxConfirmProbesPerTick = 16
    /// Anti-entropy period: a vector summary to one random live member.
    public var gossipInterval: Duration = .milliseconds(500)
    /// Vectors up to this many entries are exchanged whole when summaries differ; larger ones are
    /// reconciled bucket by bucket (`GossipMessage.Body.buckets`), so a digest costs what differs, not O(N).
    public var fullDigestLimit = 64
    /// Most record payload bytes in one anti-entropy answer (at least one record is always sent); what did
    /// not fit goes in the next exchange. Keeps every exchange bounded however far apart two views are.
    public var maxRecordBytesPerMessage = 64 * 1024
    /// Peers a new record is pushed to by its origin and by every node on first receipt.
    public var fanout = 6
    /// A node forwards fresh records at once at most this often; records arriving in between are held and
    /// forwarded together by the next tick, so a burst of updates does not multiply messages.
    public var forwardCoalescing: Duration = .milliseconds(100)
    /// How far an eager push travels; duplicates stop it long before.
    public var pushHops = 12
    /// One dead member is pinged this often, so a healed partition finds its way back.
    public var deadProbeInterval: Duration = .seconds(1)
    /// Dead and departed members are dropped from the view after this long...
    public var pruneAfter: Duration = .seconds(60)
    /// ...and their last stamp is remembered this long, so stale gossip cannot bring them back.
    public var tombstoneLifetime: Duration = .seconds(3600)
    /// Most rumours piggybacked on one message.
    public var maxPiggyback = 8
    /// A rumour is retransmitted `rumourRetransmitFactor * ceil(log2(n + 1))` times.
    public var rumourRetransmitFactor = 3
    /// The own record's `seen` vector is re-signed at most this often when it changed; nil leaves `seen` empty
    /// (large simulations: a 1,000-entry vector in every record costs more than the figure it buys).
    public var seenRefreshInterval: Duration? = .seconds(2)

    public init() {}
}
