import Foundation
import Testing
@testable import Placement

@Suite("restart backoff")
struct RestartBackoffTests {
    let backoff = RestartBackoff(initial: .milliseconds(500), maximum: .seconds(30), jitter: 0.25, resetAfter: .seconds(60))

    @Test("the ceiling doubles from initial and stops at maximum")
    func ceiling() {
        #expect(backoff.ceiling(attempt: 0) == .milliseconds(500))
        #expect(backoff.ceiling(attempt: 1) == .seconds(1))
        #expect(backoff.ceiling(attempt: 5) == .seconds(16))
        #expect(backoff.ceiling(attempt: 6) == .seconds(30))
        #expect(backoff.ceiling(attempt: 62) == .seconds(30))
        #expect(backoff.ceiling(attempt: .max) == .seconds(30))
        #expect(backoff.ceiling(attempt: -3) == .milliseconds(500))
        for attempt in 0..<80 { #expect(backoff.ceiling(attempt: attempt) <= backoff.ceiling(attempt: attempt + 1)) }
    }

    @Test("delays stay within ceiling × (1 - jitter) and the ceiling, for any random value")
    func bounds() {
        var rng = SplitMix64(seed: 7)
        let randoms = [0, 0.5, 0.999_999, 1, -1, 2, .nan, .infinity] + (0..<50).map { _ in Double.random(in: 0..<1, using: &rng) }
        for attempt in 0..<80 {
            let ceiling = backoff.ceiling(attempt: attempt)
            for random in randoms {
                let delay = backoff.delay(attempt: attempt, random: random)
                #expect(delay <= ceiling)
                #expect(delay >= ceiling * 0.75 - .nanoseconds(1), "attempt \(attempt), random \(random)")
            }
        }
    }

    @Test("the same random value gives the same delay; jitter spreads delays; no jitter means the ceiling")
    func jitter() {
        #expect(backoff.delay(attempt: 3, random: 0.42) == backoff.delay(attempt: 3, random: 0.42))
        #expect(backoff.delay(attempt: 3, random: 0.1) > backoff.delay(attempt: 3, random: 0.9))
        #expect(backoff.delay(attempt: 3, random: 0) == .seconds(4))
        #expect(backoff.delay(attempt: 3, random: 0.5) == .milliseconds(3500))
        let fixed = RestartBackoff(jitter: 0)
        #expect(fixed.delay(attempt: 2, random: 0.7) == fixed.ceiling(attempt: 2))
    }

    @Test("a runner that stayed up long enough starts again from the first delay")
    func reset() {
        #expect(backoff.attempt(after: -1, uptime: .seconds(1)) == 0)
        #expect(backoff.attempt(after: 4, uptime: .seconds(59)) == 5)
        #expect(backoff.attempt(after: 4, uptime: .seconds(60)) == 0)
    }

    @Test("round-trips through JSON")
    func codable() throws {
        #expect(try JSONDecoder().decode(RestartBackoff.self, from: JSONEncoder().encode(backoff)) == backoff)
    }
}
