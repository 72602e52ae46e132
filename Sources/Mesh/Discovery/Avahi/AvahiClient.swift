import CAvahi
import Foundation

/// Whether the Avahi daemon can be used. A missing daemon is an ordinary outcome on many machines
/// (containers, minimal installs), so it is a value, never a crash or a thrown error.
public enum AvahiStatus: Sendable, Equatable, CustomStringConvertible {
    case running
    /// No daemon answered on the system D-Bus (or there is no D-Bus at all).
    case daemonNotRunning(reason: String)
    /// The daemon answered but the client could not be set up or lost it later.
    case failed(reason: String)

    public var description: String {
        switch self {
        case .running: "Avahi daemon running"
        case .daemonNotRunning(let reason):
            "Avahi daemon not reachable (\(reason)); mDNS discovery is off. Install and start avahi-daemon, or pass --peer host:port"
        case .failed(let reason): "Avahi client failed (\(reason)); mDNS discovery is off"
        }
    }
}

/// Errors from Avahi calls made on a connected client.
public enum AvahiError: Error, Equatable, CustomStringConvertible {
    case call(String, reason: String)
    case closed

    public var description: String {
        switch self {
        case .call(let what, let reason): "Avahi \(what) failed: \(reason)"
        case .closed: "the Avahi client is closed"
        }
    }
}

/// The outcome of `AvahiClient.connect()`.
public enum AvahiConnection: Sendable {
    case connected(AvahiClient)
    case unavailable(AvahiStatus)

    public var status: AvahiStatus {
        switch self {
        case .connected: .running
        case .unavailable(let status): status
        }
    }
}

/// A connection to the Avahi daemon through libavahi-client, driven by Avahi's own poll thread.
///
/// Every Avahi object is touched either from a callback (which Avahi runs on its poll thread with the
/// poll lock held) or from a method here holding that same lock, so the lock also guards `state`.
/// No C pointer leaves this type and its extensions; results travel out as Swift values and AsyncStreams.
public final class AvahiClient: @unchecked Sendable {
    /// What the C callbacks reach through their `userdata` pointer.
    final class State {
        var client: OpaquePointer?
        var status: AvahiStatus = .running
        var statusContinuations: [AsyncStream<AvahiStatus>.Continuation] = []
        var browsers: [BrowseContext] = []
        var groups: [PublishContext] = []

        func update(_ new: AvahiStatus) {
            guard new != status else { return }
            status = new
            for c in statusContinuations { c.yield(new) }
        }
    }

    let poll: OpaquePointer
    let state: State
    private let stateRef: Unmanaged<State>
    /// Guards `isClosed` and keeps `close()` from freeing the poll under a caller.
    private let lifecycle = NSLock()
    private var isClosed = false

    private init(poll: OpaquePointer, state: State, stateRef: Unmanaged<State>) {
        self.poll = poll
        self.state = state
        self.stateRef = stateRef
    }

    /// Connects to the Avahi daemon on the system D-Bus (`DBUS_SYSTEM_BUS_ADDRESS`, else the default socket).
    /// libdbus reads that address once per process, at the first connection; later changes have no effect.
    public static func connect() -> AvahiConnection {
        guard let poll = avahi_threaded_poll_new() else {
            return .unavailable(.failed(reason: "avahi_threaded_poll_new returned NULL"))
        }
        let state = State()
        let ref = Unmanaged.passRetained(state)
        var error: Int32 = 0
        // The callback runs first inside avahi_client_new, before `client` is assigned: it only uses its arguments.
        let client = avahi_client_new(avahi_threaded_poll_get(poll), AvahiClientFlags(rawValue: 0), { client, clientState, userdata in
            guard let userdata else { return }
            let state = Unmanaged<State>.fromOpaque(userdata).takeUnretainedValue()
            switch clientState {
            case AVAHI_CLIENT_S_RUNNING, AVAHI_CLIENT_S_REGISTERING, AVAHI_CLIENT_S_COLLISION:
                state.update(.running)
            case AVAHI_CLIENT_FAILURE:
                let code = avahi_client_errno(client)
                let reason = AvahiClient.message(for: code)
                state.update(code == Int32(AVAHI_ERR_DISCONNECTED) || code == Int32(AVAHI_ERR_NO_DAEMON)
                             ? .daemonNotRunning(reason: reason) : .failed(reason: reason))
            default:
                break
            }
        }, ref.toOpaque(), &error)

        guard let client else {
            avahi_threaded_poll_free(poll)
            ref.release()
            let reason = message(for: error)
            if error == Int32(AVAHI_ERR_NO_DAEMON) || error == Int32(AVAHI_ERR_DBUS_ERROR) || error == Int32(AVAHI_ERR_DISCONNECTED) {
                return .unavailable(.daemonNotRunning(reason: reason))
            }
            return .unavailable(.failed(reason: reason))
        }
        state.client = client
        guard avahi_threaded_poll_start(poll) >= 0 else {
            avahi_client_free(client)
            avahi_threaded_poll_free(poll)
            ref.release()
            return .unavailable(.failed(reason: "could not start the Avahi poll thread"))
        }
        return .connected(AvahiClient(poll: poll, state: state, stateRef: ref))
    }

    /// The daemon's state as last reported (it can drop to `daemonNotRunning` if the daemon stops).
    public var status: AvahiStatus { withLock { $0.status } ?? .failed(reason: "client closed") }

    /// Status changes from now on; finishes when the client is closed.
    public func statusUpdates() -> AsyncStream<AvahiStatus> {
        let (stream, continuation) = AsyncStream.makeStream(of: AvahiStatus.self)
        if withLock({ $0.statusContinuations.append(continuation) }) == nil { continuation.finish() }
        return stream
    }

    /// The daemon's host name, e.g. to log where we publish.
    public var hostName: String? {
        withLock { state -> String? in
            guard let client = state.client, let name = avahi_client_get_host_name(client) else { return nil }
            return String(cString: name)
        } ?? nil
    }

    /// Stops the poll thread and frees every Avahi object; all streams finish. Safe to call twice.
    public func close() {
        lifecycle.lock()
        defer { lifecycle.unlock() }
        guard !isClosed else { return }
        isClosed = true
        // Stopping joins the poll thread (callbacks never take `lifecycle`); afterwards no callback can run.
        avahi_threaded_poll_stop(poll)
        if let client = state.client { avahi_client_free(client) }
        state.client = nil
        avahi_threaded_poll_free(poll)
        for c in state.statusContinuations { c.finish() }
        for b in state.browsers { b.finish() }
        for g in state.groups { g.release() }
        state.statusContinuations = []
        state.browsers = []
        state.groups = []
        stateRef.release()
    }

    deinit { close() }

    /// Runs `body` holding the poll lock; nil once closed. Never called from an Avahi callback (that would deadlock).
    func withLock<T>(_ body: (State) -> T) -> T? {
        lifecycle.lock()
        defer { lifecycle.unlock() }
        guard !isClosed else { return nil }
        avahi_threaded_poll_lock(poll)
        defer { avahi_threaded_poll_unlock(poll) }
        return body(state)
    }

    static func message(for code: Int32) -> String {
        guard let text = avahi_strerror(code) else { return "error \(code)" }
        return String(cString: text)
    }
}
