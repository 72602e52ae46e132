"""llama.cpp's prefill and decode speed on a GGUF file, measured the way `exo-peer bench`
measures the engine: the same prompt text cut to the same token count, greedy decoding of the
same number of tokens, best of `--repeats`. Prints one JSON object per thread count.

Run by `exo-peer bench --llama-cpp-python PYTHON` with the interpreter of the virtualenv that
scripts/bench.sh makes; not part of the test suite."""
import argparse
import json
import sys
import time

from llama_cpp import Llama


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--prompt", type=int, default=128)
    p.add_argument("--decode", type=int, default=128)
    p.add_argument("--threads", type=int, action="append", required=True)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--text", required=True)
    a = p.parse_args()
    for threads in a.threads:
        llm = Llama(model_path=a.model, n_ctx=max(512, a.prompt + a.decode + 8), n_batch=512,
                    n_threads=threads, n_threads_batch=threads, flash_attn=True, verbose=False)
        tokens = llm.tokenize(a.text.encode(), add_bos=False, special=False)[: a.prompt]
        best_prefill = best_decode = 0.0
        for _ in range(a.repeats):
            llm.reset()
            start = time.perf_counter()
            llm.eval(tokens)
            token = int(llm.scores[llm.n_tokens - 1].argmax())
            prefilled = time.perf_counter()
            for _ in range(a.decode - 1):
                llm.eval([token])
                token = int(llm.scores[llm.n_tokens - 1].argmax())
            end = time.perf_counter()
            best_prefill = max(best_prefill, len(tokens) / (prefilled - start))
            best_decode = max(best_decode, (a.decode - 1) / (end - prefilled))
        print(json.dumps({"threads": threads, "prefill": best_prefill, "decode": best_decode,
                          "prompt_tokens": len(tokens)}), flush=True)
        del llm


if __name__ == "__main__":
    sys.exit(main())
