/// A byte-rate limit: `rate` bytes per second on average, bursts up to `burst` bytes. Pure (the caller
/// passes the time), so transfers can be throttled without starving gossip or pipeline frames.
struct TokenBucket: Sendable {
    /// Bytes per second; 0 means no limit.
    let rate: Double
    let burst: Double
    private var tokens: Double
    private var last: Double?

    init(bytesPerSecond rate: Double, burst: Double) {
        self.rate = max(0, rate)
        self.burst = max(1, burst)
        self.tokens = max(1, burst)
    }

    /// Takes `bytes` at time `now` (seconds) and returns how long to wait before using them: 0 when the
    /// bucket held enough. Tokens may go negative; the debt is what the wait pays back.
    mutating func take(_ bytes: Int, now: Double) -> Double {
        guard rate > 0 else { return 0 }
        if let last { tokens = min(burst, tokens + max(0, now - last) * rate) }
        last = now
        tokens -= Double(bytes)
        return tokens >= 0 ? 0 : -tokens / rate
    }
}
