import Foundation
import Gossip
import Logging
import Placement

/// The ranks this node should run, as derived from the gossiped instances.
struct RankAssignment: Sendable, Equatable {
    var instance: String
    var plan: Plan
    var rank: Int
    var modelPath: String
    /// False while the rank's bytes of the model are still being fetched: the runner then stays idle, so
    /// the barrier holds every rank of the plan before loading until they are present and verified.
    var weightsReady = true

    var planHash: String { plan.hash.description }
}

/// Starts, drives and restarts this node's runner processes. Which runners exist follows the derived
/// instances (`reconcile`); when each moves on follows the readiness barrier (`nextTask`) over the
/// runner states gossiped by every node, so a rank loads only once every rank of its plan is connected.
/// A runner that dies is reported failed, restarted with backoff, and counted against health.
actor RunnerSupervisor {
    struct Settings: Sendable {
        var executable: String
        var threads: Int
        var backoff = RestartBackoff()
        /// How long a runner told to shut down may take before it is killed.
        var shutdownGrace: Duration = .seconds(5)
    }

    /// Where a runner's replies go: pipeline output to the node's router, lifecycle changes to gossip.
    struct Hooks: Sendable {
        /// The runner states or the health changed: publish them in the node's record.
        var publish: @Sendable ([NodeRecord.Runner], HealthReport) async -> Void
        /// A step's output or failure, to route on.
        var deliver: @Sendable (RunnerReply, [Float]) async -> Void
        /// A runner of `plan` died: generations through it cannot finish.
        var runnerLost: @Sendable (_ assignment: RankAssignment, _ reason: String) async -> Void
    }

    private struct Slot {
        var assignment: RankAssignment
        var process: RunnerProcess?
        var state: RunnerState = .idle
        var startedAt: ContinuousClock.Instant
        /// The restart that started the current process (-1: the first start).
        var attempt = -1
        var stopping = false
    }

    let settings: Settings
    private let hooks: Hooks
    private let node: String
    private var logger: Logger
    private var slots: [String: Slot] = [:]
    private var lastStates: [RunnerKey: RunnerState] = [:]
    private var published: ([NodeRecord.Runner], HealthReport)?
    private(set) var health = HealthReport()
    private(set) var restarts = 0
    /// Set when the node stops: no runner is started or restarted after it.
    private var closed = false
    private let clock = ContinuousClock()

    init(node: String, settings: Settings, hooks: Hooks, logger: Logger) {
        self.node = node
        self.settings = settings
        self.hooks = hooks
        self.logger = logger
    }

    /// Runner states as gossiped, with this node's own taken from here (fresher than its published record).
    private func states(merging gossiped: [RunnerKey: RunnerState]) -> [RunnerKey: RunnerState] {
        var states = gossiped
        for slot in slots.values {
            states[RunnerKey(node: node, plan: slot.assignment.plan.hash)] = slot.state
        }
        return states
    }

    /// Brings the runners in line with `desired` and moves each on when the barrier allows.
    func reconcile(desired: [RankAssignment], states gossiped: [RunnerKey: RunnerState]) async {
        guard !closed else { return }
        lastStates = gossiped
        let wanted = Dictionary(desired.map { ($0.planHash, $0) }, uniquingKeysWith: { first, _ in first })
        for (hash, slot) in slots where wanted[hash] == nil && !slot.stopping {
            stop(hash)
        }
        for (hash, assignment) in wanted {
            guard slots[hash] == nil else {
                // Same plan; the file may have moved (a fetch finished) or its weights become ready.
                if slots[hash]?.stopping == false { slots[hash]?.assignment = assignment }
                continue
            }
            logger.info("starting runner", metadata: ["instance": "\(assignment.instance)", "plan": "\(hash)", "rank": "\(assignment.rank)",
                                                      "weights": "\(assignment.weightsReady ? "present" : "being fetched")"])
            slots[hash] = Slot(assignment: assignment, startedAt: clock.now)
            launch(hash)
        }
        advance()
        await publishIfChanged()
    }

    /// Sends each runner the task the barrier allows next, if any.
    private func advance() {
        let states = states(merging: lastStates)
        for (hash, slot) in slots where !slot.stopping {
            guard let process = slot.process,
                  let task = nextTask(forRank: slot.assignment.rank, of: slot.assignment.plan, states: states),
                  task != .connectToGroup || slot.assignment.weightsReady
            else { continue }
            switch slot.state.handling(task) {
            case .accepted(let next):
                slots[hash]?.state = next
                let a = slot.assignment
                let assignment = task == .connectToGroup
                    ? RunnerAssignment(modelPath: a.modelPath, plan: hash, rank: a.rank, rankCount: a.plan.ranks.count,
                                       layerStart: a.plan.ranks[a.rank].layerStart, layerEnd: a.plan.ranks[a.rank].layerEnd)
                    : nil
                logger.debug("runner task", metadata: ["plan": "\(hash)", "task": "\(task.rawValue)"])
                process.send(.task(task, assignment: assignment))
            case .taskFailed(let reason):
                logger.warning("runner task not sent: \(reason)", metadata: ["plan": "\(hash)"])
            }
        }
    }

    private func launch(_ hash: String) {
        guard let slot = slots[hash] else { return }
        do {
            let process = try RunnerProcess.launch(executable: settings.executable, threads: settings.threads)
            slots[hash]?.process = process
            slots[hash]?.startedAt = clock.now
            health.resources[resourceName(slot.assignment)] = .ok
            Task { await self.follow(process, hash: hash) }
        } catch {
            failed(hash, reason: "could not start runner: \(error)")
        }
    }

    private func follow(_ process: RunnerProcess, hash: String) async {
        for await output in process.outputs {
            switch output {
            case .reply(let envelope):
                await handle(envelope, from: process, hash: hash)
            case .exited(_, let reason):
                await exited(process, hash: hash, reason: reason)
            }
        }
    }

    private func handle(_ envelope: Envelope<RunnerReply>, from process: RunnerProcess, hash: String) async {
        guard slots[hash]?.process === process else { return }
        switch envelope.header {
        case .event(let event, let state, let reason):
            slots[hash]?.state = state
            if event == .crashed {
                failed(hash, reason: reason ?? "the runner failed")
                process.kill()
            } else {
                logger.info("runner is \(state.rawValue)", metadata: ["plan": "\(hash)", "rank": "\(slots[hash]?.assignment.rank ?? -1)"])
            }
            advance()
            await publishIfChanged()
        case .taskFailed(let task, let reason, let state):
            // The pure machine on both sides agrees, so this means a bug; the runner stays up either way.
            logger.warning("runner refused \(task.rawValue): \(reason)", metadata: ["plan": "\(hash)"])
            record(error: "runner refused \(task.rawValue): \(reason)")
            slots[hash]?.state = state
            await publishIfChanged()
        case .hidden, .sampled, .stepFailed:
            await hooks.deliver(envelope.header, envelope.floats)
        }
    }

    private func exited(_ process: RunnerProcess, hash: String, reason: String) async {
        guard let slot = slots[hash], slot.process === process else { return }
        slots[hash]?.process = nil
        if slot.stopping {
            slots[hash] = nil
            logger.info("runner stopped", metadata: ["plan": "\(hash)"])
            await publishIfChanged()
            return
        }
        if slot.state != .failed { failed(hash, reason: "runner \(reason)") }
        await hooks.runnerLost(slot.assignment, reason)
        await publishIfChanged()
        let attempt = settings.backoff.attempt(after: slot.attempt, uptime: clock.now - slot.startedAt)
        let delay = settings.backoff.delay(attempt: attempt, random: Double.random(in: 0..<1))
        logger.info("restarting runner in \(delay)", metadata: ["plan": "\(hash)", "attempt": "\(attempt)"])
        Task {
            try? await Task.sleep(for: delay)
            await self.restart(hash, attempt: attempt)
        }
    }

    private func restart(_ hash: String, attempt: Int) async {
        guard !closed, let slot = slots[hash], !slot.stopping, slot.process == nil else { return }
        slots[hash]?.state = slot.state.handling(.restarted).state(from: slot.state)
        slots[hash]?.attempt = attempt
        restarts += 1
        launch(hash)
        advance()
        await publishIfChanged()
    }

    private func failed(_ hash: String, reason: String) {
        guard let slot = slots[hash] else { return }
        logger.error("runner failed: \(reason)", metadata: ["plan": "\(hash)", "rank": "\(slot.assignment.rank)"])
        slots[hash]?.state = .failed
        health.resources[resourceName(slot.assignment)] = .failed
        record(error: "rank \(slot.assignment.rank) of \(slot.assignment.instance): \(reason)")
    }

    /// An error found outside the runners (a peer that sent a corrupt model piece): it counts against health.
    func report(error message: String) async {
        record(error: message)
        await publishIfChanged()
    }

    private func record(error message: String) {
        health.record(error: message, at: UInt64(Date().timeIntervalSince1970 * 1000))
    }

    /// Errors older than this no longer count against the health score.
    func forgetOldErrors(olderThan age: Duration = .seconds(300)) async {
        let cutoff = Date().timeIntervalSince1970 * 1000 - Double(age.components.seconds) * 1000
        health.forgetErrors(before: UInt64(max(0, cutoff)))
        for slot in slots.values where slot.state != .failed {
            health.resources[resourceName(slot.assignment)] = .ok
        }
        await publishIfChanged()
    }

    private func stop(_ hash: String) {
        guard let slot = slots[hash] else { return }
        slots[hash]?.stopping = true
        health.resources[resourceName(slot.assignment)] = nil
        guard let process = slot.process else {
            slots[hash] = nil
            return
        }
        logger.info("stopping runner: its plan is no longer active", metadata: ["plan": "\(hash)"])
        slots[hash]?.state = slot.state.handling(.shutdown).state(from: slot.state)
        process.send(.task(.shutdown, assignment: nil))
        let grace = settings.shutdownGrace
        Task {
            try? await Task.sleep(for: grace)
            process.kill()
        }
    }

    /// Stops every runner and waits (bounded) until they are gone: the node is stopping.
    func shutdownAll() async {
        closed = true
        for hash in slots.keys { stop(hash) }
        let deadline = clock.now + settings.shutdownGrace
        while !slots.isEmpty, clock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        for slot in slots.values { slot.process?.kill() }
    }

    // MARK: Pipeline

    /// Hands a step to the runner of its plan; false when this node runs no such rank (or it is not ready).
    func send(_ step: PipelineStep, floats: [Float]) -> Bool {
        guard let slot = slots[step.plan], !slot.stopping, slot.assignment.rank == step.rank,
              let process = slot.process, slot.state == .ready || slot.state == .running
        else { return false }
        process.send(.step(step), floats: floats)
        return true
    }

    func close(session: UInt64, plan: String) {
        slots[plan]?.process?.send(.close(session: session))
    }

    /// PIDs of the runner processes, for `/health` (and for tests that kill one).
    var processes: [String: Int32] {
        slots.compactMapValues { $0.process?.pid }
    }

    // MARK: Gossip

    private func publishIfChanged() async {
        let runners = slots.values
            .map { slot in
                let a = slot.assignment
                return NodeRecord.Runner(instance: a.instance, rank: a.rank, state: slot.state.rawValue, planHash: a.planHash,
                                         layerStart: a.plan.ranks[a.rank].layerStart, layerEnd: a.plan.ranks[a.rank].layerEnd)
            }
            .sorted { ($0.instance, $0.planHash) < ($1.instance, $1.planHash) }
        if let published, published.0 == runners, published.1 == health { return }
        published = (runners, health)
        await hooks.publish(runners, health)
    }

    private func resourceName(_ assignment: RankAssignment) -> String {
        "runner \(assignment.instance) rank \(assignment.rank)"
    }
}
