import Dispatch
import Inference
import Synchronization

/// Runs one model's generations one after another on a thread of its own, first come first
/// served, loading the model on first use. At most `queueLimit` requests wait; beyond that the
/// caller is told to come back later instead of queueing without bound.
final class ModelWorker: Sendable {
    let path: String
    let threads: Int
    let queueLimit: Int
    private let queue: DispatchQueue
    private let state = Mutex(State())

    private struct State {
        var engine: TextEngine?
        var admitted = 0
    }

    init(path: String, threads: Int, queueLimit: Int) {
        self.path = path
        self.threads = threads
        self.queueLimit = queueLimit
        queue = DispatchQueue(label: "exo-peer.model-worker", qos: .userInitiated)
    }

    /// Requests admitted and not yet finished (running or waiting).
    var load: Int { state.withLock { $0.admitted } }

    /// Queues `work` to run with the loaded engine (or with the load error). Returns false,
    /// running nothing, when the queue is full.
    func submit(_ work: @escaping @Sendable (Result<TextEngine, TextEngine.Error>) -> Void) -> Bool {
        let admitted = state.withLock { s -> Bool in
            guard s.admitted < queueLimit + 1 else { return false }
            s.admitted += 1
            return true
        }
        guard admitted else { return false }
        queue.async { [self] in
            defer { state.withLock { $0.admitted -= 1 } }
            work(loadedEngine())
        }
        return true
    }

    /// Called on `queue` only, so the model is loaded once.
    private func loadedEngine() -> Result<TextEngine, TextEngine.Error> {
        if let engine = state.withLock({ $0.engine }) { return .success(engine) }
        do {
            let engine = try TextEngine(path: path, threads: threads)
            state.withLock { $0.engine = engine }
            return .success(engine)
        } catch {
            return .failure(error)
        }
    }
}
