/// Turns a decoded request into a job, or an OpenAI-style error saying what to fix.
enum ChatRequestValidation {
    static let allowedRoles: Set<String> = ["system", "user", "assistant", "developer"]

    static func job(from request: ChatCompletionRequest, defaultMaxTokens: Int, maxTokensLimit: Int) throws(APIError) -> ChatJob {
        guard !request.model.isEmpty else { throw .badRequest("'model' must not be empty.", code: "invalid_model") }
        guard !request.messages.isEmpty else { throw .badRequest("'messages' must contain at least one message.", code: "invalid_messages") }
        for (index, message) in request.messages.enumerated() where !allowedRoles.contains(message.role) {
            throw .badRequest("messages[\(index)].role '\(message.role)' is not one of system, user, assistant.", code: "invalid_role")
        }
        if let n = request.n, n != 1 { throw .badRequest("Only n=1 is supported, got n=\(n).", code: "invalid_n") }
        let maxTokens = request.maxCompletionTokens ?? request.maxTokens ?? defaultMaxTokens
        guard maxTokens >= 1 else { throw .badRequest("max_tokens must be at least 1, got \(maxTokens).", code: "invalid_max_tokens") }
        guard maxTokens <= maxTokensLimit else {
            throw .badRequest("max_tokens \(maxTokens) is more than this model's limit of \(maxTokensLimit).", code: "context_length_exceeded")
        }
        let temperature = request.temperature ?? 1
        guard temperature.isFinite, (0...2).contains(temperature) else { throw .badRequest("temperature must be between 0 and 2, got \(temperature).", code: "invalid_temperature") }
        let topP = request.topP ?? 1
        guard topP.isFinite, topP > 0, topP <= 1 else { throw .badRequest("top_p must be in (0, 1], got \(topP).", code: "invalid_top_p") }
        guard request.stop.count <= 4 else { throw .badRequest("At most 4 stop sequences are allowed.", code: "invalid_stop") }
        return ChatJob(
            model: request.model,
            messages: request.messages.map { ChatTurn(role: $0.role == "developer" ? "system" : $0.role, content: $0.content) },
            maxTokens: maxTokens,
            temperature: temperature,
            topP: topP,
            seed: request.seed,
            stop: request.stop.filter { !$0.isEmpty }
        )
    }
}
