import Foundation
import Testing
@testable import Mesh

/// Points this process's system D-Bus at a socket that does not exist: no D-Bus, hence no Avahi daemon.
/// libdbus reads the address once per process, so every test in this process shares this one (tests that
/// need a real daemon run in child processes, see LabAvahiTests).
enum MissingSystemBus {
    private static let installed: Bool = {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("exo-peer-no-bus-\(getpid())/bus.sock").path
        setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=\(path)", 1)
        return true
    }()

    static func connect() -> AvahiConnection {
        _ = installed
        return AvahiClient.connect()
    }
}

@Suite struct AvahiClientTests {
    @Test func aMissingDaemonIsReportedAsAValueNotACrash() {
        // DBUS_SYSTEM_BUS_ADDRESS is set in this process before avahi_client_new really runs.
        let connection = MissingSystemBus.connect()
        guard case .unavailable(.daemonNotRunning(let reason)) = connection else {
            Issue.record("expected daemonNotRunning, got \(connection.status)")
            return
        }
        #expect(!reason.isEmpty)
        #expect(connection.status.description.contains("--peer"))
    }

    @Test func connectingTwiceWithoutADaemonStaysAValue() {
        for _ in 0..<3 {
            #expect(MissingSystemBus.connect().status != .running)
        }
    }

    @Test func txtEntriesRoundTripThroughALibavahiStringList() {
        let parsed = AvahiClient.withStringList(["id=abc", "api=52415", "flag", "v=1=x"]) { AvahiClient.parseTXT($0) }
        #expect(parsed == ["id": "abc", "api": "52415", "flag": "", "v": "1=x"])
    }

    @Test(arguments: [("exo-peer-ab12", "exo-peer-ab12 #2"), ("exo-peer-ab12 #2", "exo-peer-ab12 #3"), ("x #9", "x #10"), ("x #", "x # #2")])
    func aCollidingInstanceNameGetsTheNextAlternative(name: String, next: String) {
        #expect(alternativeServiceName(name) == next)
    }
}
