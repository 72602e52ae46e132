/// The models of the whole mesh, one row per model id: who holds it, whether the copies are the
/// same file, and whether an instance of it exists. Pure: built from the decoded documents.
struct MeshModel: Encodable, Sendable, Equatable {
    struct Holder: Encodable, Sendable, Equatable {
        var node: String
        var liveness: String
        var sizeBytes: UInt64
        var sha256: String
    }

    /// A node fetching the model from its holders, and how far it is.
    struct Fetcher: Encodable, Sendable, Equatable {
        var node: String
        var verifiedBytes: UInt64
        var sizeBytes: UInt64
        var ranksReady: Bool
        var percent: Int { sizeBytes == 0 ? 100 : Int(verifiedBytes * 100 / sizeBytes) }
    }

    var id: String
    var holders: [Holder]
    var fetchers: [Fetcher] = []
    var layerCount: Int?
    var architecture: String?
    /// Ids of the instances serving this model, as the asked node derives them.
    var instances: [String]
    /// In the asked node's `/v1/models`: a chat request may name it.
    var servable: Bool

    /// One size when every copy agrees (nil when they differ or nobody holds it).
    var sizeBytes: UInt64? { Set(holders.map(\.sizeBytes)).count == 1 ? holders.first?.sizeBytes : nil }
    /// One digest when every copy agrees; copies that differ under one name cannot share a pipeline.
    var sha256: String? { Set(holders.map(\.sha256)).count == 1 ? holders.first?.sha256 : nil }
    var copiesDiffer: Bool { Set(holders.map(\.sha256)).count > 1 }

    enum CodingKeys: String, CodingKey { case id, holders, fetchers, layerCount, architecture, instances, servable, sizeBytes, sha256, copiesDiffer }
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(holders, forKey: .holders)
        try c.encode(fetchers, forKey: .fetchers)
        try c.encodeIfPresent(layerCount, forKey: .layerCount)
        try c.encodeIfPresent(architecture, forKey: .architecture)
        try c.encode(instances, forKey: .instances)
        try c.encode(servable, forKey: .servable)
        try c.encodeIfPresent(sizeBytes, forKey: .sizeBytes)
        try c.encodeIfPresent(sha256, forKey: .sha256)
        try c.encode(copiesDiffer, forKey: .copiesDiffer)
    }
}

enum MeshModels {
    /// Every model some node's record lists or the asked node serves, sorted by id; holders in node id order.
    static func list(served: ModelListDocument, state: StateDocument, instances: InstancesDocument) -> [MeshModel] {
        var rows: [String: MeshModel] = [:]
        for member in state.members.sorted(by: { $0.id < $1.id }) {
            for model in member.record.models {
                var row = rows[model.id] ?? MeshModel(id: model.id, holders: [], instances: [], servable: false)
                row.holders.append(.init(node: member.id, liveness: member.liveness, sizeBytes: model.sizeBytes, sha256: model.sha256))
                if let shape = model.shape, row.layerCount == nil {
                    row.layerCount = shape.layerCount
                    row.architecture = shape.architecture
                }
                rows[model.id] = row
            }
            for transfer in member.record.transfers ?? [] {
                rows[transfer.model, default: MeshModel(id: transfer.model, holders: [], instances: [], servable: false)].fetchers.append(
                    .init(node: member.id, verifiedBytes: transfer.verifiedBytes, sizeBytes: transfer.sizeBytes, ranksReady: transfer.ranksReady))
            }
        }
        for entry in served.data {
            rows[entry.id, default: MeshModel(id: entry.id, holders: [], instances: [], servable: false)].servable = true
        }
        for instance in instances.instances where rows[instance.model] != nil {
            rows[instance.model]?.instances.append(instance.id)
        }
        return rows.values.sorted { $0.id < $1.id }.map { row in
            var row = row
            row.instances.sort()
            return row
        }
    }

    /// Fixed-width table, one line per model.
    static func render(_ models: [MeshModel]) -> String {
        guard !models.isEmpty else { return "No models anywhere in the mesh: put a GGUF file in a node's models directory." }
        let header = ["MODEL", "LAYERS", "SIZE", "SHA256", "NODES", "INSTANCE", "SERVED"]
        let rows: [[String]] = models.map { m in
            let layers: String = m.layerCount.map { String($0) } ?? "-"
            let size: String = m.sizeBytes.map(megabytes) ?? (m.holders.isEmpty ? "-" : "differs")
            let digest: String = m.sha256.map { String($0.prefix(12)) } ?? (m.copiesDiffer ? "DIFFERS" : "-")
            let nodes: [String] = m.holders.map(holderName) + m.fetchers.map { "\($0.node.shortNodeID)(fetching \($0.percent)%)" }
            return [
                m.id, layers, size, digest,
                nodes.isEmpty ? "-" : nodes.joined(separator: ","),
                m.instances.isEmpty ? "-" : m.instances.joined(separator: ","),
                m.servable ? "yes" : "no",
            ]
        }
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            zip(cells, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces)
        }
        var lines = [line(header)] + rows.map(line)
        for m in models where m.copiesDiffer {
            let copies = m.holders.map { "\($0.node.shortNodeID) \($0.sha256.prefix(12))" }.joined(separator: ", ")
            lines.append("warning: nodes hold different files named \(m.id) (\(copies)); they cannot serve one instance together")
        }
        return lines.joined(separator: "\n")
    }

    private static func holderName(_ holder: MeshModel.Holder) -> String {
        holder.liveness == "alive" ? holder.node.shortNodeID : "\(holder.node.shortNodeID)(\(holder.liveness))"
    }

    private static func megabytes(_ bytes: UInt64) -> String {
        bytes >= 1_000_000_000 ? String(format: "%.2f GB", Double(bytes) / 1e9) : String(format: "%.1f MB", Double(bytes) / 1e6)
    }
}
