import CAvahi
import Foundation

/// A DNS-SD service instance resolved to an IPv4 address, port and TXT record.
public struct AvahiService: Sendable, Equatable {
    public var name: String
    public var type: String
    public var interfaceName: String
    public var hostName: String
    public var address: String
    public var port: UInt16
    /// TXT `key=value` pairs; a key without `=` maps to "".
    public var txt: [String: String]
}

public enum AvahiBrowseEvent: Sendable, Equatable {
    case resolved(AvahiService)
    /// The instance `name` is gone from `interfaceName`.
    case removed(name: String, interfaceName: String)
    case failed(reason: String)
}

/// What a browser's and its resolvers' callbacks reach through `userdata`. Owned by `AvahiClient.State`
/// until the client is freed, so the pointer stays valid for every callback Avahi can still make.
final class BrowseContext {
    let continuation: AsyncStream<AvahiBrowseEvent>.Continuation
    let interfaces: Set<String>
    var browser: OpaquePointer?

    init(continuation: AsyncStream<AvahiBrowseEvent>.Continuation, interfaces: Set<String>) {
        self.continuation = continuation
        self.interfaces = interfaces
    }

    func allows(_ interfaceName: String) -> Bool { interfaces.isEmpty || interfaces.contains(interfaceName) }

    func finish() {
        browser = nil
        continuation.finish()
    }
}

extension AvahiClient {
    /// Browses and resolves `type` (IPv4) on all interfaces or only on `interfaces` (names such as "eth0").
    /// The stream ends when the client closes; a daemon failure arrives as `.failed`.
    public func browse(type: String, interfaces: Set<String> = []) throws(AvahiError) -> AsyncStream<AvahiBrowseEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: AvahiBrowseEvent.self)
        let context = BrowseContext(continuation: continuation, interfaces: interfaces)
        let outcome: Result<Void, AvahiError>? = withLock { state in
            guard let client = state.client else { return .failure(.closed) }
            let userdata = Unmanaged.passUnretained(context).toOpaque()
            guard let browser = avahi_service_browser_new(
                client, AvahiIfIndex(AVAHI_IF_UNSPEC), AvahiProtocol(AVAHI_PROTO_INET), type, nil, AvahiLookupFlags(rawValue: 0),
                AvahiClient.browserCallback, userdata)
            else {
                return .failure(.call("service browser for \(type)", reason: AvahiClient.message(for: avahi_client_errno(client))))
            }
            context.browser = browser
            state.browsers.append(context)
            return .success(())
        }
        switch outcome {
        case .none: continuation.finish(); throw .closed
        case .failure(let error)?: continuation.finish(); throw error
        case .success?: return stream
        }
    }

    private static let browserCallback: AvahiServiceBrowserCallback = { browser, interface, proto, event, name, type, domain, _, userdata in
        guard let userdata else { return }
        let context = Unmanaged<BrowseContext>.fromOpaque(userdata).takeUnretainedValue()
        switch event {
        case AVAHI_BROWSER_NEW:
            guard context.allows(interfaceName(interface)), let client = avahi_service_browser_get_client(browser) else { return }
            // The resolver frees itself in its callback; if the client closes first, avahi_client_free frees it.
            _ = avahi_service_resolver_new(client, interface, proto, name, type, domain, AvahiProtocol(AVAHI_PROTO_INET),
                                           AvahiLookupFlags(rawValue: 0), resolverCallback, userdata)
        case AVAHI_BROWSER_REMOVE:
            let ifName = interfaceName(interface)
            guard context.allows(ifName), let name else { return }
            context.continuation.yield(.removed(name: String(cString: name), interfaceName: ifName))
        case AVAHI_BROWSER_FAILURE:
            let client = avahi_service_browser_get_client(browser)
            context.continuation.yield(.failed(reason: client.map { message(for: avahi_client_errno($0)) } ?? "browser failed"))
        default:
            break // CACHE_EXHAUSTED, ALL_FOR_NOW: nothing to report
        }
    }

    private static let resolverCallback: AvahiServiceResolverCallback = {
        resolver, interface, _, event, name, type, _, hostName, address, port, txt, _, userdata in
        defer { if let resolver { avahi_service_resolver_free(resolver) } }
        guard event == AVAHI_RESOLVER_FOUND, let userdata, let name, let type, let address else { return }
        let context = Unmanaged<BrowseContext>.fromOpaque(userdata).takeUnretainedValue()
        var buffer = [CChar](repeating: 0, count: 64)
        avahi_address_snprint(&buffer, buffer.count, address)
        let service = AvahiService(
            name: String(cString: name),
            type: String(cString: type),
            interfaceName: interfaceName(interface),
            hostName: hostName.map { String(cString: $0) } ?? "",
            address: String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self),
            port: port,
            txt: parseTXT(txt))
        context.continuation.yield(.resolved(service))
    }

    static func interfaceName(_ index: AvahiIfIndex) -> String {
        var buffer = [CChar](repeating: 0, count: Int(IF_NAMESIZE) + 1)
        guard index >= 0, if_indextoname(UInt32(index), &buffer) != nil else { return "if\(index)" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Builds a libavahi string list of `entries` for the duration of `body`.
    static func withStringList<T>(_ entries: [String], _ body: (UnsafeMutablePointer<AvahiStringList>?) -> T) -> T {
        var list: UnsafeMutablePointer<AvahiStringList>? = nil
        for entry in entries { list = avahi_string_list_add(list, entry) }
        defer { avahi_string_list_free(list) }
        return body(list)
    }

    /// TXT entries are byte strings; anything not UTF-8 is replaced rather than trusted.
    static func parseTXT(_ list: UnsafeMutablePointer<AvahiStringList>?) -> [String: String] {
        var result: [String: String] = [:]
        var node = list
        while let current = node {
            if let text = avahi_string_list_get_text(current) {
                let entry = String(decoding: UnsafeBufferPointer(start: text, count: avahi_string_list_get_size(current)), as: UTF8.self)
                if let eq = entry.firstIndex(of: "=") {
                    result[String(entry[..<eq])] = String(entry[entry.index(after: eq)...])
                } else {
                    result[entry] = ""
                }
            }
            node = avahi_string_list_get_next(current)
        }
        return result
    }
}
