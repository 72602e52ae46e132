import Foundation
import Inference
import Placement

/// Runs generations through an instance's ranks. The node holding rank 0 drives: it turns the
/// conversation into tokens, sends the prompt (in chunks) and then each sampled token into rank 0,
/// and receives each next token from the last rank. Up to `concurrency` generations of an instance
/// run at once, interleaved in the ring (while rank 1 runs one request's step, rank 0 runs
/// another's); more wait first come first served in a bounded queue.
actor PipelineDriver {
    /// A ready instance this node drives.
    struct Instance: Sendable {
        var id: String
        var plan: Plan
        var codec: TextCodec
        var contextLength: Int { codec.contextLength }
    }

    /// Delivers a message to a node (this one included) and reports whether it could be sent.
    typealias Send = @Sendable (_ message: PipelineMessage, _ floats: [Float], _ node: String) async -> Bool

    let node: String
    let queueLimit: Int
    /// Generations of one instance in the ring at once (each rank keeps a KV cache per generation).
    let concurrency: Int
    /// How long one step through the ring may take before the generation is failed (a long prompt is
    /// sent in chunks, each its own step).
    let stepTimeout: Duration
    /// Prompt tokens per step: bounds the hidden states a hop carries.
    let chunk = 256
    private let send: Send
    private let metrics: NodeMetrics?

    private struct Waiter {
        var plan: String
        var ticket: UInt64
        var continuation: CheckedContinuation<Int32, any Error>
    }
    private var waiters: [UInt64: Waiter] = [:]
    /// Answers that arrived before their generation waited for them.
    private var early: [UInt64: Result<Int32, PipelineError>] = [:]
    private var sessionPlans: [UInt64: String] = [:]
    private var tickets: UInt64 = 0
    private var running: [String: Int] = [:]
    private var queued: [String: [CheckedContinuation<Void, Never>]] = [:]

    init(node: String, send: @escaping Send, metrics: NodeMetrics? = nil, queueLimit: Int = 32, concurrency: Int = 4, stepTimeout: Duration = .seconds(60)) {
        self.node = node
        self.concurrency = max(1, concurrency)
        self.send = send
        self.metrics = metrics
        self.queueLimit = queueLimit
        self.stepTimeout = stepTimeout
    }

    func generate(_ job: ChatJob, on instance: Instance) throws -> AsyncThrowingStream<GenerationEvent, any Error> {
        let hash = instance.plan.hash.description
        guard (queued[hash]?.count ?? 0) < queueLimit else {
            throw APIError.overloaded("Instance \(instance.id) of '\(job.model)' has \(queueLimit) requests waiting; retry shortly.")
        }
        metrics?.chatRequests.increment()
        let (stream, continuation) = AsyncThrowingStream<GenerationEvent, any Error>.makeStream()
        let task = Task {
            do {
                try await self.run(job, on: instance, into: continuation)
                continuation.finish()
            } catch let error as PipelineError {
                self.metrics?.chatFailures.increment()
                continuation.finish(throwing: APIError.unavailable("Generation failed: \(error). Retry shortly."))
            } catch {
                self.metrics?.chatFailures.increment()
                continuation.finish(throwing: error)
            }
        }
        // A client that goes away cancels its generation.
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    private func run(_ job: ChatJob, on instance: Instance, into output: AsyncThrowingStream<GenerationEvent, any Error>.Continuation) async throws {
        let hash = instance.plan.hash.description
        let prompt = instance.codec.promptTokens(chat: job.messages.map { ChatMessage(role: $0.role, content: $0.content) })
        guard !prompt.isEmpty, prompt.count < instance.contextLength else {
            throw APIError.badRequest("The conversation is \(prompt.count) tokens; model '\(job.model)' holds \(instance.contextLength).", code: "context_length_exceeded")
        }
        let budget = max(0, min(job.maxTokens, instance.contextLength - prompt.count))
        await acquire(hash)
        defer { release(hash) }
        try Task.checkCancellation()

        let session = UInt64.random(in: 1...UInt64.max)
        sessionPlans[session] = hash
        let route = instance.plan.ranks.map(\.node)
        defer { Task { await self.closeSession(session, plan: hash, route: route) } }
        func step(start: Int, tokens: ArraySlice<Int32>, sample: Bool) -> PipelineStep {
            PipelineStep(session: session, plan: hash, rank: 0, route: route, driver: node, start: start, tokens: Array(tokens),
                         sample: sample, opening: start == 0 ? SessionOpening(capacity: prompt.count + budget + 1, sampling: LocalBackend.sampling(for: job)) : nil)
        }

        var start = 0
        while start < prompt.count {
            let end = min(prompt.count, start + chunk)
            try await dispatch(step(start: start, tokens: prompt[start..<end], sample: end == prompt.count), to: route[0])
            start = end
        }
        var token = try await nextToken(session)
        let prefilled = ContinuousClock.now

        var text = TokenTextStream(tokenizer: instance.codec.tokenizer, stop: job.stop)
        var generated = 0
        var reason = FinishReason.stop
        var position = prompt.count
        while true {
            try Task.checkCancellation()
            if instance.codec.tokenizer.isEndOfGeneration(token) { reason = .stop; break }
            if generated >= budget { reason = .length; break }
            generated += 1
            let piece = text.append(token)
            if !piece.isEmpty { output.yield(.text(piece)) }
            if text.stopped { reason = .stop; break }
            guard generated < budget else { reason = .length; break }
            try await dispatch(step(start: position, tokens: [token], sample: true), to: route[0])
            position += 1
            token = try await nextToken(session)
        }
        if !text.stopped {
            let tail = text.finish()
            if !tail.isEmpty { output.yield(.text(tail)) }
        }
        let decodeSeconds = (ContinuousClock.now - prefilled) / .seconds(1)
        metrics?.promptTokens.increment(by: Int64(prompt.count))
        metrics?.generatedTokens.increment(by: Int64(generated))
        if generated > 1, decodeSeconds > 0 { metrics?.decodeTokensPerSecond.record(Double(generated - 1) / decodeSeconds) }
        output.yield(.finished(reason, Usage(promptTokens: prompt.count, completionTokens: generated)))
    }

    private func dispatch(_ step: PipelineStep, to node: String) async throws {
        guard await send(.step(step), [], node) else {
            throw APIError.unavailable("Rank 0 of instance plan \(step.plan) is not ready; retry shortly.")
        }
    }

    // MARK: Answers

    /// The next token of `session`, or the failure reported for it.
    private func nextToken(_ session: UInt64) async throws -> Int32 {
        if let answer = early.removeValue(forKey: session) { return try answer.get() }
        tickets += 1
        let ticket = tickets
        let timeout = stepTimeout
        let timer = Task {
            try? await Task.sleep(for: timeout)
            self.answer(session, with: .failure(.timedOut(timeout)), ticket: ticket)
        }
        defer { timer.cancel() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                waiters[session] = Waiter(plan: sessionPlans[session] ?? "", ticket: ticket, continuation: continuation)
            }
        } onCancel: {
            Task { await self.answer(session, with: .failure(.cancelled), ticket: ticket) }
        }
    }

    private func answer(_ session: UInt64, with result: Result<Int32, PipelineError>, ticket: UInt64? = nil) {
        guard let waiter = waiters[session] else {
            if ticket == nil, sessionPlans[session] != nil { early[session] = result }
            return
        }
        if let ticket, waiter.ticket != ticket { return }
        waiters[session] = nil
        waiter.continuation.resume(with: result.mapError { $0 as any Error })
    }

    /// A message from the ring for a generation this node drives.
    func receive(_ message: PipelineMessage) {
        switch message {
        case .sampled(let session, let token): answer(session, with: .success(token))
        case .failed(let session, let reason): answer(session, with: .failure(.rankFailed(reason)))
        case .aborted(let plan, let reason): abort(plan: plan, reason: reason)
        case .step, .close: break
        }
    }

    /// Fails every generation through `plan`: one of its ranks is gone.
    func abort(plan: String, reason: String) {
        for (session, waiter) in waiters where waiter.plan == plan {
            answer(session, with: .failure(.rankFailed(reason)))
        }
    }

    /// Fails every generation whose route passes through `peer` (its link went down).
    func peerLost(_ peer: String, routes: [String: [String]]) {
        for (session, waiter) in waiters where routes[waiter.plan]?.contains(peer) == true {
            answer(session, with: .failure(.rankFailed("the node of a rank (\(peer.prefix(8))) went away")))
        }
    }

    private func closeSession(_ session: UInt64, plan: String, route: [String]) async {
        sessionPlans[session] = nil
        early[session] = nil
        for node in route { _ = await send(.close(session: session, plan: plan), [], node) }
    }

    // MARK: At most `concurrency` generations per instance

    private func acquire(_ plan: String) async {
        if running[plan, default: 0] < concurrency {
            running[plan, default: 0] += 1
            return
        }
        // The releasing generation hands its place over directly, so the count stays.
        await withCheckedContinuation { queued[plan, default: []].append($0) }
    }

    private func release(_ plan: String) {
        if var waiting = queued[plan], !waiting.isEmpty {
            let next = waiting.removeFirst()
            queued[plan] = waiting.isEmpty ? nil : waiting
            next.resume()
        } else {
            running[plan, default: 1] -= 1
            if running[plan] == 0 { running[plan] = nil }
        }
    }
}

enum PipelineError: Error, CustomStringConvertible {
    case timedOut(Duration)
    case rankFailed(String)
    case cancelled

    var description: String {
        switch self {
        case .timedOut(let d): "a pipeline step took longer than \(d); a rank is stuck or gone"
        case .rankFailed(let reason): "a pipeline rank failed: \(reason)"
        case .cancelled: "the generation was cancelled"
        }
    }
}
