/// A binary min-heap of timed events; ties keep insertion order, so runs are deterministic.
///
/// The heap orders plain (time, sequence, slot) keys; events wait in a slot array and are moved out once,
/// on pop. Sifting whole events instead retains and releases every message's buffers at each swap and
/// comparison, which was most of a large simulation's time.
struct EventQueue<Event> {
    private struct Key {
        var at: Duration
        var seq: UInt64
        var slot: Int32
    }

    private var heap: [Key] = []
    private var slots: [Event?] = []
    private var freeSlots: [Int32] = []
    private var seq: UInt64 = 0

    var isEmpty: Bool { heap.isEmpty }
    var count: Int { heap.count }
    var nextTime: Duration? { heap.first?.at }

    mutating func push(_ event: Event, at time: Duration) {
        seq += 1
        let slot: Int32
        if let free = freeSlots.popLast() {
            slot = free
            slots[Int(free)] = event
        } else {
            slot = Int32(slots.count)
            slots.append(event)
        }
        heap.append(Key(at: time, seq: seq, slot: slot))
        var child = heap.count - 1
        let key = heap[child]
        while child > 0 {
            let parent = (child - 1) / 2
            guard Self.before(key, heap[parent]) else { break }
            heap[child] = heap[parent]
            child = parent
        }
        heap[child] = key
    }

    mutating func pop() -> (at: Duration, event: Event)? {
        guard let top = heap.first else { return nil }
        let last = heap.removeLast()
        if !heap.isEmpty {
            // Sift the last key down from the root.
            var parent = 0
            let count = heap.count
            while true {
                let left = 2 * parent + 1
                guard left < count else { break }
                let right = left + 1
                let child = right < count && Self.before(heap[right], heap[left]) ? right : left
                guard Self.before(heap[child], last) else { break }
                heap[parent] = heap[child]
                parent = child
            }
            heap[parent] = last
        }
        var event: Event? = nil
        swap(&event, &slots[Int(top.slot)])
        freeSlots.append(top.slot)
        return (top.at, event!)
    }

    private static func before(_ a: Key, _ b: Key) -> Bool {
        a.at != b.at ? a.at < b.at : a.seq < b.seq
    }
}
