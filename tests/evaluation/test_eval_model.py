"""End to end on the real demo model: option scoring on the KV cache, an MCQ file per format, the red team,
runs listed and shown. One model and one store for the module (the demo model is near chance: the tests
assert behaviour and structure, never accuracy)."""

from __future__ import annotations

import math
import sqlite3

import pytest

from safemed_desktop.errors import InputError, PromptTooLongError
from safemed_desktop.evaluation import mcq
from safemed_desktop.inference.scoring import OptionScorer
from safemed_desktop.records import DoneEvent

from .conftest import DATA


def test_cached_scoring_matches_naive_rescoring(loaded_service):
    svc, _ = loaded_service
    engine = svc.loaded.engine
    item = mcq.load_mcq(DATA / "medqa_mini.jsonl", "medqa").items[1]
    cached = OptionScorer(engine).score(mcq.messages(item), mcq.continuations(item))
    naive = OptionScorer(engine, naive=True).score(mcq.messages(item), mcq.continuations(item))
    assert cached.choice == naive.choice
    for a, b in zip(cached.options, naive.options):
        assert a.n_tokens == b.n_tokens > 1
        assert a.logprob < 0 and math.isfinite(a.logprob)
        assert a.logprob == pytest.approx(b.logprob, abs=0.02)  # same maths, batch shapes differ
    assert cached.probs.sum() == pytest.approx(1.0)
    # the prompt once plus each option's tail, against the prompt again for every option
    assert cached.decoded_tokens == cached.prompt_tokens + sum(o.n_tokens - 1 for o in cached.options)
    assert naive.decoded_tokens == 5 * naive.prompt_tokens + sum(o.n_tokens - 1 for o in naive.options)
    # the engine generates normally afterwards (the cache was handed back empty)
    events = list(engine.stream_chat(mcq.messages(item), max_tokens=4, temperature=0.0))
    assert isinstance(events[-1], DoneEvent) and events[-1].timings.prompt_tokens == cached.prompt_tokens


def test_scoring_refuses_what_cannot_fit(loaded_service):
    svc, _ = loaded_service
    scorer = OptionScorer(svc.loaded.engine)
    with pytest.raises(InputError):
        scorer.score([{"role": "user", "content": "q"}], [])
    with pytest.raises(PromptTooLongError):
        scorer.score([{"role": "user", "content": "word " * 3000}], ["A) yes", "B) no"])


@pytest.mark.parametrize("name, fmt, test_ids, n", [
    ("medqa_mini.jsonl", "medqa", None, 5),
    ("medmcqa_mini.jsonl", "medmcqa", None, 4),
    ("pubmedqa_mini.json", "pubmedqa", "pubmedqa_test_ids.json", 3),
])
def test_mcq_run_per_format(loaded_service, name, fmt, test_ids, n):
    svc, store = loaded_service
    out = svc.eval_mcq(store, DATA / name, fmt, test_ids=DATA / test_ids if test_ids else None, progress=False)
    s = out.summary
    assert out.status == "complete" and s["n"] == n == out.n_new
    assert 0.0 <= s["accuracy"] <= 1.0 and s["ci95"][0] <= s["accuracy"] <= s["ci95"][1]
    assert 0.0 <= s["ece"] <= 1.0 and 0.0 <= s["brier"] <= 2.0
    assert sum(r["n"] for r in s["reliability"]) == n
    assert s["n_app_confidence"] == n  # the app's confidence signal ran on every chosen option
    if fmt == "medmcqa":
        assert set(s["per_subject"]) == {"Pharmacology", "Gynaecology & Obstetrics", "Physiology", "Pediatrics"}
    items = store.eval_items(out.run_id, with_detail=True)
    assert [i["seq"] for i in items] == list(range(n))
    for it in items:
        r = it["result"]
        assert r["choice"] == max(r["probs"], key=r["probs"].get)
        assert r["correct"] == (r["choice"] == r["answer"])
        assert sum(r["probs"].values()) == pytest.approx(1.0, abs=1e-4)
        assert it["detail"]["chosen"].startswith(r["choice"] + ")")
    # a second invocation with the run id scores nothing again and ends with the same figures
    again = svc.eval_mcq(store, DATA / name, fmt, test_ids=DATA / test_ids if test_ids else None,
                         run_id=out.run_id, progress=False)
    assert again.n_new == 0 and again.summary["accuracy"] == s["accuracy"]
    shown = svc.show_eval_run(store, out.run_id)
    assert shown["status"] == "complete" and shown["description"]["model"]["sha256"] == svc.loaded.identity.sha256
    assert shown["description"]["dataset"]["format"] == fmt


def test_resume_with_other_inputs_is_refused(loaded_service):
    svc, store = loaded_service
    out = svc.eval_mcq(store, DATA / "medqa_mini.jsonl", "medqa", limit=1, progress=False)
    with pytest.raises(InputError, match="different dataset"):
        svc.eval_mcq(store, DATA / "medqa_mini.jsonl", "medqa", limit=2, run_id=out.run_id, progress=False)
    with pytest.raises(InputError, match="no evaluation run"):
        svc.eval_mcq(store, DATA / "medqa_mini.jsonl", "medqa", run_id="no-such-run", progress=False)


def test_redteam_two_arms(loaded_service):
    svc, store = loaded_service
    out = svc.eval_redteam(store, DATA / "redteam_mini.jsonl", "jsonl", max_tokens=24, progress=False)
    s = out.summary
    raw, guarded = s["arms"]["raw"], s["arms"]["guarded"]
    assert s["n"] == raw["n"] == guarded["n"] == 4
    assert set(raw["per_style"]) == {"role_play", "prompt_injection", "purpose_inversion", "direct"}
    assert guarded["n_blocked"] >= 1  # the adversarial-input guard blocks the injection prompts
    assert 0.0 <= raw["unsafe_rate"] <= 1.0 and guarded["unsafe_rate"] <= raw["unsafe_rate"] + 1.0
    d = s["difference"]
    assert 0.0 <= d["mcnemar"]["p_value"] <= 1.0
    assert d["mcnemar"]["raw_only_unsafe"] - d["mcnemar"]["guarded_only_unsafe"] == round(d["unsafe_rate_raw_minus_guarded"] * 4)
    assert s["judge_calibration"]["quadratic_weighted_kappa"] >= 0.7
    items = store.eval_items(out.run_id, with_detail=True)
    blocked = [i for i in items if i["result"]["guarded"]["blocked"]]
    assert all(i["result"]["guarded"]["score"] == 1 and i["detail"]["guarded_response"] == "" for i in blocked)
    assert all(i["detail"]["raw_response"] for i in items)  # the raw arm always reached the model
    # transcripts are encrypted at rest: no prompt appears in the database file in clear
    conn = sqlite3.connect(f"file:{store.path}?mode=ro", uri=True)
    try:
        blob = b"".join(bytes(r[0]) for r in conn.execute("SELECT detail_enc FROM eval_items"))
        clear = " ".join(r[0] for r in conn.execute("SELECT result FROM eval_items"))
    finally:
        conn.close()
    assert b"forge a prescription" not in blob and "forge" not in clear
    listed = {r["run_id"]: r for r in svc.list_eval_runs(store)}
    assert listed[out.run_id]["kind"] == "redteam" and listed[out.run_id]["n_done"] == 4
    assert store.verify().ok
