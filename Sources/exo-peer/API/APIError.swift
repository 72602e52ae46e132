import Foundation
import Hummingbird

/// An error in OpenAI's shape, `{"error": {"message", "type", "code"}}`, with its HTTP status.
struct APIError: Error, Sendable, HTTPResponseError {
    var status: HTTPResponse.Status
    var message: String
    var type: String
    var code: String?

    static func badRequest(_ message: String, code: String? = nil) -> APIError {
        APIError(status: .badRequest, message: message, type: "invalid_request_error", code: code)
    }
    static func modelNotFound(_ model: String, available: [String]) -> APIError {
        let hint = available.isEmpty ? "no models are available in the mesh" : "available: \(available.joined(separator: ", "))"
        return APIError(status: .notFound, message: "The model '\(model)' does not exist (\(hint)).", type: "invalid_request_error", code: "model_not_found")
    }
    static func tooLarge(limit: Int) -> APIError {
        APIError(status: .contentTooLarge, message: "Request body is larger than \(limit) bytes.", type: "invalid_request_error", code: "request_too_large")
    }
    static func overloaded(_ message: String) -> APIError {
        APIError(status: .tooManyRequests, message: message, type: "server_error", code: "overloaded")
    }
    static func unavailable(_ message: String) -> APIError {
        APIError(status: .serviceUnavailable, message: message, type: "server_error", code: "unavailable")
    }
    static func `internal`(_ message: String) -> APIError {
        APIError(status: .internalServerError, message: message, type: "server_error", code: "internal_error")
    }
    static let unauthorized = APIError(status: .unauthorized, message: "Missing or wrong API key: send 'Authorization: Bearer <key>'.", type: "invalid_request_error", code: "invalid_api_key")

    private struct Body: Encodable {
        struct Inner: Encodable { var message: String; var type: String; var code: String? }
        var error: Inner
    }

    var body: ByteBuffer {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(Body(error: .init(message: message, type: type, code: code)))) ?? Data("{}".utf8)
        return ByteBuffer(bytes: data)
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
    }
}
