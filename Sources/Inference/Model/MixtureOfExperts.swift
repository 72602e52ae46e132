import Foundation

extension LlamaModel {
    /// One gated FFN: down · (activation(gate · x) ⊙ up · x).
    struct Expert {
        var gate, up, down: WeightMatrix
    }

    /// A layer's FFN: one, or a router choosing some of many (Qwen 3 MoE).
    enum FeedForward {
        case dense(Expert)
        case mixture(router: WeightMatrix, experts: [Expert])

        var matrices: [WeightMatrix] {
            switch self {
            case .dense(let e): [e.gate, e.up, e.down]
            case .mixture(let router, let experts): [router] + experts.flatMap { [$0.gate, $0.up, $0.down] }
            }
        }

        /// The layer's FFN tensors. A mixture's experts are stored as 3-D tensors, [columns, rows,
        /// experts]: the experts' matrices back to back, each viewed as a matrix of its own
        /// (`GGUFFile` names matrix i of `t` "t[i]"), so every expert runs on the usual kernels.
        static func load(
            layer p: String, from file: GGUFFile, config c: LlamaConfig, regroup: Bool, used: Bool, owner: inout [UnsafeMutableRawPointer]
        ) throws(WeightMatrix.Error) -> FeedForward {
            let d = c.embeddingLength, ff = c.feedForwardLength
            func matrix(_ name: String, rows: Int, columns: Int) throws(WeightMatrix.Error) -> WeightMatrix {
                try WeightMatrix.load(p + name, from: file, rows: rows, columns: columns, regroup: regroup, used: used, owner: &owner)
            }
            guard let experts = c.experts else {
                return .dense(Expert(gate: try matrix("ffn_gate.weight", rows: ff, columns: d), up: try matrix("ffn_up.weight", rows: ff, columns: d),
                                     down: try matrix("ffn_down.weight", rows: d, columns: ff)))
            }
            for (name, shape) in [("ffn_gate_exps.weight", [d, ff, experts.count]), ("ffn_up_exps.weight", [d, ff, experts.count]),
                                  ("ffn_down_exps.weight", [ff, d, experts.count])] {
                guard let info = file.tensor(named: p + name) else { throw .missing(p + name) }
                guard info.dimensions == shape else { throw .shape(p + name, expected: shape, got: info.dimensions) }
            }
            let router = try matrix("ffn_gate_inp.weight", rows: experts.count, columns: d)
            var list: [Expert] = []
            list.reserveCapacity(experts.count)
            for e in 0..<experts.count {
                list.append(Expert(gate: try matrix("ffn_gate_exps.weight[\(e)]", rows: ff, columns: d),
                                   up: try matrix("ffn_up_exps.weight[\(e)]", rows: ff, columns: d),
                                   down: try matrix("ffn_down_exps.weight[\(e)]", rows: d, columns: ff)))
            }
            return .mixture(router: router, experts: list)
        }
    }

    /// The mixture FFN of the token whose normalized hidden state is in `scratch.normed`, into
    /// `output`, as llama.cpp's build_moe_ffn with softmax gating: router logits, their softmax,
    /// the `used` most probable experts (renormalized weights when the model says so), each expert's
    /// output times its weight, summed in the order of the choice.
    func mixture(router: WeightMatrix, experts: [Expert], output: UnsafeMutablePointer<Float>) {
        let s = scratch, m = scratch.mixture!, c = config, e = c.experts!, d = c.embeddingLength
        s.activation.quantize(s.normed, count: d)
        matVecQuantized(router, output: m.logits)
        m.route(e)
        for i in 0..<e.used {
            // The down product of the expert before may have quantized into the same activation.
            if i > 0 { s.activation.quantize(s.normed, count: d) }
            let expert = experts[m.chosen[i]]
            matVecQuantized(expert.gate, s.gate, expert.up, s.up)
            activate(gate: s.gate, up: s.up)
            let weight = m.weights[i]
            if i == 0 {
                matVec(expert.down, input: s.gate, output: output)
                for j in 0..<d { output[j] *= weight }
            } else {
                matVec(expert.down, input: s.gate, output: m.expertOutput)
                for j in 0..<d { output[j] += m.expertOutput[j] * weight }
            }
        }
    }
}

/// A mixture model's router and expert buffers, allocated once.
final class MixtureScratch: @unchecked Sendable {
    /// Router logits, then probabilities, one per expert.
    let logits: UnsafeMutablePointer<Float>
    /// The chosen experts, most probable first, and their weights.
    let chosen: UnsafeMutablePointer<Int>
    let weights: UnsafeMutablePointer<Float>
    let expertOutput: UnsafeMutablePointer<Float>
    private let count: Int

    init(experts: Experts, embeddingLength: Int) {
        count = experts.count
        logits = .allocate(capacity: experts.count)
        logits.initialize(repeating: 0, count: experts.count)
        chosen = .allocate(capacity: experts.used)
        chosen.initialize(repeating: 0, count: experts.used)
        weights = .allocate(capacity: experts.used)
        weights.initialize(repeating: 0, count: experts.used)
        expertOutput = .allocate(capacity: embeddingLength)
        expertOutput.initialize(repeating: 0, count: embeddingLength)
    }

    deinit {
        logits.deallocate()
        chosen.deallocate()
        weights.deallocate()
        expertOutput.deallocate()
    }

    /// Softmax of the logits (in place), the `used` largest probabilities (ties: the lower
    /// expert first), and their weights.
    func route(_ e: Experts) {
        Self.softmax(logits, count: count)
        for i in 0..<e.used {
            var best = -1
            for x in 0..<count where !chosen(x, before: i) && (best < 0 || logits[x] > logits[best]) { best = x }
            chosen[i] = best
            weights[i] = logits[best]
        }
        if e.normalizesWeights {
            // ggml_sum_rows (a Double sum), clamped to Float16's smallest normal, then a division.
            var sum: Double = 0
            for i in 0..<e.used { sum += Double(weights[i]) }
            let total = max(Float(sum), 6.103515625e-5)
            for i in 0..<e.used { weights[i] /= total }
        }
        if e.weightsScale != 1 {
            for i in 0..<e.used { weights[i] *= e.weightsScale }
        }
    }

    @inline(__always) private func chosen(_ x: Int, before i: Int) -> Bool {
        for j in 0..<i where chosen[j] == x { return true }
        return false
    }

    /// ggml's soft_max of one row: e^(x − max) (its vector exponential for whole groups of 16, libm's
    /// for the rest), the sum in Double, and every value times the reciprocal of the sum.
    static func softmax(_ x: UnsafeMutablePointer<Float>, count n: Int) {
        var maximum = -Float.infinity
        for i in 0..<n { maximum = max(maximum, x[i]) }
        var sum: Double = 0
        var i = 0
        while i + 16 <= n {
            var group: Float = 0
            for j in i..<(i + 16) {
                x[j] = Kernels.vectorExp(x[j] - maximum)
                group += x[j]
            }
            sum += Double(group)
            i += 16
        }
        while i < n {
            x[i] = Foundation.exp(x[i] - maximum)
            sum += Double(x[i])
            i += 1
        }
        let inverse = Float(1 / sum)
        for j in 0..<n { x[j] *= inverse }
    }
}
