"""Runs inside a lab host: the official `openai` client against a node. Prints one JSON document.

usage: openai_client.py BASE_URL MODEL MODE
  MODE "conversations": each conversation streamed and not; answers and finish reasons.
  MODE "concurrent N":  N clients at once on the same question; answers, time to first token, tok/s.
"""
import json
import sys
import threading
import time

from openai import OpenAI

CONVERSATIONS = [
    [{"role": "user", "content": "What is 2+2?"}],
    [{"role": "system", "content": "You are a terse assistant."}, {"role": "user", "content": "Name a primary color."}],
    [{"role": "user", "content": "My name is Ada."}, {"role": "assistant", "content": "Nice to meet you, Ada!"},
     {"role": "user", "content": "What is my name?"}],
]


def ask(client, model, messages, stream, max_tokens=48):
    if not stream:
        r = client.chat.completions.create(model=model, messages=messages, temperature=0, max_tokens=max_tokens)
        return {"text": r.choices[0].message.content, "finish": r.choices[0].finish_reason,
                "completion_tokens": r.usage.completion_tokens}
    start, first, pieces, finish, usage = time.monotonic(), None, [], None, None
    for chunk in client.chat.completions.create(model=model, messages=messages, temperature=0, max_tokens=max_tokens,
                                                stream=True, stream_options={"include_usage": True}):
        if chunk.usage:
            usage = chunk.usage.completion_tokens
        for choice in chunk.choices:
            if choice.delta.content:
                if first is None:
                    first = time.monotonic()
                pieces.append(choice.delta.content)
            if choice.finish_reason:
                finish = choice.finish_reason
    end = time.monotonic()
    return {"text": "".join(pieces), "finish": finish, "completion_tokens": usage,
            "ttft": (first or end) - start, "seconds": end - start}


def main():
    base, model, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    client = OpenAI(base_url=base, api_key="unused", max_retries=0, timeout=300)
    if mode == "conversations":
        out = [{"plain": ask(client, model, c, False), "streamed": ask(client, model, c, True)} for c in CONVERSATIONS]
    else:
        count = int(sys.argv[4])
        results = [None] * count
        question = [{"role": "user", "content": "Write one sentence about the sea."}]

        def run(i):
            results[i] = ask(OpenAI(base_url=base, api_key="unused", max_retries=0, timeout=300), model, question, True, 64)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
        start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        out = {"results": results, "wall": time.monotonic() - start}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
