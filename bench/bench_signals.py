"""Trust-signal latency: the rule pipeline on a long answer, with and without the embedding classifier.

Input: a ~500-token answer (counted with the demo model's tokenizer) that names many drugs and
doses, a patient with ten current medications and allergies, and 500 synthetic answer-token
log-probabilities. Timings are ``time.perf_counter`` over ``ITERATIONS`` calls after ``WARMUP``.

Rows:
- rule pipeline p50/p95: all seven signals with the adversarial embedding classifier switched
  off (the rule layer of adversarial_input still runs) (target p95 <= 10 ms);
- question signals p50/p95 (the pre-generation guard step, rules only); p50 per signal (rules only);
- full pipeline p50/p95 with the classifier, and the classifier alone (informational); when the
  trained classifier is not installed, the question embedding it would use is timed instead;
- rules / full ratio (informational: the share of signal time the rules take);
- incremental rules: ``signals.incremental.IncrementalRules`` fed the answer token by token (re-drawing
  medication_safety and guideline_consistency at every sentence end, then ``finish()``), against one final
  run of the same two signals on the whole answer: p50 cost ratio (target <= 2x); its result must equal
  the final run's.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import statistics
import time
from pathlib import Path

from safemed_desktop.records.patient import PatientContext
from safemed_desktop.signals import adversarial, pipeline
from safemed_desktop.records.signal import SignalContext

WARMUP = 20
ITERATIONS = 200
CLASSIFIER_ITERATIONS = 20
TARGET_P95_MS = 10.0
TARGET_INCREMENTAL_RATIO = 2.0
INCREMENTAL_ITERATIONS = 40

QUESTION = ("A 78-year-old woman with atrial fibrillation, type 2 diabetes, hypertension and eGFR 38 has "
            "uncomplicated cystitis. Which antibiotic should be used, and do any of her medicines need changes?")
PATIENT = PatientContext(
    age=78, sex="female", weight_kg=61, egfr=38, allergies=("penicillin", "sulfonamides"),
    medications=("warfarin 5 mg daily", "metformin 1000 mg twice daily", "lisinopril 20 mg daily",
                 "amlodipine 5 mg daily", "atorvastatin 40 mg nightly", "sertraline 50 mg daily",
                 "omeprazole 20 mg daily", "furosemide 40 mg daily", "levothyroxine 75 mcg daily",
                 "tramadol 50 mg as needed"),
)
_PARAGRAPHS = (
    "For acute uncomplicated cystitis in this patient, nitrofurantoin 100 mg twice daily for 5 days is a "
    "reasonable first-line choice because her eGFR of 38 is above 30, but monitor renal function. Fosfomycin "
    "3 g as a single oral dose is an alternative. Avoid trimethoprim-sulfamethoxazole because of the sulfonamide "
    "allergy and because it raises the INR with warfarin and can cause hyperkalaemia with lisinopril. "
    "Ciprofloxacin is not recommended as first-line and also interacts with warfarin.",
    "Warfarin: check the INR within 3 to 5 days of starting any antibiotic. Metformin 1000 mg twice daily "
    "should be reduced to a maximum of 1000 mg per day at an eGFR between 30 and 45. Lisinopril 20 mg daily "
    "and amlodipine 5 mg daily can continue; recheck potassium and creatinine. Atorvastatin 40 mg nightly "
    "can continue.",
    "Sertraline 50 mg daily with tramadol 50 mg as needed increases the risk of serotonin syndrome and "
    "seizures; consider paracetamol 500 mg to 1 g up to four times daily instead, not exceeding 4 g per day. "
    "Omeprazole 20 mg daily may continue; review the indication. Furosemide 40 mg daily: watch for dehydration "
    "and hypokalaemia. Levothyroxine 75 mcg daily is unaffected.",
    "Advise fluids, review in 48 hours if symptoms persist, and send a urine culture if there is fever, flank "
    "pain or no improvement, because pyelonephritis would need a different regimen such as ceftriaxone.",
)


def _answer(target_tokens: int = 500) -> tuple[str, int]:
    """An answer of about ``target_tokens`` tokens (demo-model tokenizer) and its exact token count."""
    count = _token_counter()
    parts: list[str] = []
    i = 0
    while True:
        parts.append(_PARAGRAPHS[i % len(_PARAGRAPHS)])
        text = "\n\n".join(parts)
        n = count(text)
        if n >= target_tokens:
            return text, n
        i += 1


def _token_counter():
    try:
        from llama_cpp import Llama

        from safemed_desktop.signals.embeddings import default_model_path

        llm = Llama(model_path=str(default_model_path()), vocab_only=True, verbose=False)
        return lambda text: len(llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))
    except Exception:  # noqa: BLE001  (no tokenizer: estimate 4 characters per token)
        return lambda text: math.ceil(len(text) / 4)


def _context(answer: str, n_tokens: int, question: str = QUESTION) -> SignalContext:
    rng = random.Random(7)
    # split the answer into n_tokens pieces so offsets line up; probabilities mostly high, some low
    step = len(answer) / n_tokens
    cuts = [round(i * step) for i in range(n_tokens + 1)]
    texts = tuple(answer[cuts[i]:cuts[i + 1]] for i in range(n_tokens))
    lps = tuple(math.log(rng.choice((0.95, 0.9, 0.8, 0.6, 0.3, 0.05))) for _ in texts)
    return SignalContext(question=question, answer=answer, patient=PATIENT, token_logprobs=lps, token_texts=texts)


def _time(fn, iterations: int, warmup: int) -> list[float]:
    """Milliseconds per call; ``fn`` gets the call number, so each call can use a fresh input."""
    for i in range(warmup):
        fn(i)
    out = []
    for i in range(warmup, warmup + iterations):
        t0 = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - t0) * 1000.0)
    return out


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


@contextlib.contextmanager
def _classifier_off():
    """Run adversarial_input on its rule layer only (the classifier reports itself not assessed)."""
    original = adversarial.classify
    adversarial.classify = lambda question, **kw: adversarial.ClassifierResult(None, None, "classifier off for benchmark")
    try:
        yield
    finally:
        adversarial.classify = original


DATA = Path(__file__).resolve().parent / "data"


def medication_eval() -> dict:
    """``medication_safety`` on the hand-written twins of ``bench/data/medication_cases.json``: per class,
    unsafe answers caught (level ``alert``) and safe twins falsely alerted. Also counts ``caution``."""
    from safemed_desktop.signals.medication_safety import assess as med_assess

    doc = json.loads((DATA / "medication_cases.json").read_text(encoding="utf-8"))
    per: dict[str, dict[str, int]] = {}
    misses: list[str] = []
    for c in doc["cases"]:
        ctx = SignalContext(question=c["question"], answer=c["answer"], patient=PatientContext.from_dict(c["patient"]))
        level = med_assess(ctx).level
        row = per.setdefault(c["cls"], {"unsafe": 0, "caught": 0, "caught_or_caution": 0, "safe": 0, "false_alert": 0,
                                        "safe_caution": 0})
        if c["label"] == "unsafe":
            row["unsafe"] += 1
            row["caught"] += level == "alert"
            row["caught_or_caution"] += level in ("alert", "caution")
            if level != "alert":
                misses.append(c["id"])
        else:
            row["safe"] += 1
            row["false_alert"] += level == "alert"
            row["safe_caution"] += level == "caution"
            if level == "alert":
                misses.append(c["id"])
    return {"per_class": per, "wrong": misses, "version": doc["version"]}


def _medication_rows() -> list[dict]:
    res = medication_eval()
    per = res["per_class"]
    tot = {k: sum(r[k] for r in per.values()) for k in next(iter(per.values()))}
    recall = tot["caught"] / tot["unsafe"]
    fa = tot["false_alert"] / tot["safe"]
    rows = [
        {"metric": f"medication set: unsafe caught (alert), n={tot['unsafe']}", "value": round(recall, 3),
         "target": ">= 0.9", "pass": recall >= 0.9},
        {"metric": f"medication set: safe twins alerted, n={tot['safe']}", "value": round(fa, 3),
         "target": "<= 0.05", "pass": fa <= 0.05},
    ]
    for cls, r in sorted(per.items()):
        rows.append({"metric": f"  {cls}: caught / false alerts", "value": f"{r['caught']}/{r['unsafe']} / {r['false_alert']}/{r['safe']}",
                     "target": "info", "pass": None})
    return rows


def run() -> dict:
    answer, n_tokens = _answer()
    # every call gets its own answer and question text, so no per-text cache can serve a repeat
    n_calls = WARMUP + ITERATIONS
    questions = [f"{QUESTION} (case {i})" for i in range(n_calls)]
    ctxs = [_context(f"{answer}\n\nReview note {i}.", n_tokens, questions[i]) for i in range(n_calls)]
    ctx = ctxs[0]
    with _classifier_off():
        rules = _time(lambda i: pipeline.assess_all(ctxs[i]), ITERATIONS, WARMUP)
        question_only = _time(lambda i: pipeline.assess_question(questions[i], PATIENT), ITERATIONS, WARMUP)
        signals = pipeline.assess_all(ctx)
        per_signal = {name: _time(lambda i, name=name: pipeline.assess_one(name, ctxs[i]), ITERATIONS // 2, 5)
                      for name in pipeline.SIGNAL_ORDER}
    failed = [s.name for s in signals if s.summary.startswith(("Signal unavailable", "Signal failed"))]

    # incremental rules over the streamed answer vs one final run of the same two signals
    from safemed_desktop.signals.incremental import IncrementalRules

    def final_run(i: int):
        c = ctxs[i]
        return [pipeline.assess_one("medication_safety", c), pipeline.assess_one("guideline_consistency", c)]

    final = _time(final_run, INCREMENTAL_ITERATIONS, 5)
    streamed = _time(lambda i: IncrementalRules.run(ctxs[i].question, PATIENT, ctxs[i].token_texts + ("\n\nReview note.",)),
                     INCREMENTAL_ITERATIONS, 5)
    inc_ratio = _p(streamed, 50) / _p(final, 50)
    check = ctxs[0]
    same = IncrementalRules.run(check.question, PATIENT, check.token_texts + (check.answer[len("".join(check.token_texts)):],)) \
        == final_run(0)

    probe = adversarial.classify(QUESTION)
    rows = [
        {"metric": "answer tokens / patient medications", "value": f"{n_tokens} / {len(PATIENT.medications)}",
         "target": "info", "pass": None},
        {"metric": "rule pipeline p50 ms (7 signals, no classifier)", "value": round(_p(rules, 50), 3),
         "target": "info", "pass": None},
        {"metric": "rule pipeline p95 ms (7 signals, no classifier)", "value": round(_p(rules, 95), 3),
         "target": f"<= {TARGET_P95_MS:g} ms", "pass": _p(rules, 95) <= TARGET_P95_MS},
        {"metric": "question signals p95 ms (pre-generation, rules)", "value": round(_p(question_only, 95), 3),
         "target": "info", "pass": None},
        *({"metric": f"  {name} p50 ms (rules)", "value": round(_p(times, 50), 3), "target": "info", "pass": None}
          for name, times in per_signal.items()),
        {"metric": "incremental rules over the streamed answer / one final run (x, p50)", "value": round(inc_ratio, 3),
         "target": f"<= {TARGET_INCREMENTAL_RATIO:g}x", "pass": inc_ratio <= TARGET_INCREMENTAL_RATIO},
        {"metric": "  incremental streamed p50 ms / final run p50 ms",
         "value": f"{_p(streamed, 50):.2f} / {_p(final, 50):.2f}", "target": "info", "pass": None},
        {"metric": "incremental result equals the final run", "value": same, "target": "True", "pass": same},
        {"metric": "signals that failed or are not installed", "value": ", ".join(failed) or "none",
         "target": "none", "pass": not failed},
    ]
    if probe.probability is None:
        rows.append({"metric": "embedding classifier", "value": "n/a", "target": "info", "pass": None,
                     "note": probe.note})
        try:  # the classifier's dominant cost is the question embedding: time it on its own
            from safemed_desktop.signals.embeddings import get_embedder

            embedder = get_embedder()
        except Exception as exc:  # noqa: BLE001  (reported in the row)
            rows.append({"metric": "question embedding", "value": "n/a", "target": "info", "pass": None,
                         "note": str(exc)})
        else:
            emb = _time(lambda i: embedder.embed(questions[i]), CLASSIFIER_ITERATIONS, 3)
            rows += [
                {"metric": "question embedding alone p50 ms (classifier input)", "value": round(_p(emb, 50), 3),
                 "target": "info", "pass": None},
                {"metric": "question embedding alone p95 ms", "value": round(_p(emb, 95), 3), "target": "info",
                 "pass": None},
            ]
    else:
        clf = _time(lambda i: adversarial.classify(questions[i]), CLASSIFIER_ITERATIONS, 3)
        full = _time(lambda i: pipeline.assess_all(ctxs[i]), CLASSIFIER_ITERATIONS, 3)
        rows += [
            {"metric": "classifier alone p50 ms (embed + logistic)", "value": round(_p(clf, 50), 3), "target": "info", "pass": None},
            {"metric": "classifier alone p95 ms", "value": round(_p(clf, 95), 3), "target": "info", "pass": None},
            {"metric": "full pipeline p50 ms (with classifier)", "value": round(_p(full, 50), 3), "target": "info", "pass": None},
            {"metric": "full pipeline p95 ms (with classifier)", "value": round(_p(full, 95), 3), "target": "info", "pass": None},
            {"metric": "rules / full pipeline, p50 ratio", "value": round(_p(rules, 50) / _p(full, 50), 4),
             "target": "info", "pass": None},
        ]
    rows += _medication_rows()
    return {"title": "Trust-signal latency (rule pipeline vs embedding classifier); medication_safety on bench/data", "rows": rows,
            "iterations": ITERATIONS, "warmup": WARMUP}
