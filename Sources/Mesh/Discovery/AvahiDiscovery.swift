import Logging

/// Zero-config discovery over mDNS: publishes this node as `_exo-peer._tcp` with TXT `id=`, `api=`, `v=`,
/// and browses for the others. Without a daemon it logs one warning and its stream simply ends, so the
/// node carries on with static peers and gossip.
public actor AvahiDiscovery: Discovery {
    public struct Advertisement: Sendable {
        public var id: NodeID
        public var meshPort: Int
        public var apiPort: Int
        public var protocolVersion: UInt16

        public init(id: NodeID, meshPort: Int, apiPort: Int, protocolVersion: UInt16 = Handshake.protocolVersion) {
            self.id = id
            self.meshPort = meshPort
            self.apiPort = apiPort
            self.protocolVersion = protocolVersion
        }

        public var txt: [String: String] { ["id": id.hex, "api": "\(apiPort)", "v": "\(protocolVersion)"] }
        /// DNS-SD instance names must be unique per link; the id prefix makes them so.
        public var instanceName: String { "exo-peer-\(id.hex.prefix(16))" }
    }

    private let advertisement: Advertisement
    private let interfaces: Set<String>
    private let logger: Logger
    private let connect: @Sendable () -> AvahiConnection
    private var client: AvahiClient?
    private var forwarder: Task<Void, Never>?
    /// Last reported status, for `/health` or a doctor check.
    public private(set) var status: AvahiStatus?

    /// - Parameter interfaces: interface names to publish and browse on; empty means all.
    public init(advertising advertisement: Advertisement, interfaces: Set<String> = [], logger: Logger = Logger(label: "exo.discovery"),
                connect: @escaping @Sendable () -> AvahiConnection = { AvahiClient.connect() }) {
        self.advertisement = advertisement
        self.interfaces = interfaces
        self.logger = logger
        self.connect = connect
    }

    public func start() -> AsyncStream<DiscoveryEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: DiscoveryEvent.self)
        guard client == nil else {
            logger.warning("Avahi discovery started twice; the second stream is empty")
            continuation.finish()
            return stream
        }
        let connection = connect()
        status = connection.status
        guard case .connected(let client) = connection else {
            logger.warning("\(connection.status)")
            continuation.finish()
            return stream
        }
        self.client = client
        let browse: AsyncStream<AvahiBrowseEvent>
        do {
            try client.publish(name: advertisement.instanceName, type: MeshService.type, port: UInt16(clamping: advertisement.meshPort),
                               txt: advertisement.txt, interfaces: interfaces)
            browse = try client.browse(type: MeshService.type, interfaces: interfaces)
        } catch {
            logger.warning("mDNS discovery is off: \(error)")
            status = .failed(reason: "\(error)")
            client.close()
            self.client = nil
            continuation.finish()
            return stream
        }
        logger.info("mDNS: published \(MeshService.type) on port \(advertisement.meshPort)",
                    metadata: ["interfaces": "\(interfaces.isEmpty ? "all" : interfaces.sorted().joined(separator: ","))"])
        let ownID = advertisement.id
        let logger = self.logger
        forwarder = Task {
            var translator = AvahiEventTranslator(ownID: ownID)
            for await event in browse {
                if case .failed(let reason) = event { logger.warning("mDNS browsing failed: \(reason)") }
                for out in translator.translate(event) { continuation.yield(out) }
            }
            continuation.finish()
        }
        continuation.onTermination = { [weak client] _ in client?.close() }
        return stream
    }

    public func stop() async {
        client?.close()
        client = nil
        await forwarder?.value
        forwarder = nil
    }
}

/// Turns resolved DNS-SD services into discovery events (pure): reads the TXT record, skips our own
/// record and anything malformed, and remembers what each instance name meant so a removal can say who left.
struct AvahiEventTranslator {
    let ownID: NodeID
    private var byInstance: [String: DiscoveredPeer] = [:]

    init(ownID: NodeID) {
        self.ownID = ownID
    }

    mutating func translate(_ event: AvahiBrowseEvent) -> [DiscoveryEvent] {
        switch event {
        case .resolved(let service):
            guard let peer = Self.peer(from: service), peer.id != ownID else { return [] }
            let key = "\(service.interfaceName)/\(service.name)"
            let previous = byInstance.updateValue(peer, forKey: key)
            if previous == peer { return [] }
            return (previous.map { [.lost($0)] } ?? []) + [.found(peer)]
        case .removed(let name, let interfaceName):
            guard let peer = byInstance.removeValue(forKey: "\(interfaceName)/\(name)") else { return [] }
            return [.lost(peer)]
        case .failed:
            return []
        }
    }

    static func peer(from service: AvahiService) -> DiscoveredPeer? {
        guard let idText = service.txt["id"], let id = NodeID(hex: idText), service.port != 0 else { return nil }
        return DiscoveredPeer(id: id, host: service.address, meshPort: Int(service.port),
                              apiPort: service.txt["api"].flatMap { Int($0) },
                              protocolVersion: service.txt["v"].flatMap { UInt16($0) })
    }
}
