"""Chat through a node's OpenAI-style API, checked against llama.cpp's answers (../shared/fixtures/chat.json)."""
import json
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"
MODEL = "SmolLM2-135M-Instruct.Q4_1"


def chat_cases():
    return json.loads((FIXTURES / "chat.json").read_text())


def test_chat_completions_match_llama_cpp_greedy_answers(make_lab):
    lab = make_lab(2)
    lab.start(1)
    lab.wait_for(lambda: lab.json(2, "/health", target=1), timeout=30, what="node 1 /health")
    models = lab.json(2, "/v1/models", target=1)
    assert MODEL in [m["id"] for m in models["data"]]
    for case in chat_cases():
        body = {"model": MODEL, "messages": case["messages"], "max_tokens": case["max_tokens"], "temperature": 0}
        status, text = lab.http(2, "/v1/chat/completions", method="POST", body=body, target=1)
        assert status == 200, text
        answer = json.loads(text)
        assert answer["choices"][0]["message"]["content"] == case["text"]
        assert answer["choices"][0]["finish_reason"] == case["finish_reason"]
        assert answer["usage"]["completion_tokens"] > 0

        # The same answer streamed: chunks concatenate to the same text, then usage and [DONE].
        status, stream = lab.http(2, "/v1/chat/completions", method="POST", target=1,
                                  body={**body, "stream": True, "stream_options": {"include_usage": True}})
        assert status == 200, stream
        events = [line[6:] for line in stream.splitlines() if line.startswith("data: ")]
        assert events[-1] == "[DONE]"
        chunks = [json.loads(e) for e in events[:-1]]
        streamed = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
        assert streamed == case["text"]
        assert chunks[-1]["usage"]["completion_tokens"] == answer["usage"]["completion_tokens"]
    assert lab.stop(1) == 0


def test_unknown_model_and_bad_requests_get_openai_errors(make_lab):
    lab = make_lab(1)
    lab.start(1)
    lab.wait_for(lambda: lab.json(1, "/health"), timeout=30, what="/health")
    status, text = lab.http(1, "/v1/chat/completions", method="POST",
                            body={"model": "no-such-model", "messages": [{"role": "user", "content": "hi"}]})
    assert status == 404 and json.loads(text)["error"]["code"] == "model_not_found"
    status, text = lab.http(1, "/v1/chat/completions", method="POST",
                            body={"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": -1})
    assert status == 400, text
    # The node is unharmed: a good request still works.
    status, text = lab.http(1, "/v1/chat/completions", method="POST",
                            body={"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, "temperature": 0})
    assert status == 200, text
    assert lab.stop(1) == 0
