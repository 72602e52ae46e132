import ArgumentParser
import Foundation

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show the peers a node sees.")

    @Option(help: "The node to ask.")
    var node: String = "http://127.0.0.1:52415"

    @Flag(help: "Print the raw JSON of GET /peers.")
    var json = false

    func run() async throws {
        let data = try await NodeClient(base: node).get("/peers")
        if json {
            FileHandle.standardOutput.write(data)
            print()
            return
        }
        let response: PeersResponse
        do {
            response = try JSONDecoder().decode(PeersResponse.self, from: data)
        } catch {
            throw CommandFailure("\(node)/peers did not return a peer list: \(error)")
        }
        print(PeerTable.render(response.peers))
    }
}

/// Fixed-width table of peers, self first, then by id.
enum PeerTable {
    static func render(_ peers: [PeerSummary]) -> String {
        let header = ["ID", "ADDRESS", "LIVENESS", "LAST HEARD", "MEMORY (avail/total)", "CORES", "MODELS", "HEALTH"]
        let rows = peers.sorted { ($0.isSelf ? 0 : 1, $0.id) < ($1.isSelf ? 0 : 1, $1.id) }.map { p in
            [
                String(p.id.prefix(8)) + (p.isSelf ? "*" : ""),
                "\(p.address):\(p.apiPort)",
                p.liveness,
                p.lastHeardSeconds.map { String(format: "%.1fs ago", $0) } ?? "-",
                "\(gib(p.memoryAvailableBytes))/\(gib(p.memoryTotalBytes)) GiB",
                "\(p.cores)",
                p.models.isEmpty ? "-" : p.models.joined(separator: ","),
                String(format: "%.2f", p.healthScore),
            ]
        }
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            zip(cells, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces)
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }

    private static func gib(_ bytes: UInt64) -> String { String(format: "%.1f", Double(bytes) / 1_073_741_824) }
}
