import Foundation
import Hummingbird
import NIOCore

/// `POST /v1/chat/completions` and `GET /v1/models`, OpenAI-compatible.
struct ChatController<Backend: ChatBackend> {
    let backend: Backend
    var maxBodyBytes = 1 << 20
    var defaultMaxTokens = 256
    var maxTokensLimit = 4096

    func addRoutes(to router: Router<some RequestContext>) {
        router.get("v1/models") { _, _ -> ModelList in
            let now = Int(Date().timeIntervalSince1970)
            return ModelList(data: await backend.availableModels().map { .init(id: $0, created: now, ownedBy: "exo-peer") })
        }
        router.post("v1/chat/completions") { request, _ -> Response in
            try await complete(request)
        }
    }

    func complete(_ request: Request) async throws -> Response {
        let decoded = try await decode(request)
        let job = try ChatRequestValidation.job(from: decoded, defaultMaxTokens: defaultMaxTokens, maxTokensLimit: maxTokensLimit)
        let events = try await backend.generate(job)
        let id = "chatcmpl-" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let created = Int(Date().timeIntervalSince1970)
        if decoded.stream {
            let includeUsage = decoded.streamOptions?.includeUsage ?? false
            return ServerSentEvents.response(events: events, id: id, created: created, model: job.model, includeUsage: includeUsage)
        }
        var text = ""
        var finish = FinishReason.stop
        var usage = Usage(promptTokens: 0, completionTokens: 0)
        for try await event in events {
            switch event {
            case .text(let piece): text += piece
            case .finished(let reason, let counts): finish = reason; usage = counts
            }
        }
        let completion = ChatCompletion(
            id: id, created: created, model: job.model,
            choices: [.init(message: .init(content: text), finishReason: finish)], usage: usage
        )
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: try JSON.encode(completion))))
    }

    /// Reads at most `maxBodyBytes` and decodes; every failure is an OpenAI-style 4xx naming the problem.
    private func decode(_ request: Request) async throws -> ChatCompletionRequest {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: maxBodyBytes)
        } catch {
            throw APIError.tooLarge(limit: maxBodyBytes)
        }
        do {
            return try JSONDecoder().decode(ChatCompletionRequest.self, from: Data(buffer: buffer))
        } catch let error as DecodingError {
            throw APIError.badRequest("Invalid request body: \(JSON.describe(error))", code: "invalid_json")
        } catch {
            throw APIError.badRequest("Invalid request body: \(error)", code: "invalid_json")
        }
    }
}

/// JSON helpers shared by the API: sorted keys, and decoding errors a person can read.
enum JSON {
    static func encode(_ value: some Encodable) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let p = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            return p.isEmpty ? "body" : "'\(p)'"
        }
        switch error {
        case .keyNotFound(let key, let context):
            let parent = context.codingPath.isEmpty ? "" : " in \(path(context))"
            return "missing field '\(key.stringValue)'\(parent)"
        case .typeMismatch(let type, let context): return "\(path(context)) has the wrong type (expected \(type))"
        case .valueNotFound(_, let context): return "\(path(context)) must not be null"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "not valid JSON" : "\(path(context)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}
