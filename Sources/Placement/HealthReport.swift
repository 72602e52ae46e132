/// A runner supervisor's report, served at `/health` and gossiped. Plain JSON: resources are keyed by name
/// (exo's monitor crashed serializing a map keyed by an enum), and the score is derived, never stored, so
/// it cannot disagree with the facts it comes from.
public struct HealthReport: Sendable, Hashable, Codable {
    public enum ResourceState: String, Sendable, Hashable, Codable, CaseIterable {
        case ok, degraded, failed
    }

    public struct RecordedError: Sendable, Hashable, Codable {
        /// Unix milliseconds.
        public var at: UInt64
        public var message: String

        public init(at: UInt64, message: String) {
            self.at = at
            self.message = message
        }
    }

    /// Errors kept; older ones are dropped first.
    public static let errorLimit = 16
    /// Score lost per recent error.
    public static let costPerError = 0.05

    public var processAlive: Bool
    /// Resource name (a runner, "model-file", "mesh") to its state.
    public var resources: [String: ResourceState]
    public private(set) var recentErrors: [RecordedError]

    public init(processAlive: Bool = true, resources: [String: ResourceState] = [:], recentErrors: [RecordedError] = []) {
        self.processAlive = processAlive
        self.resources = resources
        self.recentErrors = Array(recentErrors.suffix(Self.errorLimit))
    }

    /// 0 when the process is dead; otherwise the mean resource state (ok 1, degraded ½, failed 0, and 1 with
    /// no resources) less 5 % per recent error. Counts, not floating sums, so every node gets the same figure.
    public var score: Double {
        guard processAlive else { return 0 }
        let states = resources.values
        let points = states.reduce(0) { total, state in
            switch state {
            case .ok: total + 2
            case .degraded: total + 1
            case .failed: total
            }
        }
        let resourceScore = states.isEmpty ? 1 : Double(points) / Double(2 * states.count)
        return max(0, resourceScore * (1 - Self.costPerError * Double(recentErrors.count)))
    }

    /// Records an error, dropping the oldest beyond `errorLimit`.
    public mutating func record(error message: String, at time: UInt64) {
        recentErrors.append(RecordedError(at: time, message: message))
        if recentErrors.count > Self.errorLimit { recentErrors.removeFirst(recentErrors.count - Self.errorLimit) }
    }

    /// Drops errors older than `time`: they are no longer recent.
    public mutating func forgetErrors(before time: UInt64) {
        recentErrors.removeAll { $0.at < time }
    }

    private enum CodingKeys: String, CodingKey {
        case processAlive, resources, recentErrors, score
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            processAlive: try container.decode(Bool.self, forKey: .processAlive),
            resources: try container.decode([String: ResourceState].self, forKey: .resources),
            recentErrors: try container.decode([RecordedError].self, forKey: .recentErrors)
        )
    }

    /// Writes `score` too, for readers of `/health`; decoding recomputes it.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(processAlive, forKey: .processAlive)
        try container.encode(resources, forKey: .resources)
        try container.encode(recentErrors, forKey: .recentErrors)
        try container.encode(score, forKey: .score)
    }
}
