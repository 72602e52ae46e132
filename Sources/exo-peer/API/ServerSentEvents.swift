import Foundation
import Hummingbird
import NIOCore

/// Streams generation events as OpenAI chat-completion chunks over SSE, ending with `data: [DONE]`.
/// When the client goes away the body writer fails, the task iterating `events` is cancelled, and
/// so is the generation behind it.
enum ServerSentEvents {
    static func response(
        events: AsyncThrowingStream<GenerationEvent, any Error>,
        id: String, created: Int, model: String, includeUsage: Bool
    ) -> Response {
        let headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache"]
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            func chunk(_ delta: ChatCompletionChunk.Delta, finish: FinishReason? = nil, usage: Usage? = nil, choices: Bool = true) -> ChatCompletionChunk {
                ChatCompletionChunk(id: id, created: created, model: model,
                                    choices: choices ? [.init(delta: delta, finishReason: finish)] : [], usage: usage)
            }
            try await writer.write(event(chunk(.init(role: "assistant", content: ""))))
            do {
                for try await item in events {
                    switch item {
                    case .text(let piece):
                        try await writer.write(event(chunk(.init(content: piece))))
                    case .finished(let reason, let usage):
                        try await writer.write(event(chunk(.init(), finish: reason)))
                        if includeUsage { try await writer.write(event(chunk(.init(), usage: usage, choices: false))) }
                    }
                }
            } catch let error as APIError {
                // Headers are gone already: report the failure in-band, as OpenAI does.
                try await writer.write(ByteBuffer(string: "data: \(String(decoding: error.body.readableBytesView, as: UTF8.self))\n\n"))
            }
            try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
            try await writer.finish(nil)
        })
    }

    static func event(_ chunk: ChatCompletionChunk) throws -> ByteBuffer {
        var buffer = ByteBuffer(string: "data: ")
        buffer.writeBytes(try JSON.encode(chunk))
        buffer.writeString("\n\n")
        return buffer
    }
}
