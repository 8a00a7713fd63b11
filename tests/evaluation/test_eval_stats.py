"""The statistics of evaluation runs, against definitions computed independently in the tests."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safemed_desktop.evaluation import stats


def test_bootstrap_interval_is_reproducible_and_brackets_the_mean():
    x = [1, 0, 1, 1, 0, 1, 0, 1, 1, 1, 0, 1] * 5
    lo, hi = stats.bootstrap_ci(x)
    assert lo < np.mean(x) < hi
    assert (lo, hi) == stats.bootstrap_ci(x)  # fixed seed
    assert 0.0 <= lo and hi <= 1.0
    wider = stats.bootstrap_ci(x[:12])
    assert wider[1] - wider[0] > hi - lo  # fewer items, wider interval


def test_bootstrap_degenerate_and_empty():
    assert stats.bootstrap_ci([1, 1, 1]) == (1.0, 1.0)
    assert stats.bootstrap_ci([0.5]) == (0.5, 0.5)
    assert stats.bootstrap_ci([]) is None
    assert stats.rate([]) == {"n": 0, "rate": None, "ci95": None}


def test_ece_and_reliability_table():
    # 10 items at confidence 0.8 of which 8 right: perfectly calibrated in its bin
    conf = [0.8] * 10
    ok = [True] * 8 + [False] * 2
    assert stats.ece(conf, ok) == pytest.approx(0.0)
    # two bins: 0.9 with half right (gap 0.4), 0.3 all right (gap 0.7), equal weights
    conf = [0.9] * 4 + [0.3] * 4
    ok = [True, True, False, False] + [True] * 4
    assert stats.ece(conf, ok) == pytest.approx(0.5 * 0.4 + 0.5 * 0.7)
    table = stats.reliability_table(conf, ok)
    assert [row["n"] for row in table] == [4, 4]
    assert table[0]["mean_confidence"] == pytest.approx(0.3) and table[0]["accuracy"] == 1.0
    # 1.0 lands in the last bin, 0 in the first
    assert [r["bin"] for r in stats.reliability_table([0.0, 1.0], [True, True])] == [[0.0, 0.0667], [0.9333, 1.0]]


def test_brier_multiclass():
    assert stats.brier([[1, 0, 0]], [0]) == 0.0
    assert stats.brier([[0.5, 0.5]], [1]) == pytest.approx(0.5)
    assert stats.brier([[0, 1]], [0]) == pytest.approx(2.0)


def _auroc_by_pairs(scores, labels):
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0.1, 0.2, 0.5, 0.7, 0.9]), st.booleans()), min_size=2, max_size=30))
def test_auroc_matches_the_pairwise_definition(pairs):
    scores = [s for s, _ in pairs]
    labels = [y for _, y in pairs]
    got = stats.auroc(scores, labels)
    if all(labels) or not any(labels):
        assert got is None
    else:
        assert got == pytest.approx(_auroc_by_pairs(scores, labels))


def test_mcnemar_exact():
    assert stats.mcnemar_exact(0, 0) == 1.0
    assert stats.mcnemar_exact(10, 0) == pytest.approx(2 * 0.5 ** 10)
    assert stats.mcnemar_exact(5, 5) == pytest.approx(1.0)
    d = stats.paired_difference([1, 1, 1, 0, 0], [0, 0, 1, 0, 1])
    assert d["difference"] == pytest.approx(0.2)
    assert d["mcnemar"]["a_only"] == 2 and d["mcnemar"]["b_only"] == 1


def _qwk_reference(a, b, k=5):
    """Weighted kappa from its definition: 1 - sum w*O / sum w*E over all rating pairs."""
    n = len(a)
    num = sum(((x - y) ** 2) for x, y in zip(a, b)) / n
    den = sum(((x - y) ** 2) for x in a for y in b) / (n * n)
    return 1 - num / den


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 5), st.integers(1, 5)), min_size=3, max_size=40))
def test_quadratic_weighted_kappa_matches_its_definition(pairs):
    a = [x for x, _ in pairs]
    b = [y for _, y in pairs]
    got = stats.quadratic_weighted_kappa(a, b)
    if len(set(a)) == 1 and len(set(b)) == 1:
        return
    assert got == pytest.approx(_qwk_reference(a, b))


def test_kappa_bounds_and_krippendorff():
    a = [1, 2, 3, 4, 5, 1, 2]
    assert stats.quadratic_weighted_kappa(a, a) == pytest.approx(1.0)
    assert stats.quadratic_weighted_kappa(a, [6 - x for x in a]) < 0
    assert stats.krippendorff_ordinal(a, a) == pytest.approx(1.0)
    assert stats.krippendorff_ordinal([1, 1], [1, 1]) is None


def test_rogan_gladen_correction():
    assert stats.corrected_rate(0.3, 1.0, 1.0) == pytest.approx(0.3)
    # a detector with 10% false positives over-counts: 0.1 observed with no true positives is 0
    assert stats.corrected_rate(0.1, 1.0, 0.9) == pytest.approx(0.0)
    assert stats.corrected_rate(0.5, 0.5, 0.5) is None
    assert math.isclose(stats.corrected_rate(0.46, 0.8, 0.9), (0.46 + 0.9 - 1) / 0.7)
