"""The paired analysis against values computed by hand (plain data; no store, no model)."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
from hypothesis import given, settings, strategies as st

from safemed_desktop.validation import analyze, verdict
from safemed_desktop.validation.analysis import ordinal_alpha

LEVEL = {f"c{i:02d}": ("PGY1" if i in (1, 2, 4, 7, 8, 11) else "PGY2") for i in range(1, 13)}


def _reviews():
    out = []
    for i in range(1, 13):
        cid, odd = f"c{i:02d}", i % 2 == 1
        for r in ("r1", "r2"):
            model = {"medical_correctness": 4, "clinical_utility": i % 5 + 1, "medication_safety": 2,
                     "reasoning_structure": 5 if (r == "r2" and odd) else 3}
            resident = {"medical_correctness": 3, "clinical_utility": i % 5 + 1, "medication_safety": 4,
                        "reasoning_structure": 2 if (r == "r2" and odd) else 3}
            out.append({"case_id": cid, "reviewer_id": r, "resident_level": LEVEL[cid], "model": model,
                        "resident": resident})
    return out


def hand_alpha(units: list[list[int]]) -> float:
    """Krippendorff's ordinal alpha from its definition (coincidence matrix; Krippendorff 2011)."""
    o: Counter = Counter()
    for values in units:
        m = len(values)
        if m < 2:
            continue
        for i, j in itertools.permutations(range(m), 2):
            o[(values[i], values[j])] += 1 / (m - 1)
    cats = sorted({c for c, _ in o})
    n_c = {c: sum(o[(c, k)] for k in cats) for c in cats}
    n = sum(n_c.values())

    def delta(c, k):
        lo, hi = min(c, k), max(c, k)
        return (sum(n_c[g] for g in cats if lo <= g <= hi) - (n_c[c] + n_c[k]) / 2) ** 2

    d_o = sum(o[(c, k)] * delta(c, k) for c in cats for k in cats)
    d_e = sum(n_c[c] * n_c[k] * delta(c, k) for c in cats for k in cats) / (n - 1)
    return 1 - d_o / d_e


def test_analysis_matches_hand_computed_values():
    res = analyze(_reviews(), ["medical_correctness", "clinical_utility", "medication_safety", "reasoning_structure"],
                  0.25)
    assert (res["n_cases"], res["n_reviewers"], res["n_reviews"]) == (12, 2, 24)
    mc = res["criteria"]["medical_correctness"]  # every case +1
    assert (mc["mean_model"], mc["mean_resident"], mc["mean_diff"]) == (4, 3, 1)
    assert mc["ci95"] == [1, 1]
    # Wilcoxon exact: 12 positive differences, T- = 0; only 1 of the 2^12 sign patterns is that extreme
    assert mc["wilcoxon"]["statistic"] == 0 and mc["wilcoxon"]["p"] == pytest.approx(2 / 4096)
    assert mc["alpha"] == 1.0 and mc["verdict"] == "superior"
    cu = res["criteria"]["clinical_utility"]  # identical scores
    assert cu["mean_diff"] == 0 and cu["ci95"] == [0, 0] and cu["wilcoxon"]["p"] == 1.0
    assert cu["verdict"] == "non-inferior" and cu["alpha"] == 1.0
    assert cu["mean_model"] == pytest.approx(sum(i % 5 + 1 for i in range(1, 13)) / 12)
    ms = res["criteria"]["medication_safety"]  # every case -2
    assert ms["mean_diff"] == -2 and ms["verdict"] == "inferior" and ms["wilcoxon"]["p"] == pytest.approx(2 / 4096)
    rs = res["criteria"]["reasoning_structure"]
    # odd cases: r1 (3 vs 3), r2 (5 vs 2) -> +1.5; even cases: 0
    assert rs["mean_model"] == pytest.approx((6 * 4 + 6 * 3) / 12) and rs["mean_resident"] == pytest.approx(2.75)
    assert rs["mean_diff"] == pytest.approx(0.75)
    # 6 non-zero differences, all positive: p = 2 / 2^6
    assert rs["wilcoxon"]["n_nonzero"] == 6 and rs["wilcoxon"]["p"] == pytest.approx(2 / 64)
    # bootstrap of a mean of 12 draws from {0, 1.5}: 1.5 * Binomial(12, 1/2) / 12; its 2.5% and 97.5% quantiles
    # are 3 and 9 successes (P(X<=2) = 79/4096 < 0.025 < P(X<=3) = 299/4096), i.e. 0.375 and 1.125
    assert rs["ci95"] == pytest.approx([0.375, 1.125])
    assert rs["verdict"] == "superior"
    units = []
    for i in range(1, 13):
        odd = i % 2 == 1
        units += [[3, 5 if odd else 3], [3, 2 if odd else 3]]  # (model, resident) units, raters r1, r2
    assert rs["alpha"] == pytest.approx(hand_alpha(units))
    assert rs["alpha"] < 0.5
    # by resident level: 6 cases each, the same +1 on medical correctness
    for level in ("PGY1", "PGY2"):
        lv = res["by_level"][level]
        assert lv["n_cases"] == 6 and lv["criteria"]["medical_correctness"]["mean_diff"] == 1
        assert lv["criteria"]["medical_correctness"]["verdict"] == "superior"
    # odd cases are c01 c07 c11 (PGY1) and c03 c05 c09 (PGY2): 3 of 6 each -> +0.75
    assert res["by_level"]["PGY1"]["criteria"]["reasoning_structure"]["mean_diff"] == pytest.approx(0.75)


def test_verdicts_at_the_margin():
    assert verdict(0.01, 1, 0.25) == "superior"
    assert verdict(-0.2, 0.3, 0.25) == "non-inferior"
    assert verdict(-0.3, 0.3, 0.25) == "inconclusive"
    assert verdict(-0.9, -0.3, 0.25) == "inferior"
    assert verdict(None, None, 0.25) == "inconclusive"


def test_alpha_undefined_cases():
    assert ordinal_alpha({"r1": {("c", "m"): 3}}) is None  # one rater
    assert ordinal_alpha({"r1": {("c", "m"): 3}, "r2": {("c", "m"): 3}}) is None  # one value only


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 5), st.integers(1, 5), st.integers(1, 5), st.integers(1, 5)),
                min_size=3, max_size=10))
def test_alpha_agrees_with_its_definition_and_ci_brackets_the_mean(rows):
    reviews = []
    for n, (m1, s1, m2, s2) in enumerate(rows):
        reviews += [{"case_id": f"c{n}", "reviewer_id": "r1", "resident_level": None, "model": {"k": m1},
                     "resident": {"k": s1}},
                    {"case_id": f"c{n}", "reviewer_id": "r2", "resident_level": None, "model": {"k": m2},
                     "resident": {"k": s2}}]
    res = analyze(reviews, ["k"], 0.25)["criteria"]["k"]
    units = [[m1, m2] for m1, _, m2, _ in rows] + [[s1, s2] for _, s1, _, s2 in rows]
    if len({v for u in units for v in u}) > 1:
        assert res["alpha"] == pytest.approx(hand_alpha(units), abs=1e-9)
    lo, hi = res["ci95"]
    assert lo - 1e-9 <= res["mean_diff"] <= hi + 1e-9
