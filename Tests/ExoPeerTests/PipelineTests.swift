import Foundation
import Gossip
import Inference
import Placement
import Testing
@testable import exo_peer

/// The default model and the built binary, for tests that run ranks.
enum PipelineFixtures {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func model() throws -> String {
        let env = ProcessInfo.processInfo.environment
        let path = env["EXO_MODEL_PATH"] ?? ((env["EXO_HOME"] ?? NSHomeDirectory() + "/.exo-peer") + "/models/SmolLM2-135M-Instruct.Q4_1.gguf")
        try #require(FileManager.default.fileExists(atPath: path), "model \(path) is missing; run scripts/fetch-model.sh (make test does)")
        return path
    }

    /// The release binary `make test-build` produced (the runner is a mode of it).
    static func binary() throws -> String {
        let path = ProcessInfo.processInfo.environment["EXO_PEER_BIN"] ?? repositoryRoot.appendingPathComponent(".build/release/exo-peer").path
        try #require(FileManager.default.isExecutableFile(atPath: path), "\(path) is missing; build first (make test-build)")
        return path
    }
}

@Suite struct EnvelopeTests {
    @Test func aStepRoundTripsWithItsHiddenStates() throws {
        let step = PipelineStep(session: 7, plan: "00000000000000ab", rank: 1, route: ["a", "b"], driver: "a", start: 3,
                                tokens: [1, 2], sample: true, opening: SessionOpening(capacity: 9, sampling: .greedy))
        let floats: [Float] = [1.5, -2, .infinity, 0, 3e-8, 42]
        let decoded = try Envelope<PipelineMessage>.decode(try Envelope(PipelineMessage.step(step), floats: floats).encoded())
        #expect(decoded.header == .step(step))
        #expect(decoded.floats == floats)
    }

    @Test func malformedBytesAreErrorsNotCrashes() throws {
        let good = try Envelope(PipelineMessage.close(session: 1, plan: "x"), floats: [1, 2]).encoded()
        #expect(throws: EnvelopeError.self) { try Envelope<PipelineMessage>.decode([0, 0]) }
        #expect(throws: EnvelopeError.self) { try Envelope<PipelineMessage>.decode([0xff, 0xff, 0xff, 0xff, 1]) }
        #expect(throws: EnvelopeError.self) { try Envelope<PipelineMessage>.decode(good.dropLast()) }
        #expect(throws: EnvelopeError.self) { try Envelope<PipelineMessage>.decode([0, 0, 0, 2] + Array("{}".utf8)) }
        var corrupted = good
        corrupted[5] = UInt8(ascii: "#")
        #expect(throws: EnvelopeError.self) { try Envelope<PipelineMessage>.decode(corrupted) }
        // Every truncation of a valid message is refused or parsed, never a crash.
        for length in 0..<good.count { _ = try? Envelope<PipelineMessage>.decode(good.prefix(length)) }
    }
}

@Suite(.serialized) struct RunnerCoreTests {
    @Test func tasksOutOfOrderAreRefusedAndTheRunnerCarriesOn() throws {
        let model = try PipelineFixtures.model()
        let core = RunnerCore(threads: 1)
        // LoadModel before the runner joined a group: exo's runners died here.
        #expect(core.handle(.task(.loadModel, assignment: nil), floats: [])?.header
            == .taskFailed(.loadModel, reason: "loadModel refused: the runner is idle, it must be connected", state: .idle))
        #expect(core.state == .idle)
        let assignment = RunnerAssignment(modelPath: model, plan: "p", rank: 0, rankCount: 1, layerStart: 0, layerEnd: 30)
        #expect(core.handle(.task(.connectToGroup, assignment: assignment), floats: [])?.header == .event(.connectionEstablished, state: .connected, reason: nil))
        #expect(core.handle(.task(.startWarmup, assignment: nil), floats: [])?.header
            == .taskFailed(.startWarmup, reason: "startWarmup refused: the runner is connected, it must be loaded", state: .connected))
        #expect(core.handle(.task(.loadModel, assignment: nil), floats: [])?.header == .event(.modelLoaded, state: .loaded, reason: nil))
        #expect(core.handle(.task(.startWarmup, assignment: nil), floats: [])?.header == .event(.warmupFinished, state: .ready, reason: nil))
        #expect(core.handle(.task(.shutdown, assignment: nil), floats: [])?.header == .event(.drained, state: .shutdown, reason: nil))
        #expect(core.isFinished)
    }

    @Test func anAssignmentOutsideTheModelFailsAtConnect() throws {
        let model = try PipelineFixtures.model()
        let core = RunnerCore(threads: 1)
        let reply = core.handle(.task(.connectToGroup, assignment: .init(modelPath: model, plan: "p", rank: 0, rankCount: 2, layerStart: 0, layerEnd: 31)), floats: [])
        guard case .event(.crashed, .failed, let reason)? = reply?.header else {
            Issue.record("expected a crash report, got \(String(describing: reply?.header))")
            return
        }
        #expect(reason?.contains("does not fit a 30-layer model") == true)
    }

    /// Ranks [0, k) and [k, 30) chained step by step give the tokens of the whole model in one process,
    /// with the prompt in chunks of `chunk` tokens and the decode one token per step.
    @Test(arguments: [(split: 13, chunk: 7), (split: 29, chunk: 256), (split: 1, chunk: 40)])
    func twoRanksGenerateWhatTheWholeModelGenerates(split: Int, chunk: Int) throws {
        let path = try PipelineFixtures.model()
        let engine = try TextEngine(path: path, threads: 1)
        let prompt = engine.promptTokens(chat: [ChatMessage(role: "user", content: "Write a haiku about the sea, then explain it in two sentences.")])
        let budget = 24
        let cache = engine.model.makeCache(capacity: prompt.count + budget + 1)
        var generator = Generator(model: engine.model, prompt: prompt, cache: cache, sampling: .greedy, maxTokens: budget, isEndOfGeneration: { _ in false })
        var expected: [Int32] = []
        while let token = try generator.next() { expected.append(token) }

        let ranks = [(0, split), (split, 30)].enumerated().map { rank, layers in
            let core = RunnerCore(threads: 1)
            let assignment = RunnerAssignment(modelPath: path, plan: "p", rank: rank, rankCount: 2, layerStart: layers.0, layerEnd: layers.1)
            _ = core.handle(.task(.connectToGroup, assignment: assignment), floats: [])
            _ = core.handle(.task(.loadModel, assignment: nil), floats: [])
            _ = core.handle(.task(.startWarmup, assignment: nil), floats: [])
            return core
        }
        #expect(ranks.allSatisfy { $0.state == .ready })

        func run(_ tokens: [Int32], start: Int, sample: Bool) throws -> Int32? {
            let step = PipelineStep(session: 1, plan: "p", rank: 0, route: ["a", "b"], driver: "a", start: start, tokens: tokens, sample: sample,
                                    opening: start == 0 ? SessionOpening(capacity: prompt.count + budget + 1, sampling: .greedy) : nil)
            let first = try #require(ranks[0].handle(.step(step), floats: []))
            guard case .hidden(let next) = first.header else { Issue.record("rank 0 answered \(first.header)"); return nil }
            let last = ranks[1].handle(.step(next), floats: first.floats)
            guard let last else { return nil }
            guard case .sampled(_, _, let token) = last.header else { Issue.record("rank 1 answered \(last.header)"); return nil }
            return token
        }
        var token: Int32?
        var start = 0
        while start < prompt.count {
            let end = min(prompt.count, start + chunk)
            token = try run(Array(prompt[start..<end]), start: start, sample: end == prompt.count)
            #expect((token != nil) == (end == prompt.count))
            start = end
        }
        var produced: [Int32] = []
        while produced.count < budget, let current = token {
            produced.append(current)
            if produced.count < budget { token = try run([current], start: prompt.count + produced.count - 1, sample: true) }
        }
        #expect(produced == expected)
    }

    @Test func aStepAtTheWrongPositionIsRefusedAndTheSessionSurvives() throws {
        let path = try PipelineFixtures.model()
        let core = RunnerCore(threads: 1)
        _ = core.handle(.task(.connectToGroup, assignment: .init(modelPath: path, plan: "p", rank: 0, rankCount: 1, layerStart: 0, layerEnd: 30)), floats: [])
        _ = core.handle(.task(.loadModel, assignment: nil), floats: [])
        _ = core.handle(.task(.startWarmup, assignment: nil), floats: [])
        let open = PipelineStep(session: 5, plan: "p", rank: 0, route: ["a"], driver: "a", start: 0, tokens: [1, 2, 3], sample: true,
                                opening: SessionOpening(capacity: 8, sampling: .greedy))
        guard case .sampled? = core.handle(.step(open), floats: [])?.header else { Issue.record("no token"); return }
        var skipped = open
        skipped.start = 5
        skipped.opening = nil
        skipped.tokens = [4]
        guard case .stepFailed(5, "a", let reason)? = core.handle(.step(skipped), floats: [])?.header else { Issue.record("accepted a gap"); return }
        #expect(reason.contains("holds 3"))
        var wrongPlan = open
        wrongPlan.plan = "q"
        guard case .stepFailed? = core.handle(.step(wrongPlan), floats: [])?.header else { Issue.record("ran another plan's step"); return }
        var next = open
        next.start = 3
        next.opening = nil
        next.tokens = [4]
        guard case .sampled? = core.handle(.step(next), floats: [])?.header else { Issue.record("the session did not survive"); return }
        // A garbage token id is an error for the session, not a crash.
        var hostile = open
        hostile.session = 6
        hostile.tokens = [Int32.max]
        guard case .stepFailed? = core.handle(.step(hostile), floats: [])?.header else { Issue.record("ran a token outside the vocabulary"); return }
    }
}

@Suite(.serialized) struct RunnerProcessTests {
    /// The real child process: a task out of order is answered TaskFailed and the process stays up and
    /// keeps answering; closing its stdin ends it cleanly.
    @Test func aRunnerProcessRefusesLoadBeforeConnectAndStaysAlive() async throws {
        let binary = try PipelineFixtures.binary()
        let model = try PipelineFixtures.model()
        let runner = try RunnerProcess.launch(executable: binary, threads: 1)
        var outputs = runner.outputs.makeAsyncIterator()
        runner.send(.task(.loadModel, assignment: nil))
        guard case .reply(let refused)? = await outputs.next() else { Issue.record("no reply"); return }
        #expect(refused.header == .taskFailed(.loadModel, reason: "loadModel refused: the runner is idle, it must be connected", state: .idle))
        #expect(kill(runner.pid, 0) == 0, "the runner died after a task out of order")

        runner.send(.task(.connectToGroup, assignment: .init(modelPath: model, plan: "p", rank: 0, rankCount: 1, layerStart: 0, layerEnd: 30)))
        guard case .reply(let connected)? = await outputs.next() else { Issue.record("no reply"); return }
        #expect(connected.header == .event(.connectionEstablished, state: .connected, reason: nil))

        runner.send(.task(.shutdown, assignment: nil))
        guard case .reply(let drained)? = await outputs.next() else { Issue.record("no reply"); return }
        #expect(drained.header == .event(.drained, state: .shutdown, reason: nil))
        guard case .exited(let status, _)? = await outputs.next() else { Issue.record("no exit"); return }
        #expect(status == 0)
    }
}

@Suite(.serialized) struct RunnerSupervisorTests {
    /// The barrier with a real runner process: rank 0 connects, then waits while rank 1's gossip is held
    /// back, and loads only once rank 1 is seen connected; warms up only once rank 1 is seen loaded.
    @Test func rankZeroLoadsOnlyOnceRankOneIsSeenConnected() async throws {
        let binary = try PipelineFixtures.binary()
        let model = try PipelineFixtures.model()
        let published = PublishedStates()
        let supervisor = RunnerSupervisor(
            node: "a", settings: .init(executable: binary, threads: 1),
            hooks: .init(publish: { runners, _ in await published.record(runners) }, deliver: { _, _ in }, runnerLost: { _, _ in }),
            logger: .init(label: "test")
        )
        let plan = Plan(model: "m", ranks: [.init(node: "a", layerStart: 0, layerEnd: 15), .init(node: "b", layerStart: 15, layerEnd: 30)])
        let desired = [RankAssignment(instance: "i", plan: plan, rank: 0, modelPath: model)]
        let rankOne = RunnerKey(node: "b", plan: plan.hash)

        await supervisor.reconcile(desired: desired, states: [:])
        try await published.wait(for: "connected")
        // Rank 1 says nothing (its gossip is held back): however often we reconcile, rank 0 stays connected.
        for _ in 0..<10 {
            await supervisor.reconcile(desired: desired, states: [rankOne: .connecting])
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(await published.history == ["connecting", "connected"])

        await supervisor.reconcile(desired: desired, states: [rankOne: .connected])
        try await published.wait(for: "loaded")
        for _ in 0..<5 {
            await supervisor.reconcile(desired: desired, states: [rankOne: .loading])
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(await published.history.last == "loaded")

        await supervisor.reconcile(desired: desired, states: [rankOne: .loaded])
        try await published.wait(for: "ready")
        #expect(await published.history == ["connecting", "connected", "loading", "loaded", "warmingUp", "ready"])
        await supervisor.shutdownAll()
        #expect(await supervisor.processes.isEmpty)
    }
}

/// Runner states a supervisor published, in order (deduplicated).
actor PublishedStates {
    private(set) var history: [String] = []

    func record(_ runners: [NodeRecord.Runner]) {
        guard let state = runners.first?.state, history.last != state else { return }
        history.append(state)
    }

    func wait(for state: String, timeout: Duration = .seconds(20)) async throws {
        let deadline = ContinuousClock.now + timeout
        while !history.contains(state) {
            guard ContinuousClock.now < deadline else {
                Issue.record("timed out waiting for \(state); saw \(history)")
                return
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}
