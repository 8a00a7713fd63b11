"""Statistics of evaluation runs, on scipy: bootstrap intervals, calibration, AUROC, McNemar, agreement.

- ``bootstrap_ci``: percentile bootstrap (``scipy.stats.bootstrap``) with a fixed seed, so a run's
  interval is reproducible; a sample with a single value (or all equal) has a zero-width interval.
- ``ece`` / ``reliability_table``: expected calibration error over equal-width bins (15 by default)
  of the chosen option's probability; a confidence lands in the bin ``(lo, hi]`` (0 in the first).
- ``brier``: the multi-class Brier score, mean over items of sum_k (p_k - y_k)^2 (0 perfect, 2 worst).
- ``auroc``: area under the ROC curve from the Mann-Whitney U statistic (``scipy.stats.mannwhitneyu``),
  ties counted half; None when one class is empty.
- ``mcnemar_exact``: the exact McNemar test, a two-sided binomial test on the discordant pairs
  (``scipy.stats.binomtest``).
- ``quadratic_weighted_kappa``: Cohen's kappa with quadratic weights on the 1-5 scale;
  ``krippendorff_ordinal``: Krippendorff's alpha, ordinal (``krippendorff``).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

DEFAULT_SEED = 20261202
N_RESAMPLES = 2000


def _round(x: float | None, nd: int = 4) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), nd)


def bootstrap_ci(values: Sequence[float], *, seed: int = DEFAULT_SEED, confidence: float = 0.95,
                 n_resamples: int = N_RESAMPLES) -> tuple[float, float] | None:
    """95% percentile-bootstrap interval of the mean of ``values``; None for an empty sample."""
    from scipy.stats import bootstrap

    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return None
    if x.size == 1 or np.all(x == x[0]):
        return (float(x[0]), float(x[0]))
    res = bootstrap((x,), np.mean, confidence_level=confidence, n_resamples=n_resamples, method="percentile",
                    random_state=np.random.default_rng(seed), vectorized=True)
    return (float(res.confidence_interval.low), float(res.confidence_interval.high))


def rate(values: Sequence[float], *, seed: int = DEFAULT_SEED) -> dict[str, Any]:
    """``{n, rate, ci95}`` of a 0/1 sample."""
    x = [float(v) for v in values]
    ci = bootstrap_ci(x, seed=seed)
    return {"n": len(x), "rate": _round(sum(x) / len(x)) if x else None,
            "ci95": [_round(ci[0]), _round(ci[1])] if ci else None}


def _bin_index(conf: np.ndarray, n_bins: int) -> np.ndarray:
    return np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)


def reliability_table(confidence: Sequence[float], correct: Sequence[bool], n_bins: int = 15) -> list[dict[str, Any]]:
    """One row per non-empty bin: its range, count, mean confidence and accuracy."""
    conf = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct, dtype=np.float64)
    idx = _bin_index(conf, n_bins)
    rows = []
    for b in range(n_bins):
        mask = idx == b
        if mask.any():
            rows.append({"bin": [round(b / n_bins, 4), round((b + 1) / n_bins, 4)], "n": int(mask.sum()),
                         "mean_confidence": _round(conf[mask].mean()), "accuracy": _round(ok[mask].mean())})
    return rows


def ece(confidence: Sequence[float], correct: Sequence[bool], n_bins: int = 15) -> float | None:
    """Expected calibration error: sum over bins of (n_bin / n) * |accuracy - mean confidence|."""
    conf = np.asarray(confidence, dtype=np.float64)
    if conf.size == 0:
        return None
    ok = np.asarray(correct, dtype=np.float64)
    idx = _bin_index(conf, n_bins)
    total = 0.0
    for b in range(n_bins):
        mask = idx == b
        if mask.any():
            total += mask.sum() / conf.size * abs(ok[mask].mean() - conf[mask].mean())
    return float(total)


def brier(probs: Sequence[Sequence[float]], labels: Sequence[int]) -> float | None:
    """Multi-class Brier score: mean over items of sum_k (p_k - [k == label])^2."""
    if not len(probs):
        return None
    total = 0.0
    for p, y in zip(probs, labels):
        v = np.asarray(p, dtype=np.float64)
        onehot = np.zeros_like(v)
        onehot[y] = 1.0
        total += float(((v - onehot) ** 2).sum())
    return total / len(probs)


def auroc(scores: Sequence[float], positive: Sequence[bool]) -> float | None:
    """P(score of a positive > score of a negative), ties half; None when either class is empty."""
    from scipy.stats import mannwhitneyu

    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(positive, dtype=bool)
    pos, neg = s[y], s[~y]
    if pos.size == 0 or neg.size == 0:
        return None
    u = mannwhitneyu(pos, neg, alternative="two-sided").statistic
    return float(u / (pos.size * neg.size))


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for discordant counts ``b`` and ``c`` (1.0 when there are none)."""
    from scipy.stats import binomtest

    if b + c == 0:
        return 1.0
    return float(binomtest(int(b), int(b + c), 0.5, alternative="two-sided").pvalue)


def paired_difference(a: Sequence[float], b: Sequence[float], *, seed: int = DEFAULT_SEED) -> dict[str, Any]:
    """Mean of a - b over paired items with its bootstrap interval, and McNemar on the 0/1 pairs."""
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    d = x - y
    ci = bootstrap_ci(d, seed=seed)
    n_b = int(((x == 1) & (y == 0)).sum())
    n_c = int(((x == 0) & (y == 1)).sum())
    return {"n": int(d.size), "difference": _round(d.mean()) if d.size else None,
            "ci95": [_round(ci[0]), _round(ci[1])] if ci else None,
            "mcnemar": {"a_only": n_b, "b_only": n_c, "p_value": _round(mcnemar_exact(n_b, n_c), 6)}}


def quadratic_weighted_kappa(a: Sequence[int], b: Sequence[int], lo: int = 1, hi: int = 5) -> float | None:
    """Cohen's kappa with quadratic disagreement weights on the integer scale lo..hi."""
    x = np.asarray(a, dtype=int) - lo
    y = np.asarray(b, dtype=int) - lo
    k = hi - lo + 1
    if x.size == 0:
        return None
    observed = np.zeros((k, k))
    np.add.at(observed, (x, y), 1.0)
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / x.size
    i, j = np.indices((k, k))
    w = (i - j) ** 2 / (k - 1) ** 2
    denom = (w * expected).sum()
    if denom == 0:
        return 1.0 if (w * observed).sum() == 0 else 0.0
    return float(1.0 - (w * observed).sum() / denom)


def krippendorff_ordinal(a: Sequence[int], b: Sequence[int]) -> float | None:
    """Krippendorff's alpha (ordinal) between two raters; None when it is undefined (a single value)."""
    import krippendorff

    if len(set(a) | set(b)) < 2:
        return None
    return float(krippendorff.alpha(reliability_data=[list(a), list(b)], level_of_measurement="ordinal",
                                    value_domain=[1, 2, 3, 4, 5]))


def corrected_rate(observed: float, sensitivity: float, specificity: float) -> float | None:
    """Rogan-Gladen correction of an observed positive rate for a detector's error, clipped to [0, 1]."""
    j = sensitivity + specificity - 1.0
    if j <= 0:
        return None
    return min(1.0, max(0.0, (observed + specificity - 1.0) / j))


__all__ = ["bootstrap_ci", "rate", "reliability_table", "ece", "brier", "auroc", "mcnemar_exact",
           "paired_difference", "quadratic_weighted_kappa", "krippendorff_ordinal", "corrected_rate", "DEFAULT_SEED"]
