"""Gemma 3 270M as a 2-rank pipeline over two namespace nodes answers with the text one node gives alone:
the sliding-window layers, their rings and their own RoPE run per rank, and the hidden states between
ranks carry everything (../shared/fixtures/real/gemma-3-270m-q4_k_m.json for the conversations)."""
import json
import time

import pytest

from lab import REAL_MODELS as MODELS
from test_chat import FIXTURES
from test_faults import start_converged
from test_instances import local
from test_pipeline import assert_clean_logs, ready_everywhere

GEMMA = "gemma-3-270m-q4_k_m"


def gemma_cases():
    return json.loads((FIXTURES / "real" / f"{GEMMA}.json").read_text())["chat"]


def answer(lab, host, messages):
    body = {"model": GEMMA, "messages": messages, "max_tokens": 48, "temperature": 0}
    status, text = lab.http(host, "/v1/chat/completions", method="POST", body=body, timeout=120)
    assert status == 200, text
    choice = json.loads(text)["choices"][0]
    return choice["message"]["content"], choice["finish_reason"]


def test_a_two_rank_gemma_pipeline_gives_the_single_node_text(make_lab):
    if not (MODELS / f"{GEMMA}.gguf").exists():
        pytest.fail(f"{MODELS / (GEMMA + '.gguf')} is missing; run scripts/fetch-model.sh --model gemma-3-270m")

    # One node alone: its in-process answers are the reference.
    alone = make_lab(1)
    alone.models_dir = MODELS
    alone.start(1)
    alone.wait_for(lambda: alone.json(1, "/health"), timeout=30, what="/health")
    assert GEMMA in [m["id"] for m in alone.json(1, "/v1/models")["data"]]
    expected = [answer(alone, 1, case["messages"]) for case in gemma_cases()]
    assert alone.stop(1) == 0

    lab = make_lab(2)
    lab.models_dir = MODELS
    start_converged(lab, (1, 2))
    proposed = time.monotonic()
    status, created = local(lab, 1, "POST", "/instances", {"model": GEMMA, "min_nodes": 2})
    assert status == 201, created
    row = lab.wait_for(lambda: ready_everywhere(lab, (1, 2), created["id"]), timeout=120, what="both Gemma ranks ready on both nodes")
    print(f"\nboth Gemma ranks ready {time.monotonic() - proposed:.2f} s after the proposal: "
          f"{[(r['layerStart'], r['layerEnd']) for r in row['ranks']]}")
    assert len(row["ranks"]) == 2 and row["ranks"][0]["layerStart"] == 0 and row["ranks"][-1]["layerEnd"] == 18
    # From either node: the driving one and the one that forwards to it.
    for host in (1, 2):
        for case, reference in zip(gemma_cases(), expected):
            assert answer(lab, host, case["messages"]) == reference, (host, case["messages"])
    assert_clean_logs(lab, (1, 2))
    for host in (1, 2):
        assert lab.stop(host) == 0
