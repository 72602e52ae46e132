/// Delays before restarting a crashed runner: doubling from `initial` up to `maximum`, less a random part so
/// runners that failed together do not restart together. The random value is injected, so delays replay.
public struct RestartBackoff: Sendable, Hashable, Codable {
    public var initial: Duration
    public var maximum: Duration
    /// Fraction of the delay that may be taken off at random: 0 → fixed delays, 1 → anywhere from 0 to the delay.
    public var jitter: Double
    /// A runner that stayed up this long counts as healthy again: its next crash starts from `initial`.
    public var resetAfter: Duration

    public init(initial: Duration = .milliseconds(500), maximum: Duration = .seconds(30), jitter: Double = 0.25, resetAfter: Duration = .seconds(60)) {
        self.initial = initial
        self.maximum = maximum
        self.jitter = jitter
        self.resetAfter = resetAfter
    }

    /// The undelayed ceiling for `attempt` (0 for the first restart): `initial × 2^attempt`, at most `maximum`.
    public func ceiling(attempt: Int) -> Duration {
        let first = Self.nanoseconds(initial), cap = Self.nanoseconds(maximum)
        let attempt = max(attempt, 0)
        guard attempt < 63 else { return .nanoseconds(Int64(cap)) }
        return .nanoseconds(Int64(min(first.saturatingMultiply(1 << UInt64(attempt)), cap)))
    }

    /// The delay before restart `attempt`, given `random` drawn uniformly from 0..<1: within
    /// `ceiling × (1 - jitter)` and `ceiling`.
    public func delay(attempt: Int, random: Double) -> Duration {
        let ceiling = Self.nanoseconds(ceiling(attempt: attempt))
        let fraction = Self.unit(jitter) * Self.unit(random)
        let off = UInt64((Double(ceiling) * fraction).rounded(.down))
        return .nanoseconds(Int64(ceiling - min(off, ceiling)))
    }

    /// The attempt number for the next restart of a runner that crashed after `uptime`, `previous` being the
    /// number of the restart that started it (-1 for its first start).
    public func attempt(after previous: Int, uptime: Duration) -> Int {
        uptime >= resetAfter ? 0 : max(previous, -1) + 1
    }

    /// Non-negative nanoseconds, at most `Int64.max`.
    private static func nanoseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0, attoseconds >= 0 else { return 0 }
        let total = UInt64(seconds).saturatingMultiply(1_000_000_000).saturatingAdd(UInt64(attoseconds / 1_000_000_000))
        return min(total, UInt64(Int64.max))
    }

    private static func unit(_ value: Double) -> Double {
        value.isNaN ? 0 : min(max(value, 0), 1)
    }
}
