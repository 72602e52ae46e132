import Foundation

extension NodeClient {
    /// GET `path` and decode it, or a failure naming the endpoint and what did not fit.
    func document<T: Decodable>(_ path: String, as type: T.Type = T.self) async throws -> T {
        let data = try await get(path)
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let error as DecodingError {
            throw CommandFailure("\(base)\(path) did not return what this build of exo-peer reads (\(JSON.describe(error))); is the node a different version?")
        }
    }

    /// The base URL of a peer's API from what it gossips (`/peers`: address and port).
    static func base(address: String, port: Int) -> String? {
        guard !address.isEmpty, address != "?", port > 0 else { return nil }
        return address.contains(":") ? "http://[\(address)]:\(port)" : "http://\(address):\(port)"
    }
}
