import Foundation

/// Delays between reconnect attempts: exponential, capped, with jitter so that nodes which lost a peer at
/// the same moment do not all dial it again at the same moment.
public struct Backoff: Sendable, Equatable {
    public var initial: Duration
    public var maximum: Duration
    public var multiplier: Double
    /// Fraction of the delay that is random: 0 → fixed delays, 1 → anywhere from 0 to the full delay.
    public var jitter: Double

    public init(initial: Duration = .milliseconds(100), maximum: Duration = .seconds(10), multiplier: Double = 2, jitter: Double = 0.5) {
        self.initial = initial
        self.maximum = maximum
        self.multiplier = multiplier
        self.jitter = min(max(jitter, 0), 1)
    }

    /// The delay before attempt `attempt` (0-based), given `random` drawn uniformly from 0..<1.
    public func delay(attempt: Int, random: Double) -> Duration {
        let base = min(seconds(initial) * Foundation.pow(multiplier, Double(min(max(attempt, 0), 60))), seconds(maximum))
        let jittered = base * (1 - jitter + jitter * min(max(random, 0), 1))
        return .nanoseconds(Int64(jittered * 1e9))
    }

    private func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}

extension Backoff {
    /// Redialing on a LAN: a lost peer costs one connection attempt per second at most, and a
    /// healed partition or a restarted peer is reached again within about a second, so gossip can
    /// reconcile the views within the 2 s the mesh promises.
    public static let lan = Backoff(initial: .milliseconds(100), maximum: .seconds(1))
}

