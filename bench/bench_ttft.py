"""Time to first token of the whole ask path vs raw llama-cpp-python, same prompt, same run.

The ask path (``SafeMedService.ask``) screens every question (``adversarial_input`` with its embedding
classifier, and ``scope``) before the first token may be shown. Two ways are timed, interleaved with the
baseline so that load bursts hit all three alike:

- ``overlap`` (``SafeMedService.prefill_during_screen = True``, the automatic choice on a GPU): prompt
  processing runs on a helper thread while the question is screened; the first token is held until the
  guard has decided;
- ``serial`` (``prefill_during_screen = False``, the automatic choice on a CPU): screen first, then start
  the model. This benchmark runs the model on the CPU, so ``serial`` is the default row.

Baseline: raw ``Llama.create_chat_completion(stream=True)`` on the same chat messages, same settings (n_ctx
2048, same threads, logits_all=False), time to its first chunk. Every run starts from an empty KV cache and
every question is new to the process (no embedding cache hit), so TTFT includes full prompt processing and
the full screen. ``SAFEMED_BENCH_THREADS`` (default 2) and ``SAFEMED_BENCH_TTFT_REPS`` (default 14) tune it.

Rows: overhead (ask TTFT - raw TTFT of the same round) p50/p95 for the chosen mode (target p50 <= 100 ms),
the same for the other mode, and the screen alone (question signals, classifier included) p50.

The adversarial screen is a cascade (issue 18): rules, then a lexical first stage that clears clearly benign
questions, then the embedding classifier where they are unsure (``signals.adversarial``). A fourth side,
``serial, no cascade`` (``adversarial.CASCADE = False``: the classifier on every question), gives the figure
before the cascade in the same run; a row says how many of the timed questions the first stage cleared.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import time

TARGET_P50_MS = 100.0
REPS = int(os.environ.get("SAFEMED_BENCH_TTFT_REPS", "14"))
QUESTIONS = (
    "What is the usual adult dose of amoxicillin for acute otitis media?",
    "How should metformin be adjusted when eGFR falls below 45?",
    "Can ibuprofen be combined with warfarin in an elderly patient?",
    "What is the first-line treatment of anaphylaxis in adults?",
)


def _p(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def run() -> dict:
    import llama_cpp

    from safemed_desktop.config import load_config
    from safemed_desktop.inference.engine import REPEAT_PENALTY, Engine
    from safemed_desktop.inference.prompt import build_messages
    from safemed_desktop.records import TokenEvent
    from safemed_desktop.service import SafeMedService
    from safemed_desktop.signals.pipeline import assess_question

    threads = int(os.environ.get("SAFEMED_BENCH_THREADS", "2"))
    engines: list[Engine] = []

    def factory(settings):
        engines.append(Engine(dataclasses.replace(settings, n_ctx=2048, n_threads=threads, n_gpu_layers=0)))
        return engines[-1]

    svc = SafeMedService(load_config(), engine_factory=factory)
    loaded = svc.load_model()
    engine = engines[-1]
    chat_format = loaded.identity.chat_format
    raw = llama_cpp.Llama(str(loaded.resolved.path), n_ctx=2048, n_threads=threads, n_threads_batch=threads,
                          seed=1234, logits_all=False, verbose=False)

    def ask_ttft(question: str, overlap: bool) -> float:
        svc.prefill_during_screen = overlap
        engine.reset_cache()
        t0 = time.perf_counter()
        first = None
        gen = svc.ask(question, max_tokens=8, temperature=0.0)
        for item in gen:
            if first is None and isinstance(item, TokenEvent):
                first = time.perf_counter()
                svc.cancel()
        if first is None:
            raise RuntimeError(f"the ask path yielded no token for {question!r}")
        return first - t0

    def raw_ttft(question: str) -> float:
        raw.reset()
        messages = build_messages(question, None, chat_format)
        t0 = time.perf_counter()
        first = None
        for _chunk in raw.create_chat_completion(messages, stream=True, max_tokens=8, temperature=0.0,
                                                 repeat_penalty=REPEAT_PENALTY):
            if first is None:
                first = time.perf_counter()
        return first - t0

    # warm-up: model, embedder, packs (questions the timed rounds never use)
    for mode in (True, False):
        ask_ttft(f"{QUESTIONS[0]} (warm-up {mode})", mode)
    from safemed_desktop.signals import adversarial as _adv

    _adv.CASCADE = False  # warm the embedding classifier too (the cascade may clear the warm-up questions)
    try:
        ask_ttft(f"{QUESTIONS[0]} (warm-up classifier)", False)
    finally:
        _adv.CASCADE = True
    raw_ttft(QUESTIONS[0])

    from safemed_desktop.signals import adversarial
    from safemed_desktop.signals.gate import load_gate

    over: dict[str, list[float]] = {"overlap": [], "serial": [], "nocascade": []}
    cleared = 0
    raws: list[float] = []
    screen: list[float] = []
    n = 0
    for rep in range(REPS):
        q = QUESTIONS[rep % len(QUESTIONS)]
        order = ["raw", "overlap", "serial", "nocascade"]
        order = order[rep % 4:] + order[: rep % 4]
        res: dict[str, float] = {}
        for side in order:
            n += 1
            question = f"{q} (case {rep}-{side})"  # new text: no embedding cache hit
            if side == "raw":
                res[side] = raw_ttft(question)
            elif side == "nocascade":
                adversarial.CASCADE = False
                try:
                    res[side] = ask_ttft(question, False)
                finally:
                    adversarial.CASCADE = True
            else:
                cleared += side == "serial" and load_gate().clears(question)[0]
                res[side] = ask_ttft(question, side == "overlap")
        raws.append(res["raw"])
        for mode in over:
            over[mode].append((res[mode] - res["raw"]) * 1000.0)
        t0 = time.perf_counter()
        assess_question(f"{q} (screen {rep})")
        screen.append((time.perf_counter() - t0) * 1000.0)
    svc.prefill_during_screen = None
    chosen = "overlap" if svc._overlap(loaded) else "serial"
    other = "serial" if chosen == "overlap" else "overlap"
    raw.close()
    svc.unload_model()

    rows = [
        {"metric": f"ask TTFT overhead vs raw p50 ms ({chosen}, default)", "value": round(_p(over[chosen], 50), 1),
         "target": f"<= {TARGET_P50_MS:g} ms", "pass": _p(over[chosen], 50) <= TARGET_P50_MS},
        {"metric": f"ask TTFT overhead vs raw p95 ms ({chosen})", "value": round(_p(over[chosen], 95), 1),
         "target": "info", "pass": None},
        {"metric": f"ask TTFT overhead vs raw p50 ms ({other})", "value": round(_p(over[other], 50), 1),
         "target": "info", "pass": None},
        {"metric": f"ask TTFT overhead vs raw p95 ms ({other})", "value": round(_p(over[other], 95), 1),
         "target": "info", "pass": None},
        {"metric": "ask TTFT overhead vs raw p50 ms (serial, no cascade: before)", "value": round(_p(over["nocascade"], 50), 1),
         "target": "info", "pass": None},
        {"metric": "ask TTFT overhead vs raw p95 ms (serial, no cascade: before)", "value": round(_p(over["nocascade"], 95), 1),
         "target": "info", "pass": None},
        {"metric": "timed questions the first stage cleared (serial side)", "value": f"{cleared}/{REPS}",
         "target": "info", "pass": None},
        {"metric": "raw llama-cpp-python TTFT p50 ms (baseline)", "value": round(_p(raws, 50) * 1000.0, 1),
         "target": "info", "pass": None},
        {"metric": "question screen alone p50 ms (classifier included)", "value": round(_p(screen, 50), 1),
         "target": "info", "pass": None},
    ]
    return {"title": f"Ask-path time to first token vs raw llama-cpp-python ({threads} threads, demo model)",
            "rows": rows, "rounds": REPS}
