"""The official openai client against a 3-node mesh: every node gives the same greedy answers,
equal to llama.cpp's where the fixtures have them, streamed or not; 8 concurrent clients all get
complete, correct answers."""
import json
import sys
from pathlib import Path

from test_chat import MODEL, chat_cases

CLIENT = str(Path(__file__).with_name("openai_client.py"))


def run_client(lab, host, target, *args):
    result = lab.run(host, sys.executable, CLIENT, f"http://{lab.address(target)}:52415/v1", MODEL, *args, timeout=600)
    return json.loads(result.stdout)


def test_openai_client_on_every_node_of_a_mesh(make_lab):
    lab = make_lab(3)
    for host in (1, 2, 3):
        lab.start(host)
    lab.wait_for(lambda: all(len(lab.json(h, "/peers")["peers"]) == 3 for h in (1, 2, 3)), timeout=30, what="3 nodes see each other")
    expected_first = chat_cases()[0]["text"]  # "What is 2+2?" as llama.cpp answers it
    answers = {}
    for target in (1, 2, 3):
        conversations = run_client(lab, 1 + target % 3, target, "conversations")
        for c in conversations:
            assert c["plain"]["text"] == c["streamed"]["text"], c
            assert c["plain"]["finish"] == c["streamed"]["finish"]
            assert c["plain"]["completion_tokens"] == c["streamed"]["completion_tokens"] > 0
        assert conversations[0]["plain"]["text"] == expected_first
        answers[target] = [c["plain"]["text"] for c in conversations]
    assert answers[1] == answers[2] == answers[3], answers
    assert "Ada" in answers[1][2], answers[1][2]  # the multi-turn context reached the model
    for host in (1, 2, 3):
        assert lab.stop(host) == 0


def test_eight_concurrent_clients_all_get_complete_answers(make_lab):
    lab = make_lab(2)
    lab.start(1)
    lab.wait_for(lambda: lab.json(2, "/health", target=1), timeout=30, what="node 1 /health")
    single = run_client(lab, 2, 1, "concurrent", "1")["results"][0]
    many = run_client(lab, 2, 1, "concurrent", "8")
    for r in many["results"]:
        assert r["text"] == single["text"] and r["finish"] == single["finish"], r
        assert r["completion_tokens"] == single["completion_tokens"]
    tokens = sum(r["completion_tokens"] for r in many["results"])
    print(f"\n1 client: ttft {single['ttft']:.3f} s, {single['completion_tokens'] / single['seconds']:.1f} tok/s; "
          f"8 clients: ttft median {sorted(r['ttft'] for r in many['results'])[4]:.3f} s, "
          f"aggregate {tokens / many['wall']:.1f} tok/s")
    assert lab.stop(1) == 0
