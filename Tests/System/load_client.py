"""Runs inside a lab host: N chat requests spread round-robin over the given nodes, C at a time, using
only the standard library. Prints one JSON document: counts, failures with their reasons, wall time,
and the RSS of the given processes sampled after `warmup` requests and at the end.

usage: load_client.py MODEL N C WARMUP PIDS URL...   (PIDS: comma-separated, may be empty)"""
import json
import sys
import threading
import time
import urllib.request


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    model, total, concurrency, warmup, pids = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    urls = sys.argv[6:]
    pids = [int(p) for p in pids.split(",") if p]
    lock = threading.Lock()
    state = {"next": 0, "ok": 0, "texts": set(), "failures": [], "rss_start": None}

    def one(index):
        body = json.dumps({"model": model, "temperature": 0, "max_tokens": 4,
                           "messages": [{"role": "user", "content": f"Say a number. Request {index % 10}."}]}).encode()
        request = urllib.request.Request(urls[index % len(urls)] + "/v1/chat/completions", data=body,
                                         headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                answer = json.loads(response.read())
            text = answer["choices"][0]["message"]["content"]
            assert answer["usage"]["completion_tokens"] > 0
            return None, (index % 10, text)
        except Exception as error:  # every failure is reported, none is retried
            detail = getattr(error, "read", lambda: b"")()
            return f"request {index} to {urls[index % len(urls)]}: {error} {detail[:200]!r}", None

    def worker():
        while True:
            with lock:
                index = state["next"]
                if index >= total:
                    return
                state["next"] += 1
            failure, answer = one(index)
            with lock:
                if failure:
                    state["failures"].append(failure)
                else:
                    state["ok"] += 1
                    state["texts"].add(answer)
                if state["ok"] + len(state["failures"]) == warmup:
                    state["rss_start"] = {pid: rss_kib(pid) for pid in pids}

    start = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - start
    # Greedy decoding: the same prompt must give the same text whichever node served it.
    by_prompt = {}
    for prompt, text in state["texts"]:
        by_prompt.setdefault(prompt, set()).add(text)
    print(json.dumps({
        "ok": state["ok"], "failures": state["failures"][:20], "failed": len(state["failures"]), "seconds": wall,
        "inconsistent": {str(k): sorted(v) for k, v in by_prompt.items() if len(v) > 1},
        "rss_start_kib": state["rss_start"], "rss_end_kib": {pid: rss_kib(pid) for pid in pids},
    }))


if __name__ == "__main__":
    main()
