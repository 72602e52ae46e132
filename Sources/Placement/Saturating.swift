extension UInt64 {
    /// Sums and products that stop at `UInt64.max`: figures from the network must never trap.
    func saturatingAdd(_ other: UInt64) -> UInt64 {
        let (value, overflow) = addingReportingOverflow(other)
        return overflow ? .max : value
    }

    func saturatingMultiply(_ other: UInt64) -> UInt64 {
        let (value, overflow) = multipliedReportingOverflow(by: other)
        return overflow ? .max : value
    }
}
