import Foundation
import Inference
import Synchronization

/// Serves chat from the models on this node's disk with the built-in engine: one worker per
/// model, requests queued fairly (first come first served) and bounded.
final class LocalBackend: ChatBackend {
    let catalog: ModelCatalog
    let metrics: NodeMetrics?
    let threads: Int
    let queueLimit: Int
    private let workers = Mutex<[String: ModelWorker]>([:])

    init(catalog: ModelCatalog, metrics: NodeMetrics? = nil, threads: Int = ProcessInfo.processInfo.activeProcessorCount, queueLimit: Int = 32) {
        self.catalog = catalog
        self.metrics = metrics
        self.threads = max(1, threads)
        self.queueLimit = queueLimit
    }

    func availableModels() async -> [String] { catalog.scan().map(\.id) }

    func generate(_ job: ChatJob) async throws -> AsyncThrowingStream<GenerationEvent, any Error> {
        let models = catalog.scan()
        guard let file = models.first(where: { $0.id == job.model }) else {
            throw APIError.modelNotFound(job.model, available: models.map(\.id))
        }
        let worker = workers.withLock { all in
            if let existing = all[file.path] { return existing }
            let created = ModelWorker(path: file.path, threads: threads, queueLimit: queueLimit)
            all[file.path] = created
            return created
        }
        let (stream, continuation) = AsyncThrowingStream<GenerationEvent, any Error>.makeStream()
        let cancelled = Atomic<Bool>(false)
        let metrics = self.metrics
        let accepted = worker.submit { loaded in
            let engine: TextEngine
            switch loaded {
            case .success(let e): engine = e
            case .failure(let error):
                metrics?.chatFailures.increment()
                continuation.finish(throwing: APIError.unavailable("Model '\(job.model)' could not be loaded: \(error)"))
                return
            }
            do {
                let prompt = engine.promptTokens(chat: job.messages.map { ChatMessage(role: $0.role, content: $0.content) })
                let outcome = try engine.generate(prompt: prompt, sampling: Self.sampling(for: job), maxTokens: job.maxTokens, stop: job.stop) { piece in
                    guard !cancelled.load(ordering: .relaxed) else { return false }
                    continuation.yield(.text(piece))
                    return true
                }
                metrics?.promptTokens.increment(by: Int64(outcome.promptTokens))
                metrics?.generatedTokens.increment(by: Int64(outcome.completionTokens))
                if outcome.completionTokens > 1 { metrics?.decodeTokensPerSecond.record(outcome.decodeTokensPerSecond) }
                let reason: FinishReason = outcome.finishReason == .maxTokens ? .length : .stop
                continuation.yield(.finished(reason, Usage(promptTokens: outcome.promptTokens, completionTokens: outcome.completionTokens)))
                continuation.finish()
            } catch TextEngine.Error.promptTooLong(let tokens, let context) {
                metrics?.chatFailures.increment()
                continuation.finish(throwing: APIError.badRequest("The conversation is \(tokens) tokens; model '\(job.model)' holds \(context).", code: "context_length_exceeded"))
            } catch {
                metrics?.chatFailures.increment()
                continuation.finish(throwing: APIError.internal("Generation failed: \(error)"))
            }
        }
        guard accepted else {
            throw APIError.overloaded("Model '\(job.model)' has \(queueLimit) requests waiting; retry shortly.")
        }
        metrics?.chatRequests.increment()
        // A client that goes away stops its generation at the next token.
        continuation.onTermination = { _ in cancelled.store(true, ordering: .relaxed) }
        return stream
    }

    /// OpenAI's parameters on our sampler: temperature 0 is greedy. No min-p filter (OpenAI has
    /// none); top-k 40 as llama.cpp's default, which only trims a negligible tail and keeps
    /// sampling from sorting the whole vocabulary on every token.
    static func sampling(for job: ChatJob) -> SamplingParameters {
        SamplingParameters(
            temperature: Float(job.temperature), topK: 40, topP: Float(job.topP), minP: 0,
            seed: job.seed ?? UInt64.random(in: 0...UInt64.max)
        )
    }
}
