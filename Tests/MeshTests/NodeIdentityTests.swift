import Foundation
import Testing
@testable import Mesh

@Suite struct NodeIdentityTests {
    private func freshHome() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("exo-identity-\(UUID().uuidString)")
    }

    @Test func aLoadedIdentitySignsWhatItsPublicKeyVerifies() throws {
        let home = freshHome()
        defer { try? FileManager.default.removeItem(at: home) }
        let identity = try NodeIdentity.loadOrCreate(home: home)
        let message = Array("hello mesh".utf8)
        let signature = try identity.sign(message)
        #expect(Sodium.verify(signature, of: message, publicKey: identity.id.publicKey))
        var tampered = signature
        tampered[10] ^= 0x01
        #expect(!Sodium.verify(tampered, of: message, publicKey: identity.id.publicKey))
        #expect(!Sodium.verify(signature, of: Array("hello mesk".utf8), publicKey: identity.id.publicKey))
    }

    @Test func theIdentityFileIsPrivateToItsOwner() throws {
        let home = freshHome()
        defer { try? FileManager.default.removeItem(at: home) }
        _ = try NodeIdentity.loadOrCreate(home: home)
        let attributes = try FileManager.default.attributesOfItem(atPath: home.appendingPathComponent("identity").path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
    }

    @Test func reloadingKeepsTheIdAndRaisesTheEpoch() throws {
        let home = freshHome()
        defer { try? FileManager.default.removeItem(at: home) }
        // A clock that stands still (or goes back) must still give a higher epoch on every start.
        let frozen = Date(timeIntervalSince1970: 1_000)
        let first = try NodeIdentity.loadOrCreate(home: home, now: frozen)
        let second = try NodeIdentity.loadOrCreate(home: home, now: frozen)
        let third = try NodeIdentity.loadOrCreate(home: home, now: Date(timeIntervalSince1970: 10))
        #expect(first.id == second.id && second.id == third.id)
        #expect(first.epoch < second.epoch && second.epoch < third.epoch)
        let later = try NodeIdentity.loadOrCreate(home: home, now: Date(timeIntervalSince1970: 2_000_000))
        #expect(later.epoch == 2_000_000)
    }

    @Test func aCorruptIdentityFileIsAnErrorThatSaysWhatToDo() throws {
        let home = freshHome()
        defer { try? FileManager.default.removeItem(at: home) }
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        try Data([1, 2, 3]).write(to: home.appendingPathComponent("identity"))
        do {
            _ = try NodeIdentity.loadOrCreate(home: home)
            Issue.record("a 3-byte identity file was accepted")
        } catch let error as IdentityError {
            guard case .corrupt = error else { Issue.record("unexpected \(error)"); return }
            #expect(error.description.contains("move it away"))
        }
    }

    @Test func nodeIDParsesOnlyFullHexKeys() throws {
        let identity = try NodeIdentity.ephemeral()
        #expect(NodeID(hex: identity.id.hex.uppercased()) == identity.id)
        #expect(NodeID(hex: String(identity.id.hex.dropLast())) == nil)
        #expect(NodeID(hex: String(repeating: "g", count: 64)) == nil)
        #expect(identity.id.short.count == 8)
    }
}
