import Foundation
import Testing
@testable import Mesh

@Suite struct NetworkKeyTests {
    @Test func aKeyFileLoadsAndTheSameBytesGiveTheSameKey() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("netkey-\(UUID().uuidString)").path
        defer { unlink(path) }
        let material = Sodium.randomBytes(32)
        FileManager.default.createFile(atPath: path, contents: Data(material))
        #expect(try NetworkKey.load(path: path) == NetworkKey(material: material))
        #expect(try NetworkKey.load(path: path) != NetworkKey(material: Sodium.randomBytes(32)))
    }

    @Test func aMissingOrShortKeyFileIsAnErrorThatSaysWhatToDo() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("netkey-\(UUID().uuidString)").path
        #expect(throws: NetworkKeyError.unreadable(path: path)) { try NetworkKey.load(path: path) }
        FileManager.default.createFile(atPath: path, contents: Data([1, 2, 3]))
        defer { unlink(path) }
        #expect(throws: NetworkKeyError.tooShort(path: path, bytes: 3)) { try NetworkKey.load(path: path) }
        #expect(NetworkKeyError.tooShort(path: path, bytes: 3).description.contains("/dev/urandom"))
    }
}
