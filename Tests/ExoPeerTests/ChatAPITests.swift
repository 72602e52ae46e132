import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Testing
@testable import exo_peer

/// A backend that answers with the last user message's words, one event each: enough to pin down
/// the HTTP layer (shapes, streaming, errors) without a model.
struct EchoBackend: ChatBackend {
    func availableModels() async -> [String] { ["echo"] }
    func generate(_ job: ChatJob) async throws -> AsyncThrowingStream<GenerationEvent, any Error> {
        guard job.model == "echo" else { throw APIError.modelNotFound(job.model, available: ["echo"]) }
        let words = (job.messages.last?.content ?? "").split(separator: " ").map(String.init)
        let emitted = Array(words.prefix(job.maxTokens))
        return AsyncThrowingStream { continuation in
            for (i, word) in emitted.enumerated() { continuation.yield(.text(i == 0 ? word : " " + word)) }
            let reason: FinishReason = words.count > job.maxTokens ? .length : .stop
            continuation.yield(.finished(reason, Usage(promptTokens: words.count, completionTokens: emitted.count)))
            continuation.finish()
        }
    }
}

@Suite struct ChatAPITests {
    func withApp(_ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("exo-api-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: home) }
        let configuration = NodeConfiguration(home: home, modelsDirectory: home, apiHost: "127.0.0.1", apiPort: 0, meshPort: 0, logLevel: .error, useMDNS: false)
        let node = try await Node.start(configuration: configuration, logger: Logger(label: "test"))
        let app = Application(router: buildRouter(node: node, backend: EchoBackend()))
        try await app.test(.router, body)
    }

    func post(_ client: any TestClientProtocol, _ json: String, check: @escaping @Sendable (TestResponse) throws -> Void) async throws {
        try await client.execute(uri: "/v1/chat/completions", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: json)) { response in
            try check(response)
        }
    }

    func errorBody(_ response: TestResponse) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
        return try #require(object?["error"] as? [String: Any])
    }

    @Test func nonStreamingCompletionHasTheOpenAIShapeAndUsage() async throws {
        try await withApp { client in
            try await post(client, #"{"model":"echo","messages":[{"role":"user","content":"hello there world"}]}"#) { response in
                #expect(response.status == .ok)
                let body = try #require(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])
                #expect(body["object"] as? String == "chat.completion")
                let choice = try #require((body["choices"] as? [[String: Any]])?.first)
                #expect((choice["message"] as? [String: Any])?["content"] as? String == "hello there world")
                #expect(choice["finish_reason"] as? String == "stop")
                let usage = try #require(body["usage"] as? [String: Int])
                #expect(usage["completion_tokens"] == 3 && usage["total_tokens"] == 6)
            }
        }
    }

    @Test func maxTokensCutsTheAnswerWithFinishReasonLength() async throws {
        try await withApp { client in
            try await post(client, #"{"model":"echo","max_completion_tokens":2,"messages":[{"role":"user","content":[{"type":"text","text":"a b c d"}]}]}"#) { response in
                let body = try #require(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])
                let choice = try #require((body["choices"] as? [[String: Any]])?.first)
                #expect((choice["message"] as? [String: Any])?["content"] as? String == "a b")
                #expect(choice["finish_reason"] as? String == "length")
            }
        }
    }

    @Test func streamingSendsChunksUsageAndDone() async throws {
        try await withApp { client in
            try await post(client, #"{"model":"echo","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"one two"}]}"#) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/event-stream")
                let text = String(buffer: response.body)
                let events = text.components(separatedBy: "\n\n").filter { !$0.isEmpty }
                #expect(events.last == "data: [DONE]")
                let chunks = try events.dropLast().map { event -> [String: Any] in
                    #expect(event.hasPrefix("data: "))
                    return try #require(try JSONSerialization.jsonObject(with: Data(event.dropFirst(6).utf8)) as? [String: Any])
                }
                let content = chunks.compactMap { (($0["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])?["content"] as? String }.joined()
                #expect(content == "one two")
                #expect((chunks.last?["usage"] as? [String: Int])?["completion_tokens"] == 2)
            }
        }
    }

    @Test(arguments: [
        ("{not json", "invalid_json"),
        (#"{"messages":[{"role":"user","content":"x"}]}"#, "invalid_json"),
        (#"{"model":"echo","messages":"hi"}"#, "invalid_json"),
        (#"{"model":"echo","messages":[]}"#, "invalid_messages"),
        (#"{"model":"echo","messages":[{"role":"robot","content":"x"}]}"#, "invalid_role"),
        (#"{"model":"echo","max_tokens":-5,"messages":[{"role":"user","content":"x"}]}"#, "invalid_max_tokens"),
        (#"{"model":"echo","max_tokens":100000,"messages":[{"role":"user","content":"x"}]}"#, "context_length_exceeded"),
        (#"{"model":"echo","temperature":9,"messages":[{"role":"user","content":"x"}]}"#, "invalid_temperature"),
        (#"{"model":"echo","n":3,"messages":[{"role":"user","content":"x"}]}"#, "invalid_n"),
        (#"{"model":"echo","messages":[{"role":"user","content":[{"type":"image_url"}]}]}"#, "invalid_json"),
    ])
    func badRequestsAreOpenAIErrorsWithStatus400(body: String, code: String) async throws {
        try await withApp { client in
            try await post(client, body) { response in
                #expect(response.status == .badRequest)
                let error = try errorBody(response)
                #expect(error["code"] as? String == code)
                #expect(error["type"] as? String == "invalid_request_error")
                #expect((error["message"] as? String)?.isEmpty == false)
            }
        }
    }

    @Test func unknownModelIs404NamingTheAvailableOnes() async throws {
        try await withApp { client in
            try await post(client, #"{"model":"gpt-9","messages":[{"role":"user","content":"x"}]}"#) { response in
                #expect(response.status == .notFound)
                let error = try errorBody(response)
                #expect(error["code"] as? String == "model_not_found")
                #expect((error["message"] as? String)?.contains("echo") == true)
            }
        }
    }

    @Test func hugeBodiesAreRefusedWith413() async throws {
        try await withApp { client in
            let huge = #"{"model":"echo","messages":[{"role":"user","content":""# + String(repeating: "a", count: 2 << 20) + #""}]}"#
            try await post(client, huge) { response in
                #expect(response.status == .contentTooLarge)
                let error = try errorBody(response)
                #expect(error["code"] as? String == "request_too_large")
            }
        }
    }

    @Test func modelsListsWhatTheBackendOffers() async throws {
        try await withApp { client in
            try await client.execute(uri: "/v1/models", method: .get) { response in
                let body = try #require(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])
                #expect((body["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == ["echo"])
            }
        }
    }
}

@Suite struct MetricsRouteTests {
    @Test func metricsCountRequestsInPrometheusFormat() async throws {
        try await ChatAPITests().withApp { client in
            try await client.execute(uri: "/health", method: .get) { _ in }
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
                let text = String(buffer: response.body)
                #expect(text.contains("# TYPE exo_http_requests_total counter"))
                #expect(text.contains("exo_http_requests_total 2"))
            }
        }
    }
}
