/// Pipeline traffic between nodes, carried in the mesh's `tensor` frames as an `Envelope` (header JSON,
/// then the hidden states of a step).
enum PipelineMessage: Codable, Sendable, Equatable {
    /// For the runner of `step.rank` on the receiving node.
    case step(PipelineStep)
    /// The last rank's token, for the driver.
    case sampled(session: UInt64, token: Int32)
    /// A rank could not run a step of the session, for the driver.
    case failed(session: UInt64, reason: String)
    /// The driver is done with the session: ranks drop its KV cache.
    case close(session: UInt64, plan: String)
    /// A rank of `plan` lost its runner, for the driver: generations through it cannot finish.
    case aborted(plan: String, reason: String)
}
