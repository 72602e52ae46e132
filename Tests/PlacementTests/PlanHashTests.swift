import Foundation
import Testing
@testable import Placement

@Suite("plan hash")
struct PlanHashTests {
    let plan = Plan(model: "smollm2-135m", ranks: [
        .init(node: "a1b2", layerStart: 0, layerEnd: 20),
        .init(node: "c3d4", layerStart: 20, layerEnd: 30),
    ])

    @Test("FNV-1a 64 matches the published test vectors")
    func fnvVectors() {
        for (input, expected) in [("", 0xcbf2_9ce4_8422_2325), ("a", 0xaf63_dc4c_8601_ec8c), ("foobar", 0x8594_4171_f739_67e8)] as [(String, UInt64)] {
            var hasher = FNV1a64()
            hasher.combine(bytes: input.utf8)
            #expect(hasher.value == expected, "\(input)")
        }
    }

    @Test("the hash is FNV-1a over version, model, rank count, then each node and its bounds, little-endian")
    func canonicalEncoding() {
        func word(_ value: Int) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: UInt64(value) >> (8 * UInt64($0))) } }
        func string(_ s: String) -> [UInt8] { word(s.utf8.count) + Array(s.utf8) }
        let bytes: [UInt8] = [1] + string("smollm2-135m") + word(2)
            + string("a1b2") + word(0) + word(20) + string("c3d4") + word(20) + word(30)
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        #expect(plan.hash.rawValue == hash)
    }

    @Test("any change to the model, a node, a bound or the order changes the hash")
    func sensitivity() {
        var variants: [Plan] = []
        var p = plan
        p.model = "smollm2-135n"; variants.append(p)
        p = plan; p.ranks[1].node = "c3d5"; variants.append(p)
        p = plan; p.ranks[0].layerEnd = 19; p.ranks[1].layerStart = 19; variants.append(p)
        p = plan; p.ranks.reverse(); variants.append(p)
        p = plan; p.ranks[0].node = "a1"; p.ranks[1].node = "b2c3d4"; variants.append(p)
        let hashes = Set(([plan] + variants).map(\.hash))
        #expect(hashes.count == variants.count + 1)
    }

    @Test("written as 16 hex digits and read back, in JSON a string")
    func hexForm() throws {
        let hash = PlanHash(rawValue: 0x00ab_cdef_0123_4567)
        #expect(hash.description == "00abcdef01234567")
        #expect(PlanHash(hex: hash.description) == hash)
        #expect(PlanHash(hex: "abc") == nil)
        #expect(PlanHash(hex: "zzzzzzzzzzzzzzzz") == nil)
        #expect(PlanHash(hex: "+0abcdef01234567") == nil)
        #expect(PlanHash(hex: "00ABCDEF01234567") == hash)
        let json = try JSONEncoder().encode([hash])
        #expect(String(decoding: json, as: UTF8.self) == "[\"00abcdef01234567\"]")
        #expect(try JSONDecoder().decode([PlanHash].self, from: json) == [hash])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([PlanHash].self, from: Data("[\"12\"]".utf8)) }
    }

    @Test("a plan survives a JSON round trip with its hash")
    func planRoundTrip() throws {
        let decoded = try JSONDecoder().decode(Plan.self, from: JSONEncoder().encode(plan))
        #expect(decoded == plan)
        #expect(decoded.hash == plan.hash)
    }
}
