import Foundation
import Inference
import Logging
import Mesh
import Testing
@testable import exo_peer

/// A manifest over `bytes` with pieces of `chunkBytes` (BLAKE2b-256 each, SHA-256 of the whole).
private func manifest(of bytes: [UInt8], chunkBytes: Int) -> ModelManifest {
    let chunks = stride(from: 0, to: bytes.count, by: chunkBytes).map { Sodium.blake2b(Array(bytes[$0..<min($0 + chunkBytes, bytes.count)])) }
    return ModelManifest(sha256: Sodium.sha256(bytes), sizeBytes: UInt64(bytes.count), chunkBytes: chunkBytes, chunks: chunks)
}

private func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var state = seed
    return (0..<count).map { _ in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return UInt8(truncatingIfNeeded: state >> 33)
    }
}

@Suite struct ModelManifestTests {
    @Test func piecesRangesAndTheRootDescribeTheFile() {
        let bytes = randomBytes(10_000, seed: 1)
        let m = manifest(of: bytes, chunkBytes: 4096)
        #expect(m.chunkCount == 3)
        #expect(m.range(ofChunk: 2) == 8192..<10_000)
        #expect(m.chunks(covering: 4095..<4097) == 0..<2)
        #expect(m.chunks(covering: 9000..<20_000) == 2..<3)
        #expect(m.chunks(covering: 5..<5).isEmpty)
        #expect(m.invalidity(sha256: m.sha256, sizeBytes: 10_000, root: m.root) == nil)
    }

    @Test func aFileHashedInOneReadGivesTheWholeSHA256AndEachPiecesBLAKE2b() throws {
        let bytes = randomBytes(10_000, seed: 5)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("digests-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        let digests = try Sodium.digests(fileAt: path, chunkSize: 4096)
        let expected = manifest(of: bytes, chunkBytes: 4096)
        #expect(digests.sha256 == expected.sha256 && digests.pieces == expected.chunks)
        // Fed piece by piece, the stream gives the same SHA-256 as the whole.
        let stream = SHA256Stream()
        for start in stride(from: 0, to: bytes.count, by: 4096) { stream.update(Array(bytes[start..<min(start + 4096, bytes.count)])) }
        #expect(stream.finish() == Sodium.sha256(bytes))
        #expect(Sodium.blake2b(bytes) != Sodium.sha256(bytes))
    }

    @Test func aManifestThatDoesNotMatchTheAdvertisedFileIsRefusedWithTheReason() throws {
        let m = manifest(of: randomBytes(10_000, seed: 2), chunkBytes: 4096)
        #expect(m.invalidity(sha256: String(repeating: "0", count: 64), sizeBytes: 10_000, root: m.root)?.contains("describes file") == true)
        #expect(m.invalidity(sha256: m.sha256, sizeBytes: 9_999, root: m.root)?.contains("bytes") == true)
        var swapped = m
        swapped.chunks.swapAt(0, 1)
        #expect(swapped.invalidity(sha256: m.sha256, sizeBytes: 10_000, root: m.root)?.contains("root") == true)
        var short = m
        short.chunks.removeLast()
        #expect(short.invalidity(sha256: m.sha256, sizeBytes: 10_000, root: m.root)?.contains("pieces") == true)
        var garbage = m
        garbage.chunks[1] = "zz"
        #expect(garbage.invalidity(sha256: m.sha256, sizeBytes: 10_000, root: m.root)?.contains("hex") == true)
        var tiny = m
        tiny.chunkBytes = 1
        #expect(tiny.invalidity(sha256: m.sha256, sizeBytes: 10_000, root: m.root)?.contains("piece size") == true)
    }
}

@Suite struct TransferScheduleTests {
    @Test func prioritizedPiecesGoFirstSpreadOverTheSourcesWithinThePerPeerLimit() {
        var s = TransferSchedule(chunkCount: 10, perPeerLimit: 2)
        s.setSources(["a", "b"])
        s.prioritize([7, 3])
        let first = s.nextRequests(limit: 10)
        #expect(first.map(\.chunk) == [3, 7, 0, 1])
        #expect(Dictionary(grouping: first, by: \.peer).mapValues(\.count) == ["a": 2, "b": 2])
        s.sent(first, at: 0)
        #expect(s.nextRequests(limit: 10).isEmpty, "both peers are at their limit")
        for request in first { #expect(s.arrived(chunk: request.chunk, from: request.peer, valid: true) == .write); s.stored(chunk: request.chunk) }
        #expect(s.prioritySatisfied)
        #expect(s.haveCount == 4 && !s.isComplete)
    }

    @Test func aCorruptPieceDropsItsSenderAndIsAskedOfAnotherPeer() {
        var s = TransferSchedule(chunkCount: 2, perPeerLimit: 1)
        s.setSources(["good", "bad"])
        let requests = s.nextRequests(limit: 2)
        s.sent(requests, at: 0)
        let fromBad = try! #require(requests.first { $0.peer == "bad" })
        #expect(s.arrived(chunk: fromBad.chunk, from: "bad", valid: false) == .corrupt)
        #expect(s.banned == ["bad"] && s.sources == ["good"])
        let fromGood = try! #require(requests.first { $0.peer == "good" })
        #expect(s.arrived(chunk: fromGood.chunk, from: "good", valid: true) == .write)
        s.stored(chunk: fromGood.chunk)
        let again = s.nextRequests(limit: 2)
        #expect(again == [.init(chunk: fromBad.chunk, peer: "good")])
        s.setSources(["good", "bad"])
        #expect(s.sources == ["good"], "a banned peer stays out when the sources are refreshed")
        // A piece from a peer never asked for it is not taken.
        #expect(s.arrived(chunk: fromBad.chunk, from: "stranger", valid: true) == .unsolicited)
    }

    @Test func aRefusedOrTimedOutPieceGoesToAnotherPeerAndALateAnswerIsStillUsed() {
        var s = TransferSchedule(chunkCount: 1, perPeerLimit: 1, requestTimeout: 5)
        s.setSources(["a", "b"])
        let first = s.nextRequests(limit: 1)
        s.sent(first, at: 0)
        #expect(s.expire(now: 4).isEmpty)
        #expect(s.expire(now: 5) == first)
        let second = s.nextRequests(limit: 1)
        #expect(second.count == 1 && second[0].peer != first[0].peer, "the peer that timed out is not asked first")
        s.sent(second, at: 5)
        // The slow peer answers after all: verified, so it is written, and the other answer is a duplicate.
        #expect(s.arrived(chunk: 0, from: first[0].peer, valid: true) == .write)
        s.stored(chunk: 0)
        #expect(s.arrived(chunk: 0, from: second[0].peer, valid: true) == .duplicate)
        #expect(s.isComplete)
        // With one source left that failed a piece, it is asked again rather than never.
        var t = TransferSchedule(chunkCount: 1, perPeerLimit: 1)
        t.setSources(["only"])
        let r = t.nextRequests(limit: 1)
        t.sent(r, at: 0)
        t.refused(chunk: 0, by: "only")
        #expect(t.nextRequests(limit: 1) == r)
    }

    @Test func aResumedScheduleAsksOnlyForWhatIsMissingAndLosingASourceFreesItsPieces() {
        var s = TransferSchedule(chunkCount: 4, have: [true, false, true, false], perPeerLimit: 4)
        #expect(s.haveCount == 2 && s.heldPrefix == 1)
        s.setSources(["a"])
        let requests = s.nextRequests(limit: 10)
        #expect(requests.map(\.chunk) == [1, 3])
        s.sent(requests, at: 0)
        s.setSources(["b"])
        #expect(s.outstanding == 0)
        #expect(s.nextRequests(limit: 10).map(\.peer) == ["b", "b"])
    }
}

@Suite struct TokenBucketTests {
    @Test func aBurstIsFreeAndTheRestIsPacedAtTheRate() {
        var bucket = TokenBucket(bytesPerSecond: 1000, burst: 500)
        #expect(bucket.take(500, now: 0) == 0)
        #expect(abs(bucket.take(1000, now: 0) - 1.0) < 1e-9, "1000 bytes of debt take a second at 1000 B/s")
        #expect(abs(bucket.take(500, now: 1.0) - 0.5) < 1e-9)
        var unlimited = TokenBucket(bytesPerSecond: 0, burst: 1)
        #expect(unlimited.take(1 << 30, now: 0) == 0)
    }
}

@Suite struct TransferMessageTests {
    @Test func messagesRoundTripAndBrokenFramesAreRefusedWithoutCrashing() throws {
        let chunk = TransferMessage.chunk(request: 9, sha256: "ab", chunk: 3)
        let bytes = try chunk.encoded(payload: [1, 2, 3])
        let decoded = try TransferMessage.decode(bytes)
        #expect(decoded.message == chunk && Array(decoded.payload) == [1, 2, 3])
        let request = try TransferMessage.chunkRequest(request: 1, sha256: "ab", chunk: 0).encoded()
        #expect(throws: TransferMessage.DecodeError.unexpectedPayload(1)) { try TransferMessage.decode(request + [0]) }
        for length in 0..<bytes.count - 3 {
            #expect(throws: TransferMessage.DecodeError.self) { try TransferMessage.decode(Array(bytes.prefix(length))) }
        }
        #expect(throws: TransferMessage.DecodeError.headerTooLarge(0x7fff_ffff)) { try TransferMessage.decode([0x7f, 0xff, 0xff, 0xff]) }
        #expect(throws: TransferMessage.DecodeError.self) { try TransferMessage.decode([0, 0, 0, 2, 0x7b, 0x7d]) }
    }
}

@Suite struct RankBytesTests {
    @Test func aRankNeedsTheHeaderTheSharedTensorsAndOnlyItsOwnBlocks() throws {
        let gguf = try GGUFFile(path: try PipelineFixtures.model())
        #expect(RankBytes.blockIndex("blk.12.attn_q.weight") == 12)
        #expect(RankBytes.blockIndex("blk.x.attn_q.weight") == nil && RankBytes.blockIndex("token_embd.weight") == nil)
        let ranges = RankBytes.ranges(of: gguf, layers: 10..<20)
        let total = ranges.reduce(UInt64(0)) { $0 + UInt64($1.count) }
        let blocks = gguf.tensors.filter { RankBytes.blockIndex($0.name).map { (10..<20).contains($0) } ?? false }
        let shared = gguf.tensors.filter { RankBytes.blockIndex($0.name) == nil }
        #expect(total == UInt64(gguf.dataStart) + UInt64((blocks + shared).reduce(0) { $0 + $1.byteCount }))
        #expect(ranges.first == 0..<UInt64(gguf.dataStart))
    }
}

@Suite struct PartialModelTests {
    @Test func writtenPiecesSurviveAReopenAndAPieceDamagedOnDiskIsDropped() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("partial-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        let bytes = randomBytes(20_000, seed: 3)
        let m = manifest(of: bytes, chunkBytes: 4096)
        do {
            let file = try PartialModel(directory: directory, model: "m", manifest: m)
            for i in [0, 2, 4] { try file.write(chunk: i, bytes: bytes[Int(m.range(ofChunk: i).lowerBound)..<Int(m.range(ofChunk: i).upperBound)]) }
            #expect(throws: TransferError.self) { try file.write(chunk: 1, bytes: [1, 2, 3]) }
        }
        #expect(PartialModel.savedManifest(directory: directory, sha256: m.sha256) == m)
        // Damage piece 2 on disk, as a crash mid-write or bit rot would.
        let handle = try FileHandle(forUpdating: directory.appendingPathComponent("\(m.sha256).gguf"))
        try handle.seek(toOffset: 8192 + 10)
        try handle.write(contentsOf: [0xff, 0xee])
        try handle.close()
        let reopened = try PartialModel(directory: directory, model: "m", manifest: m)
        #expect(reopened.held == [true, false, false, false, true])
        #expect(reopened.heldBytes == 4096 + UInt64(20_000 - 16_384))
    }
}

/// A fetcher and two serving nodes wired together in-process (no mesh): the file arrives whole and
/// verified, and a source that serves damaged pieces is caught and dropped.
@Suite struct FetchEndToEndTests {
    actor Wire {
        var fetcher: ModelFetcher?
        var servers: [NodeID: ModelServer] = [:]
        var corrupt: [(NodeID, Int)] = []
        func set(fetcher: ModelFetcher, servers: [NodeID: ModelServer]) { self.fetcher = fetcher; self.servers = servers }
        func noteCorrupt(_ peer: NodeID, _ chunk: Int) { corrupt.append((peer, chunk)) }
    }

    @Test func aFileIsFetchedFromTwoPeersOneOfWhichServesDamagedPieces() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("fetch-\(UUID())")
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let bytes = randomBytes(3 * 4096 * 4 + 100, seed: 4)
        let m = manifest(of: bytes, chunkBytes: 4096)
        let goodPath = root.appendingPathComponent("good.gguf").path
        let badPath = root.appendingPathComponent("bad.gguf").path
        FileManager.default.createFile(atPath: goodPath, contents: Data(bytes))
        var damaged = bytes
        for i in stride(from: 100, to: damaged.count, by: 4096) { damaged[i] ^= 0xff }
        FileManager.default.createFile(atPath: badPath, contents: Data(damaged))
        let good = try NodeIdentity.ephemeral().id, bad = try NodeIdentity.ephemeral().id, me = try NodeIdentity.ephemeral().id
        let modelsDirectory = root.appendingPathComponent("models")
        try FileManager.default.createDirectory(at: modelsDirectory, withIntermediateDirectories: true)

        let wire = Wire()
        let logger = Logger(label: "test")
        func server(path: String, id: NodeID) -> ModelServer {
            ModelServer(settings: .init(bytesPerSecond: 0), lookup: { $0 == m.sha256 ? (path, m) : nil }, send: { message, payload, _ in
                let encoded = try! message.encoded(payload: payload)
                let decoded = try! TransferMessage.decode(encoded)
                Task { await wire.fetcher?.receive(decoded.message, payload: decoded.payload, from: id) }
                return true
            }, logger: logger)
        }
        let servers = [good: server(path: goodPath, id: good), bad: server(path: badPath, id: bad)]
        let fetcher = ModelFetcher(
            settings: .init(modelsDirectory: modelsDirectory, bytesPerSecond: 0),
            hooks: .init(
                send: { message, peer in
                    guard let server = await wire.servers[peer] else { return false }
                    Task { await server.receive(message, from: me) }
                    return true
                },
                completed: { _, _, _ in }, corrupt: { peer, _, chunk in await wire.noteCorrupt(peer, chunk) }, progress: { _ in }
            ),
            logger: logger
        )
        await wire.set(fetcher: fetcher, servers: servers)
        let request = FetchRequest(model: "m", sha256: m.sha256, sizeBytes: m.sizeBytes, chunkRoot: m.root, layers: [0..<1], sources: [good, bad])
        var status = await fetcher.ensure(request)
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if case .complete = status { break }
            try await Task.sleep(for: .milliseconds(20))
            await fetcher.tick()
            status = await fetcher.ensure(request)
        }
        let path = modelsDirectory.appendingPathComponent("m.gguf").path
        #expect(status == .complete(path: path))
        #expect(try Sodium.sha256(fileAt: path) == m.sha256)
        let corrupt = await wire.corrupt
        #expect(!corrupt.isEmpty && corrupt.allSatisfy { $0.0 == bad }, "the damaged pieces came from the bad peer only, and were caught")
        #expect(!FileManager.default.fileExists(atPath: PartialModel.directory(in: modelsDirectory).appendingPathComponent("\(m.sha256).json").path))
    }
}
