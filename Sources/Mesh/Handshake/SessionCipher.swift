import NIOCore

/// Encrypts frames after a handshake on a mesh with a network key. Each direction has its own key bound to
/// the handshake transcript (so both nonces), and each sealed frame carries a sequence number that must
/// count up by one: a frame replayed, reordered, dropped or reflected back fails to open.
public struct SessionCipher: Sendable {
    private let sendKey: [UInt8]
    private let receiveKey: [UInt8]
    private var sentCount: UInt64 = 0
    private var receivedCount: UInt64 = 0

    init(sendKey: [UInt8], receiveKey: [UInt8]) {
        self.sendKey = sendKey
        self.receiveKey = receiveKey
    }

    public mutating func seal(_ frame: Frame) throws(SessionError) -> Frame {
        var plain = ByteBuffer()
        plain.writeInteger(sentCount, endianness: .big)
        plain.writeInteger(frame.kind.rawValue)
        var payload = frame.payload
        plain.writeBuffer(&payload)
        do {
            let sealed = try Sodium.seal(Array(plain.readableBytesView), key: sendKey)
            sentCount += 1
            return Frame(kind: .sealed, bytes: sealed)
        } catch {
            throw .sealFailed("\(error)")
        }
    }

    public mutating func open(_ frame: Frame) throws(SessionError) -> Frame {
        guard frame.kind == .sealed else { throw .plaintextFrame(frame.kind) }
        let plain: [UInt8]
        do { plain = try Sodium.open(frame.bytes, key: receiveKey) } catch { throw .cannotOpen }
        var buffer = ByteBuffer(bytes: plain)
        guard let sequence = buffer.readInteger(endianness: .big, as: UInt64.self), let rawKind = buffer.readInteger(as: UInt8.self) else {
            throw .cannotOpen
        }
        guard sequence == receivedCount else { throw .outOfSequence(expected: receivedCount, got: sequence) }
        guard let kind = FrameKind(rawValue: rawKind), kind != .sealed else { throw .cannotOpen }
        receivedCount += 1
        return Frame(kind: kind, payload: buffer)
    }
}

public enum SessionError: Error, Equatable, CustomStringConvertible {
    case plaintextFrame(FrameKind)
    case cannotOpen
    case outOfSequence(expected: UInt64, got: UInt64)
    case sealFailed(String)

    public var description: String {
        switch self {
        case .plaintextFrame(let kind): "peer sent an unencrypted \(kind) frame on an encrypted session"
        case .cannotOpen: "an encrypted frame did not open: altered in transit or not from this session"
        case .outOfSequence(let expected, let got): "encrypted frame \(got) arrived when \(expected) was due: replayed or reordered"
        case .sealFailed(let reason): "could not encrypt a frame: \(reason)"
        }
    }
}
