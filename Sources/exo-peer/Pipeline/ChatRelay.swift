import Foundation
import Mesh

/// Chat requests forwarded between nodes over the mesh (`control` frames): a node that cannot serve a
/// model itself sends the job to one that can and streams the answer back to its client.
enum ChatRelayMessage: Codable, Sendable, Equatable {
    case request(id: UInt64, job: ChatJob)
    case text(id: UInt64, text: String)
    case finished(id: UInt64, reason: String, promptTokens: Int, completionTokens: Int)
    case failed(id: UInt64, status: Int, message: String, type: String, code: String?)
    /// The client went away: stop generating.
    case cancel(id: UInt64)
}

/// Both ends of forwarded chat: `forward` on the node the client called, `receive` on the node serving it.
actor ChatRelay {
    typealias Send = @Sendable (_ message: ChatRelayMessage, _ peer: NodeID) async -> Bool
    typealias Serve = @Sendable (_ job: ChatJob) async throws -> AsyncThrowingStream<GenerationEvent, any Error>

    private let send: Send
    private var serve: Serve?
    private var nextID: UInt64 = 0
    private var outgoing: [UInt64: (peer: NodeID, continuation: AsyncThrowingStream<GenerationEvent, any Error>.Continuation)] = [:]
    private struct Incoming: Hashable { var peer: NodeID; var id: UInt64 }
    private var incoming: [Incoming: Task<Void, Never>] = [:]

    init(send: @escaping Send) {
        self.send = send
    }

    /// What serves jobs forwarded to this node (set once the node is built).
    func setServer(_ serve: @escaping Serve) {
        self.serve = serve
    }

    // MARK: The client's node

    func forward(_ job: ChatJob, to peer: NodeID) async throws -> AsyncThrowingStream<GenerationEvent, any Error> {
        nextID += 1
        let id = nextID
        let (stream, continuation) = AsyncThrowingStream<GenerationEvent, any Error>.makeStream()
        outgoing[id] = (peer, continuation)
        guard await send(.request(id: id, job: job), peer) else {
            outgoing[id] = nil
            throw APIError.unavailable("Node \(peer.short), which serves '\(job.model)', cannot be reached right now; retry shortly.")
        }
        continuation.onTermination = { [send] termination in
            if case .cancelled = termination { Task { _ = await send(.cancel(id: id), peer) } }
            Task { await self.forget(id) }
        }
        return stream
    }

    private func forget(_ id: UInt64) {
        outgoing[id] = nil
    }

    /// A peer went away: its forwarded answers end with an error, its requests here are cancelled.
    func peerLost(_ peer: NodeID) {
        for (id, entry) in outgoing where entry.peer == peer {
            entry.continuation.finish(throwing: APIError.unavailable("Node \(peer.short), which was serving this request, went away; retry."))
            outgoing[id] = nil
        }
        for (key, task) in incoming where key.peer == peer {
            task.cancel()
            incoming[key] = nil
        }
    }

    // MARK: Both ends

    func receive(_ message: ChatRelayMessage, from peer: NodeID) {
        switch message {
        case .request(let id, let job):
            start(job, id: id, for: peer)
        case .cancel(let id):
            incoming.removeValue(forKey: Incoming(peer: peer, id: id))?.cancel()
        case .text(let id, let text):
            guard let entry = outgoing[id], entry.peer == peer else { return }
            entry.continuation.yield(.text(text))
        case .finished(let id, let reason, let prompt, let completion):
            guard let entry = outgoing.removeValue(forKey: id), entry.peer == peer else { return }
            entry.continuation.yield(.finished(FinishReason(rawValue: reason) ?? .stop, Usage(promptTokens: prompt, completionTokens: completion)))
            entry.continuation.finish()
        case .failed(let id, let status, let message, let type, let code):
            guard let entry = outgoing.removeValue(forKey: id), entry.peer == peer else { return }
            entry.continuation.finish(throwing: APIError(status: .init(code: status), message: message, type: type, code: code))
        }
    }

    private func start(_ job: ChatJob, id: UInt64, for peer: NodeID) {
        let key = Incoming(peer: peer, id: id)
        let serve = self.serve
        let send = self.send
        incoming[key] = Task {
            do {
                guard let serve else { throw APIError.unavailable("Node is starting; retry shortly.") }
                for try await event in try await serve(job) {
                    switch event {
                    case .text(let text):
                        _ = await send(.text(id: id, text: text), peer)
                    case .finished(let reason, let usage):
                        _ = await send(.finished(id: id, reason: reason.rawValue, promptTokens: usage.promptTokens, completionTokens: usage.completionTokens), peer)
                    }
                }
            } catch let error as APIError {
                _ = await send(.failed(id: id, status: error.status.code, message: error.message, type: error.type, code: error.code), peer)
            } catch {
                _ = await send(.failed(id: id, status: 500, message: "Generation failed: \(error)", type: "server_error", code: "internal_error"), peer)
            }
            self.finished(key)
        }
    }

    private func finished(_ key: Incoming) {
        incoming[key] = nil
    }
}
