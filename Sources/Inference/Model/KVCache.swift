/// Keys and values of past positions for a range of layers, stored as Float16 as llama.cpp does.
/// Owned by the caller: a pipeline rank keeps the cache of its own layers only.
public final class KVCache: @unchecked Sendable {
    public let layers: Range<Int>
    public let capacity: Int
    public let kvDimension: Int
    /// Positions filled so far (the next token goes at `length`).
    public var length = 0
    let keys: UnsafeMutablePointer<Float16>
    let values: UnsafeMutablePointer<Float16>

    public init(layers: Range<Int>, capacity: Int, kvDimension: Int) {
        self.layers = layers
        self.capacity = capacity
        self.kvDimension = kvDimension
        let count = layers.count * capacity * kvDimension
        keys = .allocate(capacity: max(count, 1))
        values = .allocate(capacity: max(count, 1))
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    public func reset() { length = 0 }

    @inline(__always) func key(layer: Int, position: Int) -> UnsafeMutablePointer<Float16> {
        keys + ((layer - layers.lowerBound) * capacity + position) * kvDimension
    }

    @inline(__always) func value(layer: Int, position: Int) -> UnsafeMutablePointer<Float16> {
        values + ((layer - layers.lowerBound) * capacity + position) * kvDimension
    }

    public var bytes: Int { 2 * layers.count * capacity * kvDimension * MemoryLayout<Float16>.size }
}
