/// What this node believes about a member (SWIM): alive → suspect → dead, or left when it announced departure.
public enum Liveness: String, Codable, Sendable, CaseIterable {
    case alive
    /// Missed probes or a dropped connection; being probed directly to confirm.
    case suspect
    /// Confirmed unreachable at its current stamp; only a newer record from it revives it.
    case dead
    /// Announced a graceful stop (`leaving` record).
    case left
}

/// Why a member is suspect; decides how fast suspicion turns into death.
enum Suspicion: Sendable {
    /// Probes went unanswered: wait `suspicionTimeout`, longer than a process pause.
    case missedProbes
    /// Its connection dropped, as a crashed process's does: confirm within `disconnectConfirmTimeout`.
    case disconnected
}

/// What the shell must do, returned by every event the core handles.
public enum GossipDirective: Equatable, Sendable {
    case send(GossipMessage, to: NodeID)
    /// A member's liveness changed (including first sight: `alive` or `left`).
    case liveness(NodeID, Liveness)
    /// A newer record of this member was applied to the view.
    case recordChanged(NodeID)
    /// A dead or departed member was dropped from the view after the grace period.
    case pruned(NodeID)
}

import Mesh
