import Testing
@testable import Placement

@Suite("runner lifecycle: a total transition function")
struct RunnerLifecycleTests {
    /// Every task a state accepts, and where it leads; all other pairs must be refused.
    static let accepted: [RunnerState: [RunnerTask: RunnerState]] = [
        .idle: [.connectToGroup: .connecting, .shutdown: .shuttingDown],
        .connecting: [.shutdown: .shuttingDown],
        .connected: [.loadModel: .loading, .shutdown: .shuttingDown],
        .loading: [.shutdown: .shuttingDown],
        .loaded: [.startWarmup: .warmingUp, .shutdown: .shuttingDown],
        .warmingUp: [.shutdown: .shuttingDown],
        .ready: [.chatCompletion: .running, .shutdown: .shuttingDown],
        .running: [.shutdown: .shuttingDown],
        .shuttingDown: [.shutdown: .shuttingDown],
        .shutdown: [.shutdown: .shutdown],
        .failed: [.shutdown: .shuttingDown],
    ]

    /// Every event a state takes, and where it leads; all other pairs must be ignored.
    static let moves: [RunnerState: [RunnerEvent: RunnerState]] = [
        .idle: [.crashed: .failed],
        .connecting: [.connectionEstablished: .connected, .crashed: .failed],
        .connected: [.crashed: .failed],
        .loading: [.modelLoaded: .loaded, .crashed: .failed],
        .loaded: [.crashed: .failed],
        .warmingUp: [.warmupFinished: .ready, .crashed: .failed],
        .ready: [.crashed: .failed],
        .running: [.completionFinished: .ready, .crashed: .failed],
        .shuttingDown: [.drained: .shutdown, .crashed: .failed],
        .shutdown: [:],
        .failed: [.restarted: .idle],
    ]

    @Test("the table covers every state")
    func tableIsComplete() {
        #expect(Set(Self.accepted.keys) == Set(RunnerState.allCases))
        #expect(Set(Self.moves.keys) == Set(RunnerState.allCases))
    }

    @Test("every (state, task) pair: the table's move, or TaskFailed with the state unchanged",
          arguments: RunnerState.allCases, RunnerTask.allCases)
    func everyTaskInEveryState(state: RunnerState, task: RunnerTask) {
        let outcome = state.handling(task)
        if let next = Self.accepted[state]?[task] {
            #expect(outcome == .accepted(next))
            #expect(outcome.state(from: state) == next)
        } else {
            guard case .taskFailed(let reason) = outcome else {
                Issue.record("\(task) in \(state) must be refused, got \(outcome)")
                return
            }
            #expect(reason.contains(task.rawValue))
            #expect(reason.contains(state.rawValue))
            #expect(outcome.state(from: state) == state)
        }
    }

    @Test("every (state, event) pair: the table's move, or ignored with the state unchanged",
          arguments: RunnerState.allCases, RunnerEvent.allCases)
    func everyEventInEveryState(state: RunnerState, event: RunnerEvent) {
        let outcome = state.handling(event)
        if let next = Self.moves[state]?[event] {
            #expect(outcome == .moved(next))
        } else {
            guard case .ignored(let reason) = outcome else {
                Issue.record("\(event) in \(state) must be ignored, got \(outcome)")
                return
            }
            #expect(reason.contains(event.rawValue))
            #expect(outcome.state(from: state) == state)
        }
    }

    @Test("exo's crash: LoadModel before Connected is refused and the runner carries on")
    func loadModelTooEarly() {
        var state = RunnerState.idle.handling(.connectToGroup).state(from: .idle)
        #expect(state == .connecting)
        let early = state.handling(.loadModel)
        #expect(early == .taskFailed(reason: "loadModel refused: the runner is connecting, it must be connected"))
        state = early.state(from: state)
        state = state.handling(.connectionEstablished).state(from: state)
        #expect(state.handling(.loadModel) == .accepted(.loading))
    }

    @Test("the whole life: up to ready, a completion, a graceful shutdown")
    func happyPath() {
        var state = RunnerState.idle
        let steps: [(RunnerTask?, RunnerEvent?, RunnerState)] = [
            (.connectToGroup, nil, .connecting), (nil, .connectionEstablished, .connected),
            (.loadModel, nil, .loading), (nil, .modelLoaded, .loaded),
            (.startWarmup, nil, .warmingUp), (nil, .warmupFinished, .ready),
            (.chatCompletion, nil, .running), (nil, .completionFinished, .ready),
            (.shutdown, nil, .shuttingDown), (nil, .drained, .shutdown),
        ]
        for (task, event, expected) in steps {
            if let task { state = state.handling(task).state(from: state) }
            if let event { state = state.handling(event).state(from: state) }
            #expect(state == expected)
        }
    }

    @Test("progress orders the states on the way up; leaving states reach nothing")
    func progressOrder() {
        let up: [RunnerState] = [.idle, .connecting, .connected, .loading, .loaded, .warmingUp, .ready]
        for (i, state) in up.enumerated() {
            for (j, milestone) in up.enumerated() { #expect(state.hasReached(milestone) == (i >= j)) }
        }
        #expect(RunnerState.running.hasReached(.ready))
        for leaving in [RunnerState.shuttingDown, .shutdown, .failed] {
            #expect(!leaving.hasReached(.idle))
            #expect(!RunnerState.ready.hasReached(leaving))
        }
    }

    @Test("states travel as their names")
    func rawValues() {
        #expect(RunnerState(rawValue: "warmingUp") == .warmingUp)
        #expect(RunnerState.allCases.allSatisfy { RunnerState(rawValue: $0.rawValue) == $0 })
    }
}
