import Foundation

/// Why an identity could not be loaded or created, with what to do about it.
public enum IdentityError: Error, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case corrupt(path: String)
    case unwritable(path: String, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): "cannot read identity at \(path): \(reason)"
        case .corrupt(let path): "identity file \(path) is corrupt; move it away to create a new identity (the node gets a new id)"
        case .unwritable(let path, let reason): "cannot write \(path): \(reason); check EXO_HOME permissions"
        }
    }
}

/// A node's Ed25519 key pair and its restart epoch, kept in `$EXO_HOME`.
public struct NodeIdentity: Sendable {
    public let id: NodeID
    public let publicKey: [UInt8]
    let secretKey: [UInt8]
    /// `max(stored epoch + 1, unix seconds)`, persisted at load: a restarted node's records beat its old ones.
    public let epoch: UInt64

    public init(secretKey: [UInt8], epoch: UInt64) throws(SodiumError) {
        self.publicKey = try Sodium.publicKey(fromSecretKey: secretKey)
        self.secretKey = secretKey
        self.id = NodeID(publicKey: publicKey)
        self.epoch = epoch
    }

    /// A fresh in-memory identity (tests, simulations).
    public static func ephemeral(epoch: UInt64 = 1) throws(SodiumError) -> NodeIdentity {
        try NodeIdentity(secretKey: Sodium.generateSigningKeyPair().secretKey, epoch: epoch)
    }

    public func sign<Message: ContiguousBytes>(_ message: Message) throws(SodiumError) -> [UInt8] {
        try Sodium.sign(message, secretKey: secretKey)
    }

    /// Loads `home/identity` (creating it, mode 0600, on first start) and bumps the epoch in `home/epoch`.
    public static func loadOrCreate(home: URL, now: Date = Date()) throws -> NodeIdentity {
        let fm = FileManager.default
        do {
            try fm.createDirectory(at: home, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw IdentityError.unwritable(path: home.path, reason: "\(error)")
        }
        let keyURL = home.appendingPathComponent("identity")
        let secretKey: [UInt8]
        if fm.fileExists(atPath: keyURL.path) {
            let data: Data
            do { data = try Data(contentsOf: keyURL) } catch { throw IdentityError.unreadable(path: keyURL.path, reason: "\(error)") }
            guard data.count == Sodium.secretKeyBytes else { throw IdentityError.corrupt(path: keyURL.path) }
            secretKey = [UInt8](data)
        } else {
            secretKey = try Sodium.generateSigningKeyPair().secretKey
            try writeAtomically(Data(secretKey), to: keyURL, mode: 0o600)
        }

        let epochURL = home.appendingPathComponent("epoch")
        let stored = (try? String(contentsOf: epochURL, encoding: .utf8)).flatMap { UInt64($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 0
        let epoch = max(stored + 1, UInt64(max(0, now.timeIntervalSince1970)))
        try writeAtomically(Data("\(epoch)\n".utf8), to: epochURL, mode: 0o600)
        return try NodeIdentity(secretKey: secretKey, epoch: epoch)
    }

    private static func writeAtomically(_ data: Data, to url: URL, mode: Int) throws {
        let tmp = url.appendingPathExtension("tmp")
        do {
            guard FileManager.default.createFile(atPath: tmp.path, contents: data, attributes: [.posixPermissions: mode]) else {
                throw CocoaError(.fileWriteUnknown)
            }
            // rename(2) replaces the old file atomically, so a crash never leaves a half-written key.
            guard rename(tmp.path, url.path) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        } catch {
            throw IdentityError.unwritable(path: url.path, reason: "\(error)")
        }
    }
}
