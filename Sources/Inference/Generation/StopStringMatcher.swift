/// Finds stop strings in streamed text. Text that could still be the start of a stop string is
/// held back, so a caller never prints part of a stop string. Pure: feed text, get what to emit.
public struct StopStringMatcher: Sendable {
    public let stops: [String]
    private var pending = ""

    public init(stops: [String]) { self.stops = stops.filter { !$0.isEmpty } }

    public enum Step: Equatable, Sendable {
        /// Safe to show; keep going.
        case emit(String)
        /// A stop string was found: show the text before it and stop.
        case stop(before: String)
    }

    public mutating func append(_ text: String) -> Step {
        pending += text
        if let hit = stops.compactMap({ pending.range(of: $0) }).min(by: { $0.lowerBound < $1.lowerBound }) {
            let before = String(pending[..<hit.lowerBound])
            pending = ""
            return .stop(before: before)
        }
        // Hold back the longest suffix that is a proper prefix of some stop string.
        var keep = 0
        for stop in stops {
            for length in stride(from: min(stop.count - 1, pending.count), to: keep, by: -1)
            where pending.hasSuffix(stop.prefix(length)) {
                keep = length
                break
            }
        }
        let cut = pending.index(pending.endIndex, offsetBy: -keep)
        let out = String(pending[..<cut])
        pending = String(pending[cut...])
        return .emit(out)
    }

    /// Text held back at the end of generation (it never became a stop string).
    public mutating func flush() -> String {
        defer { pending = "" }
        return pending
    }
}
