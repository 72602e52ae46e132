import Testing
@testable import Inference

/// Stop strings found across streamed chunks, with nothing of a stop string ever shown.
struct GenerationStopStringTests {
    static func run(_ chunks: [String], stops: [String]) -> (shown: String, stopped: Bool) {
        var m = StopStringMatcher(stops: stops)
        var shown = ""
        for chunk in chunks {
            switch m.append(chunk) {
            case .emit(let s): shown += s
            case .stop(let before): return (shown + before, true)
            }
        }
        return (shown + m.flush(), false)
    }

    @Test(arguments: [
        ["Hello <|im_end|>"],
        ["Hello <|im", "_end|> more"],
        ["Hel", "lo <", "|", "im_end", "|>"],
    ])
    func stopStringSplitAcrossChunksStopsBeforeIt(chunks: [String]) {
        let r = Self.run(chunks, stops: ["<|im_end|>"])
        #expect(r.stopped)
        #expect(r.shown == "Hello ")
    }

    @Test func heldBackPrefixIsReleasedWhenItDoesNotComplete() {
        var m = StopStringMatcher(stops: ["STOP"])
        #expect(m.append("a ST") == .emit("a "))
        #expect(m.append("ay") == .emit("STay"))
        #expect(m.append(" S") == .emit(" "))
        #expect(m.flush() == "S")
    }

    @Test func earliestStopStringWins() {
        let r = Self.run(["x END y HALT"], stops: ["HALT", "END"])
        #expect(r.stopped && r.shown == "x ")
    }

    @Test func withoutStopsEverythingIsShown() {
        let r = Self.run(["a", "b", "c"], stops: [])
        #expect(!r.stopped && r.shown == "abc")
    }
}
