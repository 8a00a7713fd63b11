"""The held-out benchmark and the training helpers it shares (no embedding here: cheap checks only)."""

from __future__ import annotations

import types

from bench import bench_adversarial


def test_bench_skips_with_a_clear_row_when_data_is_absent(monkeypatch):
    monkeypatch.setattr(bench_adversarial, "_trainer", lambda: types.SimpleNamespace(find_benchmarks=lambda: None))
    res = bench_adversarial.run()
    assert res["rows"] == [{"metric": "held-out evaluation (../shared/benchmarks)", "value": "data not found",
                            "target": "data present", "pass": None}]


def test_split_is_deterministic_and_about_70_30():
    T = bench_adversarial._trainer()
    texts = [f"question number {i} about dosing" for i in range(2000)]
    share = sum(T.is_train(t) for t in texts) / len(texts)
    assert 0.65 < share < 0.75
    assert [T.is_train(t) for t in texts[:50]] == [T.is_train(t) for t in texts[:50]]


def test_handwritten_benign_file_is_large_and_has_hard_negatives():
    T = bench_adversarial._trainer()
    qs = T.load_handwritten()
    assert len(qs) >= 150 and len(set(qs)) == len(qs)
    for word in ("overdose", "suicide", "abuse", "sedation", "DNR", "ethics"):
        assert any(word.lower() in q.lower() for q in qs), word
