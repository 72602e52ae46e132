import Foundation
import Testing
@testable import Mesh

/// A namespace lab from `scripts/lab.sh`: hosts joined by a bridge, each with its own D-Bus and avahi-daemon.
/// D-Bus sockets are files, so this process can talk to each host's daemon while mDNS stays inside the lab.
struct Lab {
    let name: String
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/lab.sh").path
    static let stateRoot = ProcessInfo.processInfo.environment["EXO_LAB_STATE"] ?? "/tmp/exo-lab"

    /// Root, the lab script, and the daemons it needs; otherwise the suite is reported as skipped with the reason.
    static var available: Bool {
        getuid() == 0 && ["/usr/sbin/ip", "/usr/sbin/avahi-daemon", "/usr/bin/dbus-daemon"].allSatisfy {
            FileManager.default.isExecutableFile(atPath: $0)
        } && FileManager.default.fileExists(atPath: script)
    }

    static func up(hosts: Int) throws -> Lab {
        let lab = Lab(name: "ms\(getpid() % 10000)")
        try lab.run(["up", lab.name, "\(hosts)"])
        return lab
    }

    func down() { _ = try? run(["down", name]) }

    func systemBus(_ host: Int) -> String { "unix:path=\(Lab.stateRoot)/\(name)/host\(host)/bus.sock" }

    func ip(_ host: Int) throws -> String {
        // The script also prints progress on stderr (merged here); the address is the last line.
        try run(["ip", name, "\(host)"]).split(separator: "\n").last.map(String.init) ?? ""
    }

    /// Runs the lab script through posix_spawn and waitpid: Foundation's Process did not reap it here, and `up`
    /// leaves daemons holding inherited descriptors, so output goes to a file rather than a pipe.
    @discardableResult
    func run(_ arguments: [String]) throws -> String {
        let outPath = FileManager.default.temporaryDirectory.appendingPathComponent("lab-\(UUID().uuidString).out").path
        defer { unlink(outPath) }
        let argv = ["/bin/bash", "-c", "exec \"$0\" \"$@\" >'\(outPath)' 2>&1 </dev/null", Lab.script] + arguments
        var cArgs = argv.map { strdup($0) } + [nil]
        defer { for p in cArgs { free(p) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, "/bin/bash", nil, nil, &cArgs, environ) == 0 else {
            throw LabFailure(command: arguments.joined(separator: " "), status: -1)
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let output = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        // WIFEXITED and WEXITSTATUS, spelled out (the C macros are not imported).
        guard status & 0x7f == 0, (status >> 8) & 0xff == 0 else {
            throw LabFailure(command: arguments.joined(separator: " ") + ": " + output, status: status)
        }
        return output
    }

    struct LabFailure: Error { let command: String; let status: Int32 }
}

/// Starts this test binary again as a child process inside lab host `host`, running only `LabChild`.
func spawnLabChild(lab: Lab, host: Int, environment: [String: String], log: String) throws -> pid_t {
    let binary = CommandLine.arguments[0]
    let argv = ["/bin/bash", "-c", "exec \"$0\" \"$@\" >'\(log)' 2>&1 </dev/null", Lab.script, "exec", lab.name, "\(host)",
                binary, "--filter", "LabChild", "--testing-library", "swift-testing"]
    let env = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }.map { "\($0.key)=\($0.value)" }
    var cArgs = argv.map { strdup($0) } + [nil]
    var cEnv = env.map { strdup($0) } + [nil]
    defer { for p in cArgs + cEnv { free(p) } }
    var pid: pid_t = 0
    guard posix_spawn(&pid, "/bin/bash", nil, nil, &cArgs, &cEnv) == 0 else { throw Lab.LabFailure(command: "spawn child", status: -1) }
    return pid
}

/// Waits for `pid` up to `timeout` (then kills it); returns its exit status, or nil if it had to be killed.
func waitForChild(_ pid: pid_t, timeout: Duration) async -> Int32? {
    let deadline = ContinuousClock.now + timeout
    var status: Int32 = 0
    while ContinuousClock.now < deadline {
        if waitpid(pid, &status, WNOHANG) == pid { return status & 0x7f == 0 ? (status >> 8) & 0xff : -1 }
        try? await Task.sleep(for: .milliseconds(100))
    }
    kill(pid, SIGKILL)
    _ = waitpid(pid, &status, 0)
    return nil
}

@Suite(.serialized, .enabled(if: Lab.available, "needs root, iproute2, dbus-daemon and avahi-daemon (CI runs as root)"))
struct LabAvahiTests {
    /// Two processes in two network namespaces, each with its own Avahi daemon, find each other by mDNS only,
    /// open an authenticated mesh link across the bridge and exchange a frame.
    @Test(.timeLimit(.minutes(1)))
    func twoProcessesInTwoNamespacesDiscoverAndLinkThroughRealAvahi() async throws {
        let lab = try Lab.up(hosts: 2)
        defer { lab.down() }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("lab-mesh-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: work) }
        var ids: [NodeID] = []
        for host in 1...2 {
            ids.append(try NodeIdentity.loadOrCreate(home: work.appendingPathComponent("node\(host)")).id)
        }
        var pids: [pid_t] = []
        for host in 1...2 {
            let dir = work.appendingPathComponent("node\(host)").path
            pids.append(try spawnLabChild(lab: lab, host: host, environment: [
                "EXO_LAB_CHILD_HOME": dir,
                "EXO_LAB_CHILD_LISTEN": try lab.ip(host),
                "EXO_LAB_CHILD_EXPECT": ids[2 - host].hex,
            ], log: dir + "/child.log"))
        }
        for (index, pid) in pids.enumerated() {
            let status = await waitForChild(pid, timeout: .seconds(45))
            let dir = work.appendingPathComponent("node\(index + 1)").path
            let result = (try? String(contentsOfFile: dir + "/result", encoding: .utf8)) ?? ""
            let log = (try? String(contentsOfFile: dir + "/child.log", encoding: .utf8)) ?? ""
            #expect(status == 0, "child \(index + 1) failed:\n\(log.suffix(3000))")
            let peerHost = try lab.ip(2 - index)
            #expect(result.contains("found \(ids[1 - index].hex) \(peerHost)"), "result of child \(index + 1): \(result)")
            #expect(result.contains("linked \(ids[1 - index].hex)"), "result of child \(index + 1): \(result)")
            #expect(result.contains("frame hello from \(ids[1 - index].short)"), "result of child \(index + 1): \(result)")
        }
    }
}

/// The child side of `LabAvahiTests`: runs only when that test starts this binary inside a lab host.
@Suite struct LabChild {
    static let home = ProcessInfo.processInfo.environment["EXO_LAB_CHILD_HOME"]

    /// Appends a line for the parent to read (the file is the child's only report besides its exit status).
    static func append(_ line: String, to path: String) {
        if !FileManager.default.fileExists(atPath: path) { FileManager.default.createFile(atPath: path, contents: nil) }
        guard let handle = FileHandle(forWritingAtPath: path) else { return }
        handle.seekToEndOfFile()
        handle.write(Data((line + "\n").utf8))
        try? handle.close()
    }

    @Test(.enabled(if: LabChild.home != nil, "runs only as a child process of LabAvahiTests"))
    func discoverLinkAndExchangeAFrame() async throws {
        let env = ProcessInfo.processInfo.environment
        let home = try #require(LabChild.home)
        let listen = try #require(env["EXO_LAB_CHILD_LISTEN"])
        let expected = try #require(env["EXO_LAB_CHILD_EXPECT"].flatMap(NodeID.init(hex:)))
        let note: @Sendable (String) -> Void = { line in LabChild.append(line, to: home + "/result") }

        let identity = try NodeIdentity.loadOrCreate(home: URL(fileURLWithPath: home))
        let node = MeshNode(identity: identity, configuration: MeshConfiguration(host: listen, port: 52416))
        let port = try await node.start()
        let discovery = AvahiDiscovery(advertising: .init(id: identity.id, meshPort: port, apiPort: 52415), interfaces: ["eth0"])
        let events = await discovery.start()
        #expect(await discovery.status == .running)
        let (forNode, forNodeContinuation) = AsyncStream.makeStream(of: DiscoveryEvent.self)
        let following = Task { await node.follow(forNode) }
        let found = FoundFlag()
        let watching = Task {
            for await event in events {
                if case .found(let peer) = event, peer.id == expected {
                    note("found \(expected.hex) \(peer.host)")
                    found.set()
                }
                forNodeContinuation.yield(event)
            }
            forNodeContinuation.finish()
        }
        let frames = Task { () -> String? in
            for await inbound in node.inbound where inbound.peer == expected { return String(decoding: inbound.frame.bytes, as: UTF8.self) }
            return nil
        }
        await eventually("linked to \(expected.short)", timeout: .seconds(20)) { await node.peers[expected] != nil }
        if await node.peers[expected] != nil { note("linked \(expected.hex)") }
        try await node.send(Frame(kind: .gossip, bytes: Array("hello from \(identity.id.short)".utf8)), to: expected)
        let received = await withTaskGroup(of: String?.self) { group in
            group.addTask { await frames.value }
            group.addTask { try? await Task.sleep(for: .seconds(10)); return nil }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        if let received { note("frame \(received)") }
        #expect(received == "hello from \(expected.short)")
        // The peer may have dialed us before our own browse saw it: the test is about both, so wait for it.
        await eventually("found \(expected.short) through Avahi", timeout: .seconds(20)) { found.isSet }
        // Stay a moment so the peer's frame to us is not cut off by our exit.
        try await Task.sleep(for: .seconds(1))
        await discovery.stop()
        watching.cancel()
        await node.shutdown()
        following.cancel()
        frames.cancel()
    }
}

/// Set once by the discovery watcher, read by the test body.
final class FoundFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}
