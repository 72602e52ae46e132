import Foundation
import Testing
@testable import Inference

/// Random truncations and byte flips of the real model file: every one is either parsed or
/// refused with a typed error, and what parses is loaded or refused the same way. A crash here
/// is a crash a user's broken download could cause.
@Suite(.serialized) struct GGUFFuzzTests {
    @Test func truncationsAndByteFlipsNeverCrash() throws {
        let path = try TestResources.requireModel()
        let original = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        var bytes = [UInt8](original)
        let header = try bytes.withUnsafeBytes { try GGUFFile(bytes: $0, owner: nil).dataStart }
        #expect(header > 1000 && header < bytes.count)
        var rng = SeededGenerator(seed: 2026)
        var parsed = 0, refused = 0, loaded = 0
        let cases = 2000
        for index in 0..<cases {
            var length = bytes.count
            var flips: [(Int, UInt8)] = []
            if index % 4 == 0 {
                length = Int.random(in: 0..<header, using: &rng)
            } else {
                for _ in 0..<Int.random(in: 1...8, using: &rng) {
                    // Half the flips in the first 4 KB (magic, counts, key lengths, types), half anywhere in the header.
                    let at = Bool.random(using: &rng) ? Int.random(in: 0..<4096, using: &rng) : Int.random(in: 0..<header, using: &rng)
                    flips.append((at, bytes[at]))
                    bytes[at] ^= UInt8.random(in: 1...255, using: &rng)
                }
            }
            bytes.withUnsafeBytes { raw in
                do {
                    let file = try GGUFFile(bytes: UnsafeRawBufferPointer(start: raw.baseAddress, count: length), owner: nil)
                    parsed += 1
                    if (try? Tokenizer(gguf: file)) != nil, (try? LlamaModel(file: file, threads: 1)) != nil { loaded += 1 }
                } catch {
                    refused += 1
                    #expect(!"\(error)".isEmpty)
                }
            }
            for (at, value) in flips.reversed() { bytes[at] = value }
        }
        print("GGUF fuzz: \(cases) cases, \(refused) refused with a typed error, \(parsed) parsed (\(loaded) of them loaded)")
        #expect(parsed + refused == cases)
        #expect(refused > cases / 4)  // every truncation is refused, at least
    }
}
