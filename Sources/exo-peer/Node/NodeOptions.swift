import ArgumentParser
import Foundation
import Logging
import Mesh

/// Command-line options of a node; every one has a default, so `exo-peer` alone starts a node.
struct NodeOptions: ParsableArguments {
    @Option(help: "State directory (identity, epoch, models). Default: $EXO_HOME or ~/.exo-peer.")
    var home: String?

    @Option(help: "Directory of GGUF models. Default: <home>/models.")
    var models: String?

    @Option(help: "Address the HTTP API binds to.")
    var host: String = "0.0.0.0"

    @Option(help: "HTTP API port.")
    var port: Int = 52415

    @Option(name: .customLong("mesh-port"), help: "Mesh (peer-to-peer) TCP port.")
    var meshPort: Int = 52416

    @Option(name: .customLong("peer"), help: "A peer's mesh address host:port to dial, in addition to mDNS discovery (repeatable).")
    var peers: [String] = []

    @Option(name: .customLong("interface"), help: "Only discover and announce on this network interface (repeatable). Default: all.")
    var interfaces: [String] = []

    @Flag(name: .customLong("no-mdns"), help: "Do not use Avahi/mDNS; rely on --peer and gossip-learned addresses.")
    var noMDNS = false

    @Option(name: .customLong("network-key"), help: "File with a shared secret; peers without it are refused and traffic is encrypted (or set EXO_NETWORK_KEY).")
    var networkKey: String?

    @Option(name: .customLong("api-key"), help: "Require 'Authorization: Bearer KEY' on every endpoint but /health (or set EXO_API_KEY).")
    var apiKey: String?

    @Option(help: "Threads for inference. Default: all cores.")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(name: .customLong("max-memory"), help: "MiB of memory placement may give this node's ranks (default: 80 % of the machine's memory).")
    var maxMemory: UInt64?

    @Option(name: .customLong("transfer-rate"), help: "MB/s this node may spend fetching models from peers, and again serving them (0: no limit).")
    var transferRate: Double = 100

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    func configuration() throws -> NodeConfiguration {
        let env = ProcessInfo.processInfo.environment
        let home = URL(fileURLWithPath: home ?? env["EXO_HOME"] ?? (NSHomeDirectory() + "/.exo-peer"))
        guard (1...65535).contains(port) else { throw ValidationError("--port must be 1…65535, got \(port)") }
        guard (1...65535).contains(meshPort) else { throw ValidationError("--mesh-port must be 1…65535, got \(meshPort)") }
        guard (1...512).contains(threads) else { throw ValidationError("--threads must be 1…512, got \(threads)") }
        guard transferRate.isFinite, transferRate >= 0 else { throw ValidationError("--transfer-rate must be a number of MB/s, 0 or more") }
        guard let level = Logger.Level(rawValue: logLevel.lowercased()) else {
            throw ValidationError("--log-level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return NodeConfiguration(
            home: home,
            modelsDirectory: models.map { URL(fileURLWithPath: $0) } ?? home.appendingPathComponent("models"),
            apiHost: host,
            apiPort: port,
            meshPort: meshPort,
            logLevel: level,
            apiKey: apiKey ?? env["EXO_API_KEY"],
            staticPeers: try peers.map { text in
                guard let address = PeerAddress(text) else { throw ValidationError("--peer '\(text)' must be host:port with a port 1…65535") }
                return address
            },
            interfaces: interfaces,
            useMDNS: !noMDNS,
            networkKeyFile: (networkKey ?? env["EXO_NETWORK_KEY"]).map { URL(fileURLWithPath: $0) },
            threads: threads,
            memoryLimitBytes: maxMemory.map { $0.multipliedReportingOverflow(by: 1 << 20).overflow ? UInt64.max : $0 << 20 },
            transferBytesPerSecond: transferRate * 1e6
        )
    }
}

/// Everything a node needs to start, resolved from options and environment.
struct NodeConfiguration: Sendable {
    var home: URL
    var modelsDirectory: URL
    var apiHost: String
    var apiPort: Int
    var meshPort: Int
    var logLevel: Logger.Level
    var apiKey: String? = nil
    var staticPeers: [PeerAddress] = []
    var interfaces: [String] = []
    var useMDNS = true
    var networkKeyFile: URL? = nil
    var threads = ProcessInfo.processInfo.activeProcessorCount
    /// Memory placement may count on at this node (`--max-memory`); nil: 80 % of the machine's.
    var memoryLimitBytes: UInt64? = nil
    /// Pace of model transfers, each way (`--transfer-rate`); 0: no limit.
    var transferBytesPerSecond: Double = 100e6
    /// The program started as `runner` for each rank: this build's own executable.
    var runnerExecutable = RunnerProcess.ownExecutable
}
