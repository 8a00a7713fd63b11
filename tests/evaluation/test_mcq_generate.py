"""``eval mcq --mode generate`` on the real demo model: the model reasons, then a llama.cpp grammar limits its
answer to the item's option letters, and the letters are scored from the same extended prompt. The demo model
is near chance: the tests assert behaviour (valid letters only, resume equals an uninterrupted run, a clean
cache), never accuracy."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest

from safemed_desktop.errors import GenerationCancelled, InputError
from safemed_desktop.evaluation import mcq
from safemed_desktop.inference.scoring import OptionScorer, choice_grammar
from safemed_desktop.records import DoneEvent

from .conftest import DATA, eval_env

THINK = 12  # a small thinking budget keeps the tests quick; the demo model often stops sooner


def test_choice_grammar_is_exactly_the_choices():
    assert choice_grammar([" A", " B"]) == 'root ::= " A" | " B"'
    assert choice_grammar(['say "x"\\n']) == r'root ::= "say \"x\"\\n"'
    with pytest.raises(InputError):
        choice_grammar([])
    with pytest.raises(InputError):
        choice_grammar(["A", ""])


def test_grammar_picks_only_among_the_allowed_choices(loaded_service):
    svc, _ = loaded_service
    engine = svc.loaded.engine
    scorer = OptionScorer(engine)
    item = mcq.load_mcq(DATA / "medqa_mini.jsonl", "medqa").items[1]
    ext = scorer.prompt_tokens(mcq.messages(item)) + engine.text_tokens("\nAnswer:")
    conts = [f" {L}" for L in item.letters()]
    free = scorer.score_tokens(ext, conts)
    assert free.constrained is None
    ranked = sorted(conts, key=lambda c: free.logprobs[conts.index(c)])
    allowed = ranked[:2]  # the two letters the model likes least: the grammar must still answer with one of them
    picked = scorer.score_tokens(ext, allowed, choose_from=allowed)
    assert picked.constrained in allowed and ranked[-1] not in allowed
    # with the grammar over every letter, it agrees with the scores (each letter is one token here)
    both = scorer.score_tokens(ext, conts, choose_from=conts)
    assert both.constrained == conts[free.choice]
    assert both.logprobs == pytest.approx(free.logprobs, abs=1e-4)
    # choices that take several tokens are spelled out whole, and the scores after them are unchanged
    words = [" Protamine sulfate", " Vitamin K", " Naloxone"]
    multi = scorer.score_tokens(ext, words, choose_from=words)
    assert multi.constrained in words and max(o.n_tokens for o in multi.options) > 1
    assert multi.logprobs == pytest.approx(scorer.score_tokens(ext, words).logprobs, abs=1e-3)


def test_think_and_score_leaves_a_clean_cache(loaded_service):
    svc, _ = loaded_service
    engine = svc.loaded.engine
    scorer = OptionScorer(engine)
    item = mcq.load_mcq(DATA / "medqa_mini.jsonl", "medqa").items[0]
    prompt = scorer.prompt_tokens(mcq.generate_messages(item, "plain"))
    conts = mcq.letter_continuations(item, "plain")
    args = dict(choose_from=conts, max_tokens=THINK, stops=mcq.THINK_STOPS, answer_prefix="\nAnswer:",
                repeat_penalty=1.1)
    a, sa = scorer.think_and_score(prompt, conts, **args)
    b, sb = scorer.think_and_score(prompt, conts, **args)
    assert a == b and sa == sb  # deterministic, from an empty cache each time
    assert 1 <= a.n_generated <= THINK and a.stop in ("stop_string", "end", "budget")
    assert a.extended[:len(prompt)] == tuple(prompt) and a.extended[len(prompt):len(prompt) + len(a.tokens)] == a.tokens
    assert sa.constrained in conts and sa.prompt_tokens == len(a.extended)
    # only the answer prefix was decoded again, not the whole prompt
    assert sa.decoded_tokens < len(prompt)
    with pytest.raises(InputError):
        scorer.think_and_score(prompt, conts, **{**args, "max_tokens": 0})
    # the engine generates normally afterwards
    events = list(engine.stream_chat(mcq.messages(item), max_tokens=2, temperature=0.0))
    assert isinstance(events[-1], DoneEvent)


@pytest.mark.parametrize("name, fmt, test_ids, letters", [
    ("medqa_mini.jsonl", "medqa", None, None),
    ("pubmedqa_mini.json", "pubmedqa", "pubmedqa_test_ids.json", ["A", "B", "C"]),  # yes / no / maybe
])
def test_generate_run_gives_a_valid_letter_for_every_item(loaded_service, name, fmt, test_ids, letters):
    svc, store = loaded_service
    ids = DATA / test_ids if test_ids else None
    out = svc.eval_mcq(store, DATA / name, fmt, test_ids=ids, progress=False, mode="generate", think_tokens=THINK)
    data = mcq.load_mcq(DATA / name, fmt, test_ids=ids)
    s = out.summary
    assert out.status == "complete" and s["n"] == len(data.items) == out.n_new
    assert {"n", "accuracy", "ci95", "ece", "brier", "per_subject", "items_per_s", "reliability",
            "auroc_app_confidence", "chance_accuracy"} <= set(s)
    assert 0.0 <= s["accuracy"] <= 1.0 and sum(r["n"] for r in s["reliability"]) == s["n"]
    assert s["n_app_confidence"] == s["n"]
    items = store.eval_items(out.run_id, with_detail=True)
    for it, item in zip(items, data.items):
        r, d = it["result"], it["detail"]
        valid = item.letters()
        if letters is not None:
            assert valid == letters and [t for _, t in item.options] == ["yes", "no", "maybe"]
        assert r["choice"] in valid and r["grammar_choice"] == r["choice"]
        assert list(r["probs"]) == valid and sum(r["probs"].values()) == pytest.approx(1.0, abs=1e-4)
        assert r["confidence"] == r["probs"][r["choice"]]
        assert r["correct"] == (r["choice"] == item.answer)
        assert 1 <= r["think_tokens"] <= THINK and r["think_hit_budget"] == (r["think_stop"] == "budget")
        if r["think_hit_budget"]:
            assert r["think_tokens"] == THINK
        assert r["extended_tokens"] > r["prompt_tokens"] and r["decoded_tokens"] > r["prompt_tokens"]
        assert "reasoning" not in r  # the reasoning is in the encrypted detail only
        assert isinstance(d["reasoning"], str) and d["chosen"] == f" {r['choice']}"
        assert d["answer_prefix"] == "\nAnswer:" and "Think briefly" in d["messages"][1]["content"]
    run = svc.show_eval_run(store, out.run_id)
    settings = run["description"]["settings"]
    assert settings["mode"] == "generate" and settings["think_tokens"] == THINK and settings["temperature"] == 0.0
    assert run["description"]["prompt_template"]["version"] == mcq.GENERATE_PROMPT_VERSION
    assert run["description"]["prompt_template"]["sha256"] != mcq.template_sha256()
    # the reasoning never reaches the clear columns of the database
    conn = sqlite3.connect(f"file:{store.path}?mode=ro", uri=True)
    try:
        clear = " ".join(r[0] for r in conn.execute("SELECT result FROM eval_items WHERE run_id = ?", (out.run_id,)))
    finally:
        conn.close()
    for it in items:
        text = it["detail"]["reasoning"].strip()
        if len(text) >= 12:
            assert text not in clear


def test_interrupted_generate_run_resumes_to_the_uninterrupted_result(loaded_service, monkeypatch):
    svc, store = loaded_service
    path, kw = DATA / "medqa_mini.jsonl", dict(limit=3, progress=False, mode="generate", think_tokens=THINK)
    whole = svc.eval_mcq(store, path, "medqa", **kw)

    real = mcq.generate_item
    calls = []

    def stop_on_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl+C while the second item is in flight
        return real(*args, **kwargs)

    started = []
    monkeypatch.setattr(mcq, "generate_item", stop_on_second)
    with pytest.raises(GenerationCancelled):
        svc.eval_mcq(store, path, "medqa", on_start=lambda rid, n, done: started.append(rid), **kw)
    monkeypatch.setattr(mcq, "generate_item", real)
    run_id = started[0]
    assert svc.show_eval_run(store, run_id)["status"] == "interrupted" and len(store.eval_items(run_id)) == 1

    resumed = svc.eval_mcq(store, path, "medqa", run_id=run_id, **kw)
    assert resumed.run_id == run_id and resumed.n_new == 2 and resumed.summary["n"] == 3
    assert resumed.summary["accuracy"] == whole.summary["accuracy"]
    assert resumed.summary["ece"] == whole.summary["ece"]
    a = store.eval_items(run_id, with_detail=True)
    b = store.eval_items(whole.run_id, with_detail=True)
    assert [x["item_key"] for x in a] == [x["item_key"] for x in b]
    for x, y in zip(a, b):
        for key in ("choice", "probs", "logprobs", "think_tokens", "think_stop", "extended_tokens"):
            assert x["result"][key] == y["result"][key], key
        assert x["detail"]["reasoning"] == y["detail"]["reasoning"]


def test_resume_with_another_mode_or_budget_is_refused(loaded_service, eval_home):
    svc, store = loaded_service
    path = DATA / "medqa_mini.jsonl"
    out = svc.eval_mcq(store, path, "medqa", limit=1, progress=False, mode="generate", think_tokens=THINK)
    with pytest.raises(InputError, match="made with --mode generate") as err:
        svc.eval_mcq(store, path, "medqa", limit=1, run_id=out.run_id, progress=False)
    assert "\n" not in str(err.value)
    with pytest.raises(InputError, match="different settings"):
        svc.eval_mcq(store, path, "medqa", limit=1, run_id=out.run_id, progress=False, mode="generate",
                     think_tokens=THINK + 1)
    with pytest.raises(InputError, match="--think-tokens applies to --mode generate only"):
        svc.eval_mcq(store, path, "medqa", limit=1, progress=False, think_tokens=8)
    with pytest.raises(InputError, match="unknown --mode"):
        svc.eval_mcq(store, path, "medqa", limit=1, progress=False, mode="sample")
    # the CLI says it in one line, before loading any model
    base = [sys.executable, "-m", "safemed_desktop", "eval", "mcq", str(path), "--format", "medqa", "--limit", "1",
            "--json", "--no-progress"]
    env = eval_env(eval_home)
    refused = subprocess.run(base + ["--run-id", out.run_id], env=env, capture_output=True, text=True, timeout=300)
    lines = [ln for ln in refused.stderr.splitlines() if ln.strip()]
    assert refused.returncode == 2 and len(lines) == 1 and "--mode generate" in lines[0] and out.run_id in lines[0]
    assert refused.stdout == ""
    wrong = subprocess.run(base + ["--think-tokens", "8"], env=env, capture_output=True, text=True, timeout=300)
    lines = [ln for ln in wrong.stderr.splitlines() if ln.strip()]
    assert wrong.returncode == 2 and len(lines) == 1 and "--think-tokens" in lines[0]
    # a loglik run's description is what it always was (old runs stay resumable)
    loglik = svc.eval_mcq(store, path, "medqa", limit=1, progress=False)
    settings = svc.show_eval_run(store, loglik.run_id)["description"]["settings"]
    assert settings == {"mode": "loglik", "n_ctx": svc.loaded.engine.n_ctx, "continuation": mcq.CONTINUATION}
    assert json.dumps(store.eval_items(loglik.run_id)[0]["result"]).count("think") == 0
