import Foundation
import Hummingbird

/// `POST /v1/chat/completions` as OpenAI clients send it. Unknown fields are ignored, as OpenAI does.
struct ChatCompletionRequest: Decodable, Sendable {
    var model: String
    var messages: [Message]
    var maxTokens: Int?
    var maxCompletionTokens: Int?
    var temperature: Double?
    var topP: Double?
    var seed: UInt64?
    var stop: [String]
    var stream: Bool
    var streamOptions: StreamOptions?
    var n: Int?

    struct StreamOptions: Decodable, Sendable {
        var includeUsage: Bool?
        enum CodingKeys: String, CodingKey { case includeUsage = "include_usage" }
    }

    struct Message: Decodable, Sendable, Equatable {
        var role: String
        var content: String

        enum CodingKeys: String, CodingKey { case role, content }

        /// Content is a string or a list of parts; only text parts are accepted.
        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            role = try c.decode(String.self, forKey: .role)
            if let text = try? c.decode(String.self, forKey: .content) {
                content = text
            } else if let parts = try? c.decode([ContentPart].self, forKey: .content) {
                content = try parts.map { part in
                    guard part.type == "text", let text = part.text else {
                        throw DecodingError.dataCorruptedError(forKey: .content, in: c, debugDescription: "only text content parts are supported, got '\(part.type)'")
                    }
                    return text
                }.joined()
            } else if try c.decodeNil(forKey: .content) {
                content = ""
            } else {
                throw DecodingError.dataCorruptedError(forKey: .content, in: c, debugDescription: "content must be a string or a list of text parts")
            }
        }

        init(role: String, content: String) {
            self.role = role
            self.content = content
        }
    }

    struct ContentPart: Decodable { var type: String; var text: String? }

    enum CodingKeys: String, CodingKey {
        case model, messages, temperature, seed, stop, stream, n
        case maxTokens = "max_tokens"
        case maxCompletionTokens = "max_completion_tokens"
        case topP = "top_p"
        case streamOptions = "stream_options"
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decode(String.self, forKey: .model)
        messages = try c.decode([Message].self, forKey: .messages)
        maxTokens = try c.decodeIfPresent(Int.self, forKey: .maxTokens)
        maxCompletionTokens = try c.decodeIfPresent(Int.self, forKey: .maxCompletionTokens)
        temperature = try c.decodeIfPresent(Double.self, forKey: .temperature)
        topP = try c.decodeIfPresent(Double.self, forKey: .topP)
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed)
        if let one = try? c.decodeIfPresent(String.self, forKey: .stop) {
            stop = [one]
        } else {
            stop = try c.decodeIfPresent([String].self, forKey: .stop) ?? []
        }
        stream = try c.decodeIfPresent(Bool.self, forKey: .stream) ?? false
        streamOptions = try c.decodeIfPresent(StreamOptions.self, forKey: .streamOptions)
        n = try c.decodeIfPresent(Int.self, forKey: .n)
    }
}

/// The validated form of a request: what the backend needs, nothing the wire allows but we refuse.
struct ChatJob: Sendable, Equatable, Codable {
    var model: String
    var messages: [ChatTurn]
    var maxTokens: Int
    var temperature: Double
    var topP: Double
    var seed: UInt64?
    var stop: [String]
}

struct ChatTurn: Sendable, Equatable, Codable {
    var role: String
    var content: String
}

struct Usage: Encodable, Sendable, Equatable {
    var promptTokens: Int
    var completionTokens: Int
    var totalTokens: Int { promptTokens + completionTokens }

    enum CodingKeys: String, CodingKey { case promptTokens = "prompt_tokens", completionTokens = "completion_tokens", totalTokens = "total_tokens" }
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(promptTokens, forKey: .promptTokens)
        try c.encode(completionTokens, forKey: .completionTokens)
        try c.encode(totalTokens, forKey: .totalTokens)
    }
}

enum FinishReason: String, Encodable, Sendable { case stop, length }

struct ChatCompletion: Encodable, Sendable {
    var id: String
    var object = "chat.completion"
    var created: Int
    var model: String
    var choices: [Choice]
    var usage: Usage

    struct Choice: Encodable, Sendable {
        var index = 0
        var message: OutMessage
        var finishReason: FinishReason
        enum CodingKeys: String, CodingKey { case index, message, finishReason = "finish_reason" }
    }

    struct OutMessage: Encodable, Sendable { var role = "assistant"; var content: String }
}

struct ChatCompletionChunk: Encodable, Sendable {
    var id: String
    var object = "chat.completion.chunk"
    var created: Int
    var model: String
    var choices: [Choice]
    var usage: Usage?

    struct Choice: Encodable, Sendable {
        var index = 0
        var delta: Delta
        var finishReason: FinishReason?
        enum CodingKeys: String, CodingKey { case index, delta, finishReason = "finish_reason" }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(index, forKey: .index)
            try c.encode(delta, forKey: .delta)
            try c.encode(finishReason, forKey: .finishReason) // explicit null while streaming, as OpenAI sends
        }
    }

    struct Delta: Encodable, Sendable { var role: String?; var content: String? }
}

struct ModelList: ResponseEncodable, Sendable {
    var object = "list"
    var data: [Entry]

    struct Entry: Encodable, Sendable {
        var id: String
        var object = "model"
        var created: Int
        var ownedBy: String
        enum CodingKeys: String, CodingKey { case id, object, created, ownedBy = "owned_by" }
    }
}
