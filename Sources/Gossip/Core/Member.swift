import Mesh

/// One other node as this node sees it: its latest verified record and what the failure detector thinks.
public struct Member: Sendable {
    public internal(set) var signed: SignedRecord
    public internal(set) var record: NodeRecord
    public internal(set) var liveness: Liveness
    /// Last direct contact (any message, or a newer record).
    public internal(set) var lastHeard: Duration
    /// When `liveness` last changed; dead and left members are pruned relative to it.
    public internal(set) var since: Duration
    var suspicion: Suspicion?
    var nextConfirmProbe: Duration = .zero
    var lastToldDead: Duration?

    public var stamp: Stamp { signed.stamp }
}
