import Mesh

/// Everything a node says about itself, signed by it and gossiped to all (DESIGN.md, "Gossip state").
/// Gossip reads only `node`, `epoch`, `version`, `leaving` and `seen`; the rest are values it carries.
/// Maps are keyed by node id hex so the JSON is plain objects with sorted keys.
public struct NodeRecord: Codable, Equatable, Sendable {
    /// The only format this build reads; records of any other format are dropped.
    public static let currentFormat = 1

    public var format: Int
    public var node: NodeID
    public var epoch: UInt64
    public var version: UInt64
    /// The version at which anything but `seen` last changed: a `seen` refresh alone does not make a record
    /// news, so it neither triggers other refreshes nor resets convergence.
    public var contentVersion: UInt64
    public var addresses: [String]
    public var meshPort: UInt16
    public var apiPort: UInt16
    public var resources: Resources
    public var links: [String: Link]
    public var models: [ModelOnDisk]
    public var runners: [Runner]
    public var health: Health
    public var intents: [InstanceIntent]
    /// Ids of instances this node asked to remove (anyone's); absent in records of older builds.
    public var tombstones: [String]?
    /// Models this node is fetching from peers, with progress; absent when none (and in older builds' records).
    public var transfers: [Transfer]?
    public var leaving: Bool
    /// The version vector of the records this node held when it signed this one.
    public var seen: [String: Stamp]

    public var stamp: Stamp { Stamp(epoch: epoch, version: version) }
    public var contentStamp: Stamp { Stamp(epoch: epoch, version: contentVersion) }

    public init(
        node: NodeID, epoch: UInt64, version: UInt64 = 1,
        addresses: [String] = [], meshPort: UInt16 = 0, apiPort: UInt16 = 0,
        resources: Resources = Resources(), links: [String: Link] = [:], models: [ModelOnDisk] = [],
        runners: [Runner] = [], health: Health = Health(), intents: [InstanceIntent] = [],
        leaving: Bool = false, seen: [String: Stamp] = [:]
    ) {
        self.format = Self.currentFormat
        self.node = node
        self.epoch = epoch
        self.version = version
        self.contentVersion = version
        self.addresses = addresses
        self.meshPort = meshPort
        self.apiPort = apiPort
        self.resources = resources
        self.links = links
        self.models = models
        self.runners = runners
        self.health = health
        self.intents = intents
        self.leaving = leaving
        self.seen = seen
    }

    public struct Resources: Codable, Equatable, Sendable {
        public var memoryTotalBytes: UInt64
        public var memoryAvailableBytes: UInt64
        public var cores: Int
        public var throughputBytesPerSecond: Double
        /// The operator's cap on the memory placement may use here (`--max-memory`); absent: no cap.
        public var memoryLimitBytes: UInt64?
        public init(memoryTotalBytes: UInt64 = 0, memoryAvailableBytes: UInt64 = 0, cores: Int = 0, throughputBytesPerSecond: Double = 0,
                    memoryLimitBytes: UInt64? = nil) {
            self.memoryTotalBytes = memoryTotalBytes
            self.memoryAvailableBytes = memoryAvailableBytes
            self.cores = cores
            self.throughputBytesPerSecond = throughputBytesPerSecond
            self.memoryLimitBytes = memoryLimitBytes
        }
    }

    /// A measured edge of the topology: round trip and throughput to one connected peer.
    public struct Link: Codable, Equatable, Sendable {
        public var rttMicroseconds: UInt64
        public var throughputBytesPerSecond: Double
        public init(rttMicroseconds: UInt64, throughputBytesPerSecond: Double) {
            self.rttMicroseconds = rttMicroseconds
            self.throughputBytesPerSecond = throughputBytesPerSecond
        }
    }

    public struct ModelOnDisk: Codable, Equatable, Sendable {
        public var id: String
        public var sizeBytes: UInt64
        public var sha256: String
        /// What placement needs, read from the GGUF header (absent when the file could not be read).
        public var shape: Shape?
        /// BLAKE2b-256 over the concatenated BLAKE2b-256 digests of the file's `chunkBytes` pieces: a peer fetching
        /// the file checks the piece list it is sent against this, then each piece against the list.
        public var chunkRoot: String?
        public var chunkBytes: UInt64?
        public init(id: String, sizeBytes: UInt64, sha256: String, shape: Shape? = nil, chunkRoot: String? = nil, chunkBytes: UInt64? = nil) {
            self.id = id
            self.sizeBytes = sizeBytes
            self.sha256 = sha256
            self.shape = shape
            self.chunkRoot = chunkRoot
            self.chunkBytes = chunkBytes
        }

        /// A model's size by part: placement puts layers on nodes by these numbers.
        public struct Shape: Codable, Equatable, Sendable {
            public var architecture: String
            public var layerCount: Int
            /// Bytes of the largest layer's weights (layers of one model are the same size, or nearly).
            public var bytesPerLayer: UInt64
            public var embeddingBytes: UInt64
            /// Bytes of the output head; 0 with `tiedEmbeddings` (the embedding is the head).
            public var outputBytes: UInt64
            public var tiedEmbeddings: Bool
            public var kvBytesPerLayerPerPosition: UInt64
            public var contextLength: Int
            /// Weights in the file (elements of every tensor), for listings.
            public var parameterCount: UInt64?
            /// Memory one node needs to run the whole model at `contextLength` (weights, KV cache, placement's headroom).
            public var memoryBytes: UInt64?
            public init(architecture: String, layerCount: Int, bytesPerLayer: UInt64, embeddingBytes: UInt64, outputBytes: UInt64,
                        tiedEmbeddings: Bool, kvBytesPerLayerPerPosition: UInt64, contextLength: Int,
                        parameterCount: UInt64? = nil, memoryBytes: UInt64? = nil) {
                self.parameterCount = parameterCount
                self.memoryBytes = memoryBytes
                self.architecture = architecture
                self.layerCount = layerCount
                self.bytesPerLayer = bytesPerLayer
                self.embeddingBytes = embeddingBytes
                self.outputBytes = outputBytes
                self.tiedEmbeddings = tiedEmbeddings
                self.kvBytesPerLayerPerPosition = kvBytesPerLayerPerPosition
                self.contextLength = contextLength
            }
        }
    }

    public struct Runner: Codable, Equatable, Sendable {
        public var instance: String
        public var rank: Int
        public var state: String
        public var planHash: String
        /// The rank's layer range, so every node can rebuild the plan an instance serves on (absent in
        /// records of older builds).
        public var layerStart: Int?
        public var layerEnd: Int?
        public init(instance: String, rank: Int, state: String, planHash: String, layerStart: Int? = nil, layerEnd: Int? = nil) {
            self.instance = instance
            self.rank = rank
            self.state = state
            self.planHash = planHash
            self.layerStart = layerStart
            self.layerEnd = layerEnd
        }
    }

    /// A model file on its way to this node.
    public struct Transfer: Codable, Equatable, Sendable {
        public var model: String
        public var sha256: String
        public var sizeBytes: UInt64
        public var verifiedBytes: UInt64
        /// Whether the bytes this node's ranks need (header and their layers) are all verified.
        public var ranksReady: Bool
        public init(model: String, sha256: String, sizeBytes: UInt64, verifiedBytes: UInt64, ranksReady: Bool) {
            self.model = model
            self.sha256 = sha256
            self.sizeBytes = sizeBytes
            self.verifiedBytes = verifiedBytes
            self.ranksReady = ranksReady
        }
    }

    public struct Health: Codable, Equatable, Sendable {
        public var score: Double
        public var processAlive: Bool
        public var recentErrors: [String]
        public init(score: Double = 1, processAlive: Bool = true, recentErrors: [String] = []) {
            self.score = score
            self.processAlive = processAlive
            self.recentErrors = recentErrors
        }
    }

    /// A proposal to run a model; every node derives the active set from all intents (DESIGN.md, "Placement").
    public struct InstanceIntent: Codable, Equatable, Sendable {
        public var id: String
        public var model: String
        public var policy: String
        public var minNodes: Int?
        public var maxNodes: Int?
        /// Unix milliseconds.
        public var createdAt: UInt64
        public var proposer: NodeID
        public init(id: String, model: String, policy: String, minNodes: Int? = nil, maxNodes: Int? = nil, createdAt: UInt64, proposer: NodeID) {
            self.id = id
            self.model = model
            self.policy = policy
            self.minNodes = minNodes
            self.maxNodes = maxNodes
            self.createdAt = createdAt
            self.proposer = proposer
        }
    }
}
