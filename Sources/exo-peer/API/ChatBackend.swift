/// What serves a chat job: the local engine, an instance's pipeline, or a peer the job is forwarded to.
protocol ChatBackend: Sendable {
    /// Model ids a request may name (available anywhere in the mesh).
    func availableModels() async -> [String]
    /// Token text as it is generated, then one `.finished`. Throws `APIError` for problems the
    /// client caused or can act on (unknown model, overloaded). Cancelling the consumer stops generation.
    func generate(_ job: ChatJob) async throws -> AsyncThrowingStream<GenerationEvent, any Error>
}

enum GenerationEvent: Sendable, Equatable {
    case text(String)
    case finished(FinishReason, Usage)
}
