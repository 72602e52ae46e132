import Foundation
import Testing
@testable import Mesh

@Suite struct SodiumTests {
    @Test func signatureVerifiesAndAnyAlterationFails() throws {
        let (pk, sk) = try Sodium.generateSigningKeyPair()
        let message = Array("the exact bytes that travel".utf8)
        let signature = try Sodium.sign(message, secretKey: sk)
        #expect(signature.count == Sodium.signatureBytes)
        #expect(Sodium.verify(signature, of: message, publicKey: pk))

        var altered = message
        altered[0] ^= 1
        #expect(!Sodium.verify(signature, of: altered, publicKey: pk))
        let other = try Sodium.generateSigningKeyPair().publicKey
        #expect(!Sodium.verify(signature, of: message, publicKey: other))
    }

    @Test func malformedKeysAndSignaturesAreRejectedNotFatal() throws {
        let (pk, sk) = try Sodium.generateSigningKeyPair()
        #expect(!Sodium.verify([1, 2, 3], of: [1], publicKey: pk))
        #expect(!Sodium.verify([UInt8](repeating: 0, count: 64), of: [1], publicKey: [0]))
        #expect(throws: SodiumError.invalidKeyLength(expected: Sodium.secretKeyBytes, got: 3)) {
            try Sodium.sign([1], secretKey: [1, 2, 3])
        }
        #expect(try Sodium.publicKey(fromSecretKey: sk) == pk)
    }

    @Test func sealedBoxOpensOnlyWithTheSameKeyAndUnalteredBytes() throws {
        let key = Sodium.deriveKey(from: Array("network secret".utf8))
        let sealed = try Sodium.seal(Array("hello".utf8), key: key)
        #expect(try Sodium.open(sealed, key: key) == Array("hello".utf8))

        var tampered = sealed
        tampered[tampered.count - 1] ^= 0x80
        #expect(throws: SodiumError.decryptionFailed) { try Sodium.open(tampered, key: key) }
        #expect(throws: SodiumError.decryptionFailed) { try Sodium.open(sealed, key: Sodium.deriveKey(from: [1])) }
        #expect(throws: SodiumError.decryptionFailed) { try Sodium.open([1, 2, 3], key: key) }
    }

    @Test func sha256OfAFileMatchesTheKnownDigest() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sha-\(UUID().uuidString)")
        try Data("abc".utf8).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        #expect(try Sodium.sha256(fileAt: url.path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}
