import Dispatch

/// A STREAM-style read of a large buffer: the bandwidth one thread gets from memory. Here, in
/// the natively compiled module, so the loop uses the same vector width as the kernels.
public enum MemoryBandwidth {
    /// Best bytes per second over `repeats` sequential reads of a `bytes`-long buffer.
    public static func measure(bytes: Int, repeats: Int) -> Double {
        let count = bytes / MemoryLayout<SIMD16<Float>>.stride
        let buffer = UnsafeMutablePointer<SIMD16<Float>>.allocate(capacity: count)
        defer { buffer.deallocate() }
        buffer.initialize(repeating: SIMD16(repeating: 1), count: count)
        var best = 0.0
        var sink = SIMD16<UInt32>()
        for _ in 0..<max(2, repeats) {
            let start = DispatchTime.now()
            var a = SIMD16<UInt32>(), b = SIMD16<UInt32>(), c = SIMD16<UInt32>(), d = SIMD16<UInt32>()
            var e = SIMD16<UInt32>(), f = SIMD16<UInt32>(), g = SIMD16<UInt32>(), h = SIMD16<UInt32>()
            let raw = UnsafeRawPointer(buffer)
            var offset = 0
            let end = count * 64
            while offset + 512 <= end {
                a &+= raw.load(fromByteOffset: offset, as: SIMD16<UInt32>.self)
                b &+= raw.load(fromByteOffset: offset + 64, as: SIMD16<UInt32>.self)
                c &+= raw.load(fromByteOffset: offset + 128, as: SIMD16<UInt32>.self)
                d &+= raw.load(fromByteOffset: offset + 192, as: SIMD16<UInt32>.self)
                e &+= raw.load(fromByteOffset: offset + 256, as: SIMD16<UInt32>.self)
                f &+= raw.load(fromByteOffset: offset + 320, as: SIMD16<UInt32>.self)
                g &+= raw.load(fromByteOffset: offset + 384, as: SIMD16<UInt32>.self)
                h &+= raw.load(fromByteOffset: offset + 448, as: SIMD16<UInt32>.self)
                offset += 512
            }
            sink &+= a &+ b &+ c &+ d &+ e &+ f &+ g &+ h
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
            best = max(best, Double(count * MemoryLayout<SIMD16<Float>>.stride) / seconds)
        }
        if sink.wrappedSum() == 1 { print("") }  // keeps the reads from being optimized away
        return best
    }
}
