/// Keys and values of past positions for a range of layers, stored as Float16 as llama.cpp does.
/// Owned by the caller: a pipeline rank keeps the cache of its own layers only.
///
/// A sliding-window layer (Gemma 3's local layers) never looks further back than its window, so it
/// keeps a ring of `window + PrefillScratch.batch - 1` slots instead of one per position: position p
/// lives in slot p mod slots. The batch term is there because a batch stores all its tokens' keys
/// before any of them attends, and its first token still needs the `window - 1` positions before it.
/// At a 32k context Gemma 3 270M's 15 local layers then keep 543 positions each, not 32,768.
public final class KVCache: @unchecked Sendable {
    public let layers: Range<Int>
    public let capacity: Int
    public let kvDimension: Int
    /// Positions filled so far (the next token goes at `length`).
    public var length = 0
    let keys: UnsafeMutablePointer<Float16>
    let values: UnsafeMutablePointer<Float16>
    /// Per layer of `layers`: where its slots start (in entries of kvDimension), and how many it has.
    private let starts: [Int]
    private let slotCounts: [Int]

    /// `ringSlots` (with `isRing`, which layers keep a ring) bounds those layers' slots.
    public init(layers: Range<Int>, capacity: Int, kvDimension: Int, ringSlots: Int? = nil, isRing: (Int) -> Bool = { _ in false }) {
        self.layers = layers
        self.capacity = capacity
        self.kvDimension = kvDimension
        var starts: [Int] = [], counts: [Int] = [], total = 0
        for layer in layers {
            let slots = max(1, ringSlots.map { isRing(layer) ? min(capacity, $0) : capacity } ?? capacity)
            starts.append(total)
            counts.append(slots)
            total += slots
        }
        self.starts = starts
        slotCounts = counts
        let count = total * kvDimension
        keys = .allocate(capacity: max(count, 1))
        values = .allocate(capacity: max(count, 1))
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    public func reset() { length = 0 }

    /// Slots of `layer`: `capacity`, or its ring's size.
    @inline(__always) func slots(layer: Int) -> Int { slotCounts[layer - layers.lowerBound] }

    /// The key entry of `position` in `layer` (for a ring, its slot; position 0 gives the first slot).
    @inline(__always) func key(layer: Int, position: Int) -> UnsafeMutablePointer<Float16> {
        let i = layer - layers.lowerBound
        return keys + (starts[i] + position % slotCounts[i]) * kvDimension
    }

    @inline(__always) func value(layer: Int, position: Int) -> UnsafeMutablePointer<Float16> {
        let i = layer - layers.lowerBound
        return values + (starts[i] + position % slotCounts[i]) * kvDimension
    }

    public var bytes: Int { 2 * (slotCounts.reduce(0, +)) * kvDimension * MemoryLayout<Float16>.size }
}
