/// Where a rank's runner is in its life (DESIGN.md, "Runner lifecycle"). The raw values are what gossip carries.
public enum RunnerState: String, Sendable, Hashable, Codable, CaseIterable {
    case idle, connecting, connected, loading, loaded, warmingUp, ready, running, shuttingDown, shutdown, failed

    /// Position on the way up (`ready` and `running` level), or nil for the states that leave it: a rank
    /// shutting down, shut down or failed satisfies no barrier.
    public var progress: Int? {
        switch self {
        case .idle: 0
        case .connecting: 1
        case .connected: 2
        case .loading: 3
        case .loaded: 4
        case .warmingUp: 5
        case .ready, .running: 6
        case .shuttingDown, .shutdown, .failed: nil
        }
    }

    /// True when the runner is at `milestone` or past it on the way up.
    public func hasReached(_ milestone: RunnerState) -> Bool {
        guard let progress, let target = milestone.progress else { return false }
        return progress >= target
    }
}

/// What a node asks of its runner.
public enum RunnerTask: String, Sendable, Hashable, Codable, CaseIterable {
    case connectToGroup, loadModel, startWarmup, chatCompletion, shutdown
}

/// What the runner's own work reports back: the end of a step it was asked to take, or its death.
public enum RunnerEvent: String, Sendable, Hashable, Codable, CaseIterable {
    case connectionEstablished, modelLoaded, warmupFinished, completionFinished, drained, crashed
    /// The supervisor started a fresh process after a failure.
    case restarted
}

/// The answer to a task. A task that does not fit the state is refused and the runner carries on as it was:
/// never a crash (exo died on "Received LoadModel outside of state machine").
public enum TaskOutcome: Sendable, Hashable {
    case accepted(RunnerState)
    case taskFailed(reason: String)

    /// The state after the task: the new one, or `state` unchanged when the task failed.
    public func state(from state: RunnerState) -> RunnerState {
        switch self {
        case .accepted(let next): next
        case .taskFailed: state
        }
    }
}

/// The answer to an event. One that does not fit the state (a late report from before a restart, say) is
/// ignored.
public enum EventOutcome: Sendable, Hashable {
    case moved(RunnerState)
    case ignored(reason: String)

    public func state(from state: RunnerState) -> RunnerState {
        switch self {
        case .moved(let next): next
        case .ignored: state
        }
    }
}

extension RunnerState {
    /// Total: every (state, task) pair is answered. One completion at a time: the node queues the others.
    public func handling(_ task: RunnerTask) -> TaskOutcome {
        switch task {
        case .connectToGroup:
            switch self {
            case .idle: return .accepted(.connecting)
            case .connecting, .connected, .loading, .loaded, .warmingUp, .ready, .running, .shuttingDown, .shutdown, .failed:
                return refuse(task, wanting: .idle)
            }
        case .loadModel:
            switch self {
            case .connected: return .accepted(.loading)
            case .idle, .connecting, .loading, .loaded, .warmingUp, .ready, .running, .shuttingDown, .shutdown, .failed:
                return refuse(task, wanting: .connected)
            }
        case .startWarmup:
            switch self {
            case .loaded: return .accepted(.warmingUp)
            case .idle, .connecting, .connected, .loading, .warmingUp, .ready, .running, .shuttingDown, .shutdown, .failed:
                return refuse(task, wanting: .loaded)
            }
        case .chatCompletion:
            switch self {
            case .ready: return .accepted(.running)
            case .running: return .taskFailed(reason: "chatCompletion refused: the runner is running another completion")
            case .idle, .connecting, .connected, .loading, .loaded, .warmingUp, .shuttingDown, .shutdown, .failed:
                return refuse(task, wanting: .ready)
            }
        case .shutdown:
            switch self {
            case .idle, .connecting, .connected, .loading, .loaded, .warmingUp, .ready, .running, .failed:
                return .accepted(.shuttingDown)
            case .shuttingDown, .shutdown:
                // Asking twice is not an error: a second SIGTERM must not log one.
                return .accepted(self)
            }
        }
    }

    /// Total: every (state, event) pair is answered. A crash takes any live state to `failed`.
    public func handling(_ event: RunnerEvent) -> EventOutcome {
        switch event {
        case .connectionEstablished: advance(event, from: .connecting, to: .connected)
        case .modelLoaded: advance(event, from: .loading, to: .loaded)
        case .warmupFinished: advance(event, from: .warmingUp, to: .ready)
        case .completionFinished: advance(event, from: .running, to: .ready)
        case .drained: advance(event, from: .shuttingDown, to: .shutdown)
        case .restarted: advance(event, from: .failed, to: .idle)
        case .crashed:
            switch self {
            case .idle, .connecting, .connected, .loading, .loaded, .warmingUp, .ready, .running, .shuttingDown:
                .moved(.failed)
            case .shutdown, .failed:
                .ignored(reason: "crashed ignored: the runner is already \(rawValue)")
            }
        }
    }

    private func refuse(_ task: RunnerTask, wanting expected: RunnerState) -> TaskOutcome {
        .taskFailed(reason: "\(task.rawValue) refused: the runner is \(rawValue), it must be \(expected.rawValue)")
    }

    private func advance(_ event: RunnerEvent, from expected: RunnerState, to next: RunnerState) -> EventOutcome {
        self == expected ? .moved(next) : .ignored(reason: "\(event.rawValue) ignored: the runner is \(rawValue), not \(expected.rawValue)")
    }
}
