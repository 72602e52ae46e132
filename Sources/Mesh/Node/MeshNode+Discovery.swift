extension MeshNode {
    /// Dials what discovery finds and stops redialing what it loses; returns when the stream ends.
    /// Run one per discovery source (mDNS, static peers) in the node's task group.
    public func follow(_ discovery: AsyncStream<DiscoveryEvent>) async {
        for await event in discovery {
            switch event {
            case .found(let peer):
                guard peer.id != id else { continue }
                connect(to: peer.address, expecting: peer.id)
            case .lost(let peer):
                forget(peer.address)
            }
        }
    }
}
