/// Serves chat from the models on this node's disk.
struct LocalBackend: ChatBackend {
    let catalog: ModelCatalog

    func availableModels() async -> [String] { catalog.scan().map(\.id) }

    func generate(_ job: ChatJob) async throws -> AsyncThrowingStream<GenerationEvent, any Error> {
        let models = catalog.scan().map(\.id)
        guard models.contains(job.model) else { throw APIError.modelNotFound(job.model, available: models) }
        // The engine is wired in by the inference issue; until then the node says so plainly.
        throw APIError.unavailable("Model '\(job.model)' is on disk but this build has no inference engine wired in yet.")
    }
}
