import Dispatch

/// A STREAM-style read of a large buffer: the bandwidth one or more threads get from memory. Here,
/// in the natively compiled module, so the loop uses the same vector width as the kernels.
public enum MemoryBandwidth {
    /// Best bytes per second over `repeats` reads of a `bytes`-long buffer, split into one
    /// contiguous slice per thread (`threads` reading at once, as the decode kernels do).
    public static func measure(bytes: Int, repeats: Int, threads: Int = 1) -> Double {
        let threads = max(1, threads)
        let count = bytes / MemoryLayout<SIMD16<Float>>.stride / (8 * threads) * (8 * threads)
        let buffer = UnsafeMutablePointer<SIMD16<Float>>.allocate(capacity: count)
        defer { buffer.deallocate() }
        buffer.initialize(repeating: SIMD16(repeating: 1), count: count)
        let slice = count / threads * 64
        var best = 0.0
        for _ in 0..<max(2, repeats) {
            let start = DispatchTime.now()
            if threads == 1 {
                read(UnsafeRawPointer(buffer), bytes: slice)
            } else {
                let base = UInt(bitPattern: buffer)  // an address, so the concurrent closure captures no pointer
                DispatchQueue.concurrentPerform(iterations: threads) { t in
                    read(UnsafeRawPointer(bitPattern: base)! + t * slice, bytes: slice)
                }
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
            best = max(best, Double(count * MemoryLayout<SIMD16<Float>>.stride) / seconds)
        }
        return best
    }

    /// Sums `bytes` (a multiple of 512) at `raw` in eight independent streams.
    private static func read(_ raw: UnsafeRawPointer, bytes end: Int) {
        var a = SIMD16<UInt32>(), b = SIMD16<UInt32>(), c = SIMD16<UInt32>(), d = SIMD16<UInt32>()
        var e = SIMD16<UInt32>(), f = SIMD16<UInt32>(), g = SIMD16<UInt32>(), h = SIMD16<UInt32>()
        var offset = 0
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
        let sum = a &+ b &+ c &+ d &+ e &+ f &+ g &+ h
        if sum.wrappedSum() == 1 { print("") }  // keeps the reads from being optimized away
    }
}
