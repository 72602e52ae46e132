import CAvahi
import Foundation

/// One published service: its entry group and what is needed to re-add it under another name on collision.
final class PublishContext {
    var group: OpaquePointer?
    var name: String
    let type: String
    let port: UInt16
    let txt: [String]
    let interfaceIndexes: [AvahiIfIndex]

    init(name: String, type: String, port: UInt16, txt: [String], interfaceIndexes: [AvahiIfIndex]) {
        self.name = name
        self.type = type
        self.port = port
        self.txt = txt
        self.interfaceIndexes = interfaceIndexes
    }

    /// Adds the service on each interface and commits; returns an Avahi error code (0 on success).
    func register() -> Int32 {
        guard let group else { return Int32(AVAHI_ERR_BAD_STATE) }
        return AvahiClient.withStringList(txt) { list in
            for index in interfaceIndexes {
                let rc = avahi_entry_group_add_service_strlst(group, index, AvahiProtocol(AVAHI_PROTO_INET), AvahiPublishFlags(rawValue: 0),
                                                              name, type, nil, nil, port, list)
                if rc < 0 { return rc }
            }
            return avahi_entry_group_commit(group)
        }
    }

    func release() { group = nil }
}

extension AvahiClient {
    /// Publishes `name` of `type` on `port` with TXT `key=value` entries, on all interfaces or only on `interfaces`.
    /// On a name collision the service is re-published under Avahi's alternative name. It stays until `close()`.
    public func publish(name: String, type: String, port: UInt16, txt: [String: String],
                        interfaces: Set<String> = []) throws(AvahiError) {
        var indexes: [AvahiIfIndex] = []
        for ifName in interfaces.sorted() {
            let index = if_nametoindex(ifName)
            guard index != 0 else { throw .call("publish on \(ifName)", reason: "no such interface") }
            indexes.append(AvahiIfIndex(index))
        }
        if indexes.isEmpty { indexes = [AvahiIfIndex(AVAHI_IF_UNSPEC)] }
        let context = PublishContext(name: name, type: type, port: port,
                                     txt: txt.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }, interfaceIndexes: indexes)
        let outcome: Result<Void, AvahiError>? = withLock { state in
            guard let client = state.client else { return .failure(.closed) }
            guard let group = avahi_entry_group_new(client, AvahiClient.groupCallback, Unmanaged.passUnretained(context).toOpaque()) else {
                return .failure(.call("entry group", reason: AvahiClient.message(for: avahi_client_errno(client))))
            }
            context.group = group
            state.groups.append(context)
            let rc = context.register()
            guard rc >= 0 else { return .failure(.call("publish \(type) on port \(port)", reason: AvahiClient.message(for: rc))) }
            return .success(())
        }
        switch outcome {
        case .none: throw .closed
        case .failure(let error)?: throw error
        case .success?: return
        }
    }

    private static let groupCallback: AvahiEntryGroupCallback = { group, groupState, userdata in
        guard let group, let userdata, groupState == AVAHI_ENTRY_GROUP_COLLISION else { return }
        let context = Unmanaged<PublishContext>.fromOpaque(userdata).takeUnretainedValue()
        // Another host uses our instance name: take the next alternative ("name #2") and publish again.
        context.name = alternativeServiceName(context.name)
        avahi_entry_group_reset(group)
        context.group = group
        _ = context.register()
    }
}

/// "name" → "name #2" → "name #3": the DNS-SD convention for resolving an instance-name collision.
func alternativeServiceName(_ name: String) -> String {
    if let hash = name.range(of: " #", options: .backwards), let n = Int(name[hash.upperBound...]), n >= 2 {
        return "\(name[..<hash.lowerBound]) #\(n + 1)"
    }
    return "\(name) #2"
}
