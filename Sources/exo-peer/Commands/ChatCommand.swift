import ArgumentParser
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `exo-peer chat`: talk to the mesh through a node's OpenAI-style API, streaming the answer.
/// With a prompt it answers once; without one it reads turns from stdin and keeps the conversation.
struct ChatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Chat with a model through a node (streams the answer; interactive without a prompt)."
    )

    @Option(help: "The node to ask.")
    var node = "http://127.0.0.1:52415"

    @Option(help: "Model id (default: the first model the node lists).")
    var model: String?

    @Option(name: .customLong("system"), help: "System message.")
    var system: String?

    @Option(name: .customLong("max-tokens"), help: "Most tokens per answer.")
    var maxTokens = 512

    @Option(help: "Sampling temperature; 0 is greedy.")
    var temperature = 0.7

    @Argument(help: "The prompt. Without it, read prompts from stdin, one per line.")
    var prompt: String?

    func run() async throws {
        let client = NodeClient(base: node)
        let model = try await resolvedModel(client)
        var messages: [[String: String]] = []
        if let system { messages.append(["role": "system", "content": system]) }
        if let prompt {
            messages.append(["role": "user", "content": prompt])
            _ = try await stream(messages, model: model, client: client)
            FileHandle.standardOutput.write(Data("\n".utf8))
            return
        }
        let interactive = isatty(STDIN_FILENO) != 0
        if interactive { FileHandle.standardOutput.write(Data("Chatting with \(model) on \(node). An empty line or Ctrl-D ends.\n".utf8)) }
        while true {
            if interactive { FileHandle.standardOutput.write(Data("> ".utf8)) }
            guard let line = readLine(), !line.trimmingCharacters(in: .whitespaces).isEmpty else { break }
            messages.append(["role": "user", "content": line])
            let answer = try await stream(messages, model: model, client: client)
            FileHandle.standardOutput.write(Data("\n".utf8))
            messages.append(["role": "assistant", "content": answer])
        }
    }

    private func resolvedModel(_ client: NodeClient) async throws -> String {
        if let model { return model }
        struct List: Decodable { struct Model: Decodable { var id: String }; var data: [Model] }
        let list = try JSONDecoder().decode(List.self, from: try await client.get("/v1/models"))
        guard let first = list.data.first?.id else { throw CommandFailure("\(node) has no models to chat with") }
        return first
    }

    /// Sends the conversation with `stream: true`, prints content as it arrives, returns the whole answer.
    private func stream(_ messages: [[String: String]], model: String, client: NodeClient) async throws -> String {
        let body: [String: Any] = ["model": model, "messages": messages, "stream": true, "max_tokens": maxTokens, "temperature": temperature]
        let data = try JSONSerialization.data(withJSONObject: body)
        let answer = AnswerText()
        try await client.streamEvents("/v1/chat/completions", body: data) { payload in
            struct Chunk: Decodable {
                struct Choice: Decodable { struct Delta: Decodable { var content: String? }; var delta: Delta }
                var choices: [Choice]
            }
            guard payload != "[DONE]", let chunk = try? JSONDecoder().decode(Chunk.self, from: Data(payload.utf8)) else { return }
            for choice in chunk.choices {
                if let text = choice.delta.content {
                    answer.append(text)
                    FileHandle.standardOutput.write(Data(text.utf8))
                }
            }
        }
        return answer.text
    }
}

/// The answer as it streams in (events arrive on the URL session's queue, one at a time).
private final class AnswerText: @unchecked Sendable {
    private let lock = NSLock()
    private var value = ""
    func append(_ piece: String) { lock.withLock { value += piece } }
    var text: String { lock.withLock { value } }
}

extension NodeClient {
    /// POSTs `body` and hands each server-sent event's `data:` payload to `onEvent` as it arrives.
    func streamEvents(_ path: String, body: Data, onEvent: @escaping @Sendable (String) -> Void) async throws {
        let request = try request(path, method: "POST", body: body, timeout: 600)
        let url = request.url!
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let delegate = EventStreamDelegate(url: url, onEvent: onEvent, continuation: continuation)
            let session = URLSession(configuration: .default, delegate: delegate, delegateQueue: nil)
            session.dataTask(with: request).resume()
            session.finishTasksAndInvalidate()
        }
    }
}

/// Splits a streamed response into server-sent events; non-2xx answers become an error with the body.
private final class EventStreamDelegate: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    let url: URL
    let onEvent: @Sendable (String) -> Void
    var continuation: CheckedContinuation<Void, any Error>?
    var status = 0
    var pending = Data()

    init(url: URL, onEvent: @escaping @Sendable (String) -> Void, continuation: CheckedContinuation<Void, any Error>) {
        self.url = url
        self.onEvent = onEvent
        self.continuation = continuation
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        status = (response as? HTTPURLResponse)?.statusCode ?? 0
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        pending.append(data)
        guard (200..<300).contains(status) else { return }
        while let end = pending.range(of: Data("\n\n".utf8)) {
            let event = String(decoding: pending[pending.startIndex..<end.lowerBound], as: UTF8.self)
            pending.removeSubrange(pending.startIndex..<end.upperBound)
            for line in event.split(separator: "\n") where line.hasPrefix("data: ") {
                onEvent(String(line.dropFirst(6)))
            }
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        if let error {
            continuation?.resume(throwing: CommandFailure("cannot reach \(url): \(error.localizedDescription). Is a node running there?"))
        } else if !(200..<300).contains(status) {
            continuation?.resume(throwing: CommandFailure("POST \(url) answered HTTP \(status): \(String(decoding: pending, as: UTF8.self))"))
        } else {
            continuation?.resume()
        }
        continuation = nil
    }
}
