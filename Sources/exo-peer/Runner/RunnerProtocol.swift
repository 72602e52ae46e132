import Placement

/// What a runner is for: set by `connectToGroup`.
struct RunnerAssignment: Codable, Sendable, Equatable {
    var modelPath: String
    var plan: String
    var rank: Int
    var rankCount: Int
    var layerStart: Int
    var layerEnd: Int

    var layers: Range<Int> { layerStart..<max(layerStart, layerEnd) }
    var isFirst: Bool { rank == 0 }
    var isLast: Bool { rank == rankCount - 1 }
}

/// What a node tells its runner, over the runner's stdin. Steps carry hidden states beside the header.
enum RunnerRequest: Codable, Sendable, Equatable {
    case task(RunnerTask, assignment: RunnerAssignment?)
    case step(PipelineStep)
    case close(session: UInt64)
}

/// What a runner answers, over its stdout.
enum RunnerReply: Codable, Sendable, Equatable {
    /// The task's work ended (or, for `crashed`, failed with `reason`); `state` is the runner's state after it.
    case event(RunnerEvent, state: RunnerState, reason: String?)
    /// The task did not fit the runner's state; nothing changed and the runner carries on.
    case taskFailed(RunnerTask, reason: String, state: RunnerState)
    /// The step for the next rank, with the hidden states after this rank beside the header.
    case hidden(PipelineStep)
    case sampled(session: UInt64, driver: String, token: Int32)
    case stepFailed(session: UInt64, driver: String, reason: String)
}
