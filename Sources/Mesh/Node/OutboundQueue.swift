import Synchronization

/// The frames waiting for one link's writer, in two lanes: everything but bulk data goes first, and bulk
/// frames (model transfer) are written only when nothing else waits. One writer (`next`), many senders.
/// A lane that is full drops the new frame, and the sender is told.
final class OutboundQueue: Sendable {
    enum Outcome: Sendable, Equatable { case enqueued, dropped, terminated }

    private struct State {
        var urgent: [Frame] = []
        var urgentHead = 0
        var bulk: [Frame] = []
        var bulkHead = 0
        var finished = false
        /// The writer's task was cancelled: it gets nil, as it would from a finished queue.
        var cancelled = false
        var waiter: CheckedContinuation<Frame?, Never>?

        mutating func pop() -> Frame? {
            if urgentHead < urgent.count {
                defer { urgentHead += 1; if urgentHead == urgent.count { urgent.removeAll(keepingCapacity: true); urgentHead = 0 } }
                return urgent[urgentHead]
            }
            if bulkHead < bulk.count {
                defer { bulkHead += 1; if bulkHead == bulk.count { bulk.removeAll(keepingCapacity: true); bulkHead = 0 } }
                return bulk[bulkHead]
            }
            return nil
        }
    }

    private let state = Mutex(State())
    let urgentLimit: Int
    let bulkLimit: Int

    init(urgentLimit: Int, bulkLimit: Int) {
        self.urgentLimit = urgentLimit
        self.bulkLimit = bulkLimit
    }

    @discardableResult
    func enqueue(_ frame: Frame, bulk: Bool = false) -> Outcome {
        let (outcome, waiter): (Outcome, CheckedContinuation<Frame?, Never>?) = state.withLock { s in
            guard !s.finished else { return (.terminated, nil) }
            if let waiter = s.waiter {
                s.waiter = nil
                return (.enqueued, waiter)
            }
            if bulk {
                guard s.bulk.count - s.bulkHead < bulkLimit else { return (.dropped, nil) }
                s.bulk.append(frame)
            } else {
                guard s.urgent.count - s.urgentHead < urgentLimit else { return (.dropped, nil) }
                s.urgent.append(frame)
            }
            return (.enqueued, nil)
        }
        waiter?.resume(returning: frame)
        return outcome
    }

    /// No more frames are taken; the writer still gets those already queued, then nil.
    func finish() {
        let waiter = state.withLock { s -> CheckedContinuation<Frame?, Never>? in
            s.finished = true
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume(returning: nil)
    }

    /// The next frame to write (urgent lane first), waiting for one; nil once finished and drained, or when
    /// the waiting task is cancelled.
    func next() async -> Frame? {
        if let ready = state.withLock({ s -> Frame?? in
            if let frame = s.pop() { return .some(frame) }
            return s.finished || s.cancelled ? .some(nil) : nil
        }) {
            return ready
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let immediate = state.withLock { s -> Frame?? in
                    if let frame = s.pop() { return .some(frame) }
                    if s.finished || s.cancelled { return .some(nil) }
                    s.waiter = continuation
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let waiter = state.withLock { s -> CheckedContinuation<Frame?, Never>? in
                s.cancelled = true
                defer { s.waiter = nil }
                return s.waiter
            }
            waiter?.resume(returning: nil)
        }
    }
}
