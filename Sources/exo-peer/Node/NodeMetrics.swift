import Prometheus

/// The node's Prometheus metrics. One registry per node (not a process-wide bootstrap), so tests
/// and several nodes in one process don't mix their counts.
final class NodeMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let httpRequests: Counter
    let chatRequests: Counter
    let chatFailures: Counter
    let generatedTokens: Counter
    let promptTokens: Counter
    let decodeTokensPerSecond: Gauge
    let runnerRestarts: Counter
    let transferCorruptChunks: Counter

    init() {
        httpRequests = registry.makeCounter(descriptor: .init(namespace: "exo", metricName: "http_requests_total", unitName: "", helpText: "HTTP requests served"))
        chatRequests = registry.makeCounter(descriptor: .init(namespace: "exo", metricName: "chat_requests_total", unitName: "", helpText: "Chat completion requests accepted"))
        chatFailures = registry.makeCounter(descriptor: .init(namespace: "exo", metricName: "chat_failures_total", unitName: "", helpText: "Chat completion requests that ended in an error"))
        generatedTokens = registry.makeCounter(descriptor: .init(namespace: "exo", metricName: "generated_tokens_total", unitName: "", helpText: "Tokens generated for chat completions"))
        promptTokens = registry.makeCounter(descriptor: .init(namespace: "exo", metricName: "prompt_tokens_total", unitName: "", helpText: "Prompt tokens processed"))
        runnerRestarts = registry.makeCounter(descriptor: .init(namespace: "exo", metricName: "runner_restarts_total", unitName: "", helpText: "Runner processes that died and were restarted"))
        transferCorruptChunks = registry.makeCounter(descriptor: .init(namespace: "exo", metricName: "transfer_corrupt_chunks_total", unitName: "", helpText: "Model pieces from peers that failed their digest"))
        decodeTokensPerSecond = registry.makeGauge(descriptor: .init(namespace: "exo", metricName: "decode_tokens_per_second", unitName: "", helpText: "Decode speed of the last completed generation"))
    }

    /// The Prometheus text exposition format.
    func render() -> [UInt8] {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }
}
