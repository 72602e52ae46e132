#if canImport(Glibc)
import Glibc
#endif

/// The machine's IPv4 addresses that peers can dial, for the node's record (how peers learn
/// addresses through gossip). Loopback is left out unless it is all there is.
enum LocalAddresses {
    static func current(interfaces: [String] = []) -> [String] {
        var head: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&head) == 0, let first = head else { return ["127.0.0.1"] }
        defer { freeifaddrs(head) }
        var found: [String] = []
        var loopback: [String] = []
        for entry in sequence(first: first, next: { $0.pointee.ifa_next }) {
            guard let address = entry.pointee.ifa_addr, address.pointee.sa_family == sa_family_t(AF_INET) else { continue }
            let name = String(cString: entry.pointee.ifa_name)
            if !interfaces.isEmpty && !interfaces.contains(name) { continue }
            var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            guard getnameinfo(address, socklen_t(MemoryLayout<sockaddr_in>.size), &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST) == 0 else { continue }
            let text = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if Int32(entry.pointee.ifa_flags) & Int32(IFF_LOOPBACK) != 0 { loopback.append(text) } else { found.append(text) }
        }
        return found.isEmpty ? (loopback.isEmpty ? ["127.0.0.1"] : loopback) : found
    }
}
