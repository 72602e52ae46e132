/// Why no plan could be made; `description` tells the operator what to change.
public enum PlacementError: Error, Sendable, Hashable, CustomStringConvertible {
    case invalidModel(reason: String)
    case invalidPolicy(reason: String)
    case invalidView(reason: String)
    case unknownModel(String)
    case noAliveNodes
    /// Nodes are alive but none has the model on disk.
    case modelNotOnAnyNode(String)
    /// `minNodes` asks for more nodes than are alive and hold the model.
    case notEnoughNodes(required: Int, available: Int)
    /// The model, headroom included, needs `neededBytes`; the `nodes` largest eligible nodes offer
    /// `usableBytes`. `shortByBytes` is the least memory that must be added (layers do not split across
    /// nodes, so it can be positive even when `usableBytes` exceeds `neededBytes`).
    case doesNotFit(model: String, neededBytes: UInt64, usableBytes: UInt64, nodes: Int, shortByBytes: UInt64)

    public var description: String {
        switch self {
        case .invalidModel(let reason): "invalid model: \(reason)"
        case .invalidPolicy(let reason): "invalid placement policy: \(reason)"
        case .invalidView(let reason): "invalid cluster view: \(reason)"
        case .unknownModel(let id): "model \(id) is not described on any node; add its GGUF file to a node's models directory"
        case .noAliveNodes: "no node is alive to place the model on"
        case .modelNotOnAnyNode(let id): "no alive node has model \(id) on disk; copy its GGUF file to the nodes that should run it"
        case .notEnoughNodes(let required, let available):
            "minNodes is \(required) but only \(available) alive node(s) hold the model; start more nodes or lower minNodes"
        case .doesNotFit(let model, let needed, let usable, let nodes, let short):
            "model \(model) needs \(Self.format(needed)) with headroom but the \(nodes) largest eligible node(s) offer "
                + "\(Self.format(usable)): short by \(Self.format(short)); add nodes or memory, or raise maxNodes"
        }
    }

    static func format(_ bytes: UInt64) -> String {
        let mib = (bytes + (1 << 20) - 1) >> 20
        return mib >= 10 * 1024 ? "\(mib >> 10) GiB" : "\(mib) MiB"
    }
}
