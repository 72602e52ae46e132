import Foundation
import Inference
import Placement

/// The runner's whole behaviour, without its pipe: requests in, replies out, so tests drive it in-process.
/// Tasks go through the pure state machine (`RunnerState.handling`): one that does not fit the state is
/// answered `taskFailed` and nothing changes. Steps run the assigned layer range on per-session KV caches.
final class RunnerCore {
    private(set) var state: RunnerState = .idle
    private(set) var assignment: RunnerAssignment?
    private var model: LlamaModel?
    private var sessions: [UInt64: Session] = [:]
    private var clock: UInt64 = 0
    let threads: Int
    /// Open sessions kept at most; beyond it the least recently used is dropped (its driver went away
    /// without closing it, or it is very slow).
    let sessionLimit: Int

    private final class Session {
        let cache: KVCache
        var sampler: Sampler?
        var sampled = 0
        var lastUsed: UInt64 = 0
        init(cache: KVCache, sampler: Sampler?) {
            self.cache = cache
            self.sampler = sampler
        }
    }

    init(threads: Int, sessionLimit: Int = 8) {
        self.threads = max(1, threads)
        self.sessionLimit = max(1, sessionLimit)
    }

    var isFinished: Bool { state == .shutdown }

    /// The reply to `request`, or nil when it needs none (closing a session, a prompt chunk that is not sampled).
    func handle(_ request: RunnerRequest, floats: [Float]) -> Envelope<RunnerReply>? {
        switch request {
        case .task(let task, let assignment):
            return Envelope(perform(task, assignment: assignment))
        case .step(let step):
            return run(step, input: floats)
        case .close(let session):
            sessions[session] = nil
            return nil
        }
    }

    // MARK: Tasks

    private func perform(_ task: RunnerTask, assignment newAssignment: RunnerAssignment?) -> RunnerReply {
        let outcome = state.handling(task)
        guard case .accepted(let next) = outcome else {
            if case .taskFailed(let reason) = outcome { return .taskFailed(task, reason: reason, state: state) }
            return .taskFailed(task, reason: "refused", state: state)
        }
        state = next
        do {
            switch task {
            case .connectToGroup:
                guard let newAssignment else { throw RunnerFailure("connectToGroup carries no assignment") }
                try validate(newAssignment)
                assignment = newAssignment
                return finish(.connectionEstablished)
            case .loadModel:
                guard let assignment else { throw RunnerFailure("no assignment") }
                model = try LlamaModel(file: GGUFFile(path: assignment.modelPath), threads: threads, layers: assignment.layers)
                return finish(.modelLoaded)
            case .startWarmup:
                try warmUp()
                return finish(.warmupFinished)
            case .chatCompletion:
                // Completions arrive as steps; the task exists for the state machine's completeness.
                return finish(.completionFinished)
            case .shutdown:
                sessions.removeAll()
                model = nil
                return finish(.drained)
            }
        } catch {
            state = .failed
            return .event(.crashed, state: state, reason: "\(task.rawValue) failed: \(error)")
        }
    }

    private func finish(_ event: RunnerEvent) -> RunnerReply {
        state = state.handling(event).state(from: state)
        return .event(event, state: state, reason: nil)
    }

    /// The file must be a model this engine runs and the range must lie in it: refused now, at connect,
    /// rather than after every rank has loaded.
    private func validate(_ assignment: RunnerAssignment) throws {
        let file = try GGUFFile(path: assignment.modelPath)
        let config = try LlamaConfig(gguf: file)
        guard assignment.layerStart >= 0, assignment.layerStart < assignment.layerEnd, assignment.layerEnd <= config.layerCount,
              assignment.rank >= 0, assignment.rank < assignment.rankCount
        else {
            throw RunnerFailure("rank \(assignment.rank)/\(assignment.rankCount) with layers \(assignment.layerStart)..<\(assignment.layerEnd) does not fit a \(config.layerCount)-layer model")
        }
    }

    /// One position through the assigned layers: touches their weights so the first request is not slow.
    private func warmUp() throws {
        guard let model, let assignment else { throw RunnerFailure("no model loaded") }
        let cache = model.makeCache(capacity: 1, layers: assignment.layers)
        var hidden = [Float](repeating: 0, count: model.config.embeddingLength)
        try hidden.withUnsafeMutableBufferPointer { buffer in
            try model.embed(0, into: buffer.baseAddress!)
            try model.forwardLayers(assignment.layers, hidden: buffer.baseAddress!, cache: cache)
            if assignment.isLast { _ = model.logits(hidden: buffer.baseAddress!) }
        }
    }

    // MARK: Steps

    private func run(_ step: PipelineStep, input: [Float]) -> Envelope<RunnerReply>? {
        func failed(_ reason: String) -> Envelope<RunnerReply> {
            Envelope(.stepFailed(session: step.session, driver: step.driver, reason: reason))
        }
        guard state == .ready || state == .running, let model, let assignment else {
            return failed("rank \(step.rank) is \(state.rawValue), not ready")
        }
        guard step.plan == assignment.plan, step.rank == assignment.rank, step.route.count == assignment.rankCount else {
            return failed("step for plan \(step.plan) rank \(step.rank) reached the runner of plan \(assignment.plan) rank \(assignment.rank)")
        }
        let d = model.config.embeddingLength, rows = step.tokens.count
        guard rows > 0 else { return failed("a step needs at least one token") }
        guard assignment.isFirst || input.count == rows * d else {
            return failed("expected \(rows)×\(d) hidden values, got \(input.count)")
        }
        guard let session = session(for: step, model: model, layers: assignment.layers, last: assignment.isLast) else {
            return failed("session \(step.session) is unknown at rank \(step.rank) (it was closed or evicted)")
        }
        guard step.start == session.cache.length else {
            return failed("step starts at position \(step.start) but rank \(step.rank) holds \(session.cache.length)")
        }
        guard session.cache.length + rows <= session.cache.capacity else {
            return failed("the session holds \(session.cache.capacity) positions; \(session.cache.length + rows) needed")
        }

        var hidden = assignment.isFirst ? [Float](repeating: 0, count: rows * d) : input
        do {
            try hidden.withUnsafeMutableBufferPointer { buffer throws(LlamaModel.Error) in
                let base = buffer.baseAddress!
                if assignment.isFirst {
                    for (row, token) in step.tokens.enumerated() { try model.embed(token, into: base + row * d) }
                }
                var row = 0
                while row < rows {
                    let count = min(LlamaModel.prefillBatch, rows - row)
                    // One token takes the decode path; batches take the prefill kernels. Both give the same bits.
                    if count == 1 {
                        try model.forwardLayers(assignment.layers, hidden: base + row * d, cache: session.cache)
                    } else {
                        try model.forwardLayers(assignment.layers, batch: base + row * d, count: count, cache: session.cache)
                    }
                    session.cache.length += count
                    row += count
                }
            }
        } catch {
            // The cache may hold part of the step: the session cannot continue.
            sessions[step.session] = nil
            return failed("rank \(step.rank): \(error)")
        }

        guard assignment.isLast else {
            var next = step
            next.rank += 1
            return Envelope(.hidden(next), floats: hidden)
        }
        guard step.sample else { return nil }
        guard var sampler = session.sampler else { return failed("session \(step.session) has no sampler") }
        if session.sampled == 0 { sampler.remember(step.tokens) }
        let token = hidden.withUnsafeMutableBufferPointer { buffer in
            sampler.sample(model.logits(hidden: buffer.baseAddress! + (rows - 1) * d))
        }
        session.sampler = sampler
        session.sampled += 1
        return Envelope(.sampled(session: step.session, driver: step.driver, token: token))
    }

    /// The step's session, opened by its first step; nil for a later step of a session this rank does not hold.
    private func session(for step: PipelineStep, model: LlamaModel, layers: Range<Int>, last: Bool) -> Session? {
        clock += 1
        if let existing = sessions[step.session] {
            existing.lastUsed = clock
            return existing
        }
        guard let opening = step.opening, step.start == 0 else { return nil }
        if sessions.count >= sessionLimit, let oldest = sessions.min(by: { $0.value.lastUsed < $1.value.lastUsed })?.key {
            sessions[oldest] = nil
        }
        let capacity = min(max(1, opening.capacity), model.config.contextLength)
        let session = Session(cache: model.makeCache(capacity: capacity, layers: layers), sampler: last ? Sampler(opening.sampling) : nil)
        session.lastUsed = clock
        sessions[step.session] = session
        return session
    }
}

struct RunnerFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
