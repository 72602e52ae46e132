import Testing
@testable import Inference

/// The scalar dequantizers on hand-built blocks whose values follow from the format definitions.
struct DequantizeTests {
    static func half(_ x: Float) -> [UInt8] { let b = Float16(x).bitPattern; return [UInt8(b & 0xFF), UInt8(b >> 8)] }

    static func dequantize(_ type: GGMLType, _ bytes: [UInt8], count: Int) throws -> [Float] {
        var out = [Float](repeating: .nan, count: count)
        try bytes.withUnsafeBytes { raw in
            try out.withUnsafeMutableBufferPointer { try Dequantize.row(type, from: raw.baseAddress!, count: count, into: $0.baseAddress!) }
        }
        return out
    }

    @Test func halfAndBFloat16() throws {
        #expect(try Self.dequantize(.f16, Self.half(1) + Self.half(-2.5), count: 2) == [1, -2.5])
        #expect(try Self.dequantize(.bf16, [0x80, 0x3F, 0x40, 0xC0], count: 2) == [1, -3])
    }

    @Test func q8_0() throws {
        let block: [UInt8] = Self.half(0.5) + (0..<32).map { (j: Int) -> UInt8 in UInt8(bitPattern: Int8(j - 16)) }
        let expected: [Float] = (0..<32).map { (j: Int) -> Float in 0.5 * Float(j - 16) }
        #expect(try Self.dequantize(.q8_0, block, count: 32) == expected)
    }

    @Test func q4_0AndQ4_1() throws {
        let nibbles: [UInt8] = (0..<16).map { (j: Int) -> UInt8 in UInt8(j) | UInt8(15 - j) << 4 }  // element j: j, element 16+j: 15-j
        let values: [Float] = (0..<16).map { Float($0) } + (0..<16).map { Float(15 - $0) }
        #expect(try Self.dequantize(.q4_0, Self.half(2) + nibbles, count: 32) == values.map { 2 * ($0 - 8) })
        #expect(try Self.dequantize(.q4_1, Self.half(0.25) + Self.half(-1) + nibbles, count: 32) == values.map { 0.25 * $0 - 1 })
    }

    @Test func q5_0AndQ5_1() throws {
        // The fifth bit of element j is bit j of qh: set for odd j.
        let qh: [UInt8] = [0xAA, 0xAA, 0xAA, 0xAA]
        let nibbles: [UInt8] = (0..<16).map { (j: Int) -> UInt8 in UInt8(j) | UInt8(15 - j) << 4 }
        let low: [Int] = Array(0..<16) + (0..<16).map { 15 - $0 }
        var q: [Float] = []
        for j in 0..<32 {
            let fifth = j % 2 == 1 ? 16 : 0
            q.append(Float(low[j] | fifth))
        }
        #expect(try Self.dequantize(.q5_0, Self.half(1) + qh + nibbles, count: 32) == q.map { $0 - 16 })
        #expect(try Self.dequantize(.q5_1, Self.half(0.5) + Self.half(3) + qh + nibbles, count: 32) == q.map { 0.5 * $0 + 3 })
    }

    /// Q4_K: 8 sub-blocks of 32 with 6-bit scales and mins; y = d·scale·q − dmin·min.
    @Test func q4_K() throws {
        let scales: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8], mins: [UInt8] = [0, 1, 2, 3, 4, 5, 6, 7]
        // Bytes 0–3: scales 0–3; 4–7: mins 0–3; 8–11: scale (low 4 bits) and min (high 4 bits) of sub-blocks 4–7.
        var packed = [UInt8](repeating: 0, count: 12)
        for j in 0..<4 { packed[j] = scales[j]; packed[j + 4] = mins[j]; packed[j + 8] = scales[j + 4] | mins[j + 4] << 4 }
        // 32 bytes per pair of sub-blocks: low nibbles are sub-block 2p, high nibbles 2p+1.
        let qs: [UInt8] = (0..<128).map { (i: Int) -> UInt8 in UInt8(i % 16) | UInt8((i + 5) % 16) << 4 }
        let block = Self.half(0.5) + Self.half(0.25) + packed + qs
        var expected: [Float] = []
        for sub in 0..<8 {
            let pair = sub / 2
            for i in 0..<32 {
                let byte = qs[pair * 32 + i]
                let q = sub % 2 == 0 ? byte & 0xF : byte >> 4
                expected.append(0.5 * Float(scales[sub]) * Float(q) - 0.25 * Float(mins[sub]))
            }
        }
        #expect(try Self.dequantize(.q4_K, block, count: 256) == expected)
    }

    /// Q6_K: y = d·scale·(q − 32), q from 4 low bits in ql and 2 high bits in qh.
    @Test func q6_K() throws {
        // All quants at their maximum (low nibbles 15, high bits 3): q = 63, so y = d·scale·31.
        let ql = [UInt8](repeating: 0xFF, count: 128), qh = [UInt8](repeating: 0xFF, count: 64)
        let scales: [UInt8] = (0..<16).map { (i: Int) -> UInt8 in UInt8(bitPattern: Int8(i - 8)) }
        let block = ql + qh + scales + Self.half(0.5)
        let values = try Self.dequantize(.q6_K, block, count: 256)
        // Element e of the 256 uses scale e / 16.
        let high: [Float] = (0..<256).map { (e: Int) -> Float in 0.5 * Float(e / 16 - 8) * 31 }
        #expect(values == high)
        // And all quants zero: q = 0, so y = d·scale·(−32).
        let zero = [UInt8](repeating: 0, count: 192) + scales + Self.half(0.5)
        let low: [Float] = (0..<256).map { (e: Int) -> Float in 0.5 * Float(e / 16 - 8) * -32 }
        #expect(try Self.dequantize(.q6_K, zero, count: 256) == low)
    }

    @Test func aCountThatIsNotAWholeNumberOfBlocksIsATypedError() {
        #expect(throws: Dequantize.Error.countNotMultipleOfBlock(count: 33, block: 32)) {
            _ = try Self.dequantize(.q8_0, [UInt8](repeating: 0, count: 68), count: 33)
        }
    }
}
