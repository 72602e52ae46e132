import ArgumentParser
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A small HTTP client for the CLI's queries to a node's API.
struct NodeClient {
    let base: String
    var apiKey: String? = ProcessInfo.processInfo.environment["EXO_API_KEY"]
    /// Seconds a plain request may take; `doctor` asks peers with a short one so a dead address does not stall it.
    var timeout: TimeInterval = 30

    func get(_ path: String) async throws -> Data {
        try await send(path, method: "GET", body: nil)
    }

    /// A request to `path` on the node, with the JSON content type for a body and the API key if any.
    func request(_ path: String, method: String, body: Data?, timeout: TimeInterval = 30) throws -> URLRequest {
        guard let url = URL(string: base.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + path) else {
            throw CommandFailure("not a URL: \(base)")
        }
        var request = URLRequest(url: url, timeoutInterval: timeout)
        request.httpMethod = method
        request.httpBody = body
        if body != nil { request.setValue("application/json", forHTTPHeaderField: "Content-Type") }
        if let apiKey { request.setValue("Bearer \(apiKey)", forHTTPHeaderField: "Authorization") }
        return request
    }

    func send(_ path: String, method: String, body: Data?) async throws -> Data {
        let request = try request(path, method: method, body: body, timeout: timeout)
        let url = request.url!
        let (data, response): (Data, URLResponse)
        do {
            (data, response) = try await URLSession.shared.data(for: request)
        } catch {
            throw CommandFailure("cannot reach \(url): \(error.localizedDescription). Is a node running there?")
        }
        if let http = response as? HTTPURLResponse, !(200..<300).contains(http.statusCode) {
            throw CommandFailure("\(method) \(url) answered HTTP \(http.statusCode): \(String(decoding: data, as: UTF8.self))")
        }
        return data
    }
}

/// A command that could not do its job, for a reason other than its arguments: printed as
/// "Error: …" without the usage text, exit code 1.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
