/// A binary min-heap of timed events; ties keep insertion order, so runs are deterministic.
struct EventQueue<Event> {
    private var heap: [(at: Duration, seq: UInt64, event: Event)] = []
    private var seq: UInt64 = 0

    var isEmpty: Bool { heap.isEmpty }
    var nextTime: Duration? { heap.first?.at }

    mutating func push(_ event: Event, at time: Duration) {
        seq += 1
        heap.append((time, seq, event))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard Self.before(heap[child], heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> (at: Duration, event: Event)? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let top = heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var first = parent
            if left < heap.count, Self.before(heap[left], heap[first]) { first = left }
            if right < heap.count, Self.before(heap[right], heap[first]) { first = right }
            if first == parent { break }
            heap.swapAt(parent, first)
            parent = first
        }
        return (top.at, top.event)
    }

    private static func before(_ a: (at: Duration, seq: UInt64, event: Event), _ b: (at: Duration, seq: UInt64, event: Event)) -> Bool {
        a.at != b.at ? a.at < b.at : a.seq < b.seq
    }
}
