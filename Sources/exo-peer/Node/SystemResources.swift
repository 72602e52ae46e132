import Foundation

/// What this machine offers, as gossiped in the node's record.
struct SystemResources: Sendable, Equatable {
    var memoryTotalBytes: UInt64
    var memoryAvailableBytes: UInt64
    var cores: Int

    /// Reads /proc/meminfo (Linux); elsewhere falls back to Foundation's physical memory figure.
    static func current() -> SystemResources {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        if let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
           let parsed = parseMeminfo(text) {
            return SystemResources(memoryTotalBytes: parsed.total, memoryAvailableBytes: parsed.available, cores: cores)
        }
        let total = ProcessInfo.processInfo.physicalMemory
        return SystemResources(memoryTotalBytes: total, memoryAvailableBytes: total, cores: cores)
    }

    /// `MemTotal` and `MemAvailable` in bytes, or nil when either is missing.
    static func parseMeminfo(_ text: String) -> (total: UInt64, available: UInt64)? {
        var total: UInt64?
        var available: UInt64?
        for line in text.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == ":" })
            guard fields.count >= 2, let kib = UInt64(fields[1]) else { continue }
            switch fields[0] {
            case "MemTotal": total = kib * 1024
            case "MemAvailable": available = kib * 1024
            default: continue
            }
        }
        guard let total, let available else { return nil }
        return (total, available)
    }
}
