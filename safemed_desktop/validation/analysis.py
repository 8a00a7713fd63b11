"""The paired analysis of a blinded study (plain data in, plain data out).

Input: one item per (case, reviewer) review after unblinding, with the reviewer's rubric scores for
the model's answer and for the resident's answer of that case. Per criterion:

- ``mean_model`` / ``mean_resident``: mean over cases of the case's mean score over its reviewers;
- ``diffs``: per case, the mean over reviewers of (model - resident); ``mean_diff`` their mean;
- ``ci95``: 95% bootstrap interval of the mean paired difference (cases resampled; ``scipy.stats.bootstrap``,
  percentile method, seeded, so the same data always gives the same interval);
- ``wilcoxon``: the Wilcoxon signed-rank test of the case differences (``scipy.stats.wilcoxon``, two-sided;
  zero differences dropped, as Wilcoxon proposed);
- ``alpha``: inter-rater agreement, Krippendorff's alpha at the ordinal level (``krippendorff``), over every
  (case, answer) unit, raters = reviewers; None when it is undefined (one rater, or one value only);
- ``verdict`` at the margin ``m`` (score points) from the interval (lo, hi): ``superior`` when lo > 0,
  ``non-inferior`` when lo > -m, ``inferior`` when hi < -m, otherwise ``inconclusive``.

The same is computed per resident level (PGY1, PGY2) where cases carry one.
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from typing import Any, Iterable

import krippendorff
import numpy as np
from scipy import stats

N_RESAMPLES = 9999
CONFIDENCE = 0.95


def verdict(lo: float | None, hi: float | None, margin: float) -> str:
    if lo is None or hi is None or any(map(math.isnan, (lo, hi))):
        return "inconclusive"
    if lo > 0:
        return "superior"
    if lo > -margin:
        return "non-inferior"
    if hi < -margin:
        return "inferior"
    return "inconclusive"


def bootstrap_ci(diffs: list[float], seed: int) -> tuple[float | None, float | None]:
    """95% percentile bootstrap interval of the mean; (d, d) when every value is d; None with < 2 values."""
    if len(diffs) < 2:
        return None, None
    arr = np.asarray(diffs, dtype=float)
    if np.all(arr == arr[0]):
        return float(arr[0]), float(arr[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = stats.bootstrap((arr,), np.mean, n_resamples=N_RESAMPLES, confidence_level=CONFIDENCE,
                              method="percentile", vectorized=True, random_state=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def wilcoxon(diffs: list[float]) -> dict[str, Any]:
    nonzero = [d for d in diffs if d != 0]
    if not nonzero:
        return {"statistic": None, "p": 1.0, "n_nonzero": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = stats.wilcoxon(nonzero, zero_method="wilcox", alternative="two-sided")
    return {"statistic": float(res.statistic), "p": float(res.pvalue), "n_nonzero": len(nonzero)}


def ordinal_alpha(ratings: dict[str, dict[tuple[str, str], int]], scale: tuple[int, int] = (1, 5)) -> float | None:
    """Krippendorff's alpha (ordinal). ``ratings``: rater -> {unit: value}. None when undefined."""
    raters = sorted(ratings)
    units = sorted({u for r in raters for u in ratings[r]})
    if len(raters) < 2 or not units:
        return None
    data = np.array([[ratings[r].get(u, np.nan) for u in units] for r in raters], dtype=float)
    pairable = data[:, np.sum(~np.isnan(data), axis=0) >= 2]
    values = pairable[~np.isnan(pairable)]
    if values.size == 0 or np.unique(values).size < 2:
        return None
    return float(krippendorff.alpha(reliability_data=data, level_of_measurement="ordinal",
                                    value_domain=list(range(scale[0], scale[1] + 1))))


def _criterion(reviews: list[dict[str, Any]], key: str, margin: float, seed: int,
               with_alpha: bool) -> dict[str, Any] | None:
    per_case: dict[str, list[tuple[int, int]]] = defaultdict(list)
    ratings: dict[str, dict[tuple[str, str], int]] = defaultdict(dict)
    for r in reviews:
        m, s = r["model"].get(key), r["resident"].get(key)
        if m is None or s is None:
            continue
        per_case[r["case_id"]].append((m, s))
        ratings[r["reviewer_id"]][(r["case_id"], "model")] = m
        ratings[r["reviewer_id"]][(r["case_id"], "resident")] = s
    if not per_case:
        return None
    cases = sorted(per_case)
    model = [float(np.mean([m for m, _ in per_case[c]])) for c in cases]
    resident = [float(np.mean([s for _, s in per_case[c]])) for c in cases]
    diffs = [float(np.mean([m - s for m, s in per_case[c]])) for c in cases]
    lo, hi = bootstrap_ci(diffs, seed)
    out = {"n_cases": len(cases), "mean_model": float(np.mean(model)), "mean_resident": float(np.mean(resident)),
           "mean_diff": float(np.mean(diffs)), "ci95": [lo, hi], "wilcoxon": wilcoxon(diffs),
           "verdict": verdict(lo, hi, margin)}
    if with_alpha:
        out["alpha"] = ordinal_alpha(ratings)
    return out


def paired_reviews(reviews: Iterable[dict[str, Any]], assignment: dict[str, str],
                   levels: dict[str, str | None]) -> list[dict[str, Any]]:
    """Blinded reviews (``case_id``, ``reviewer_id``, ``scores_a``, ``scores_b``) mapped to model and resident
    by the unblinded ``assignment`` (case id -> the model's side), with each case's resident level."""
    out = []
    for r in reviews:
        side = assignment[r["case_id"]]
        model, resident = (r["scores_a"], r["scores_b"]) if side == "A" else (r["scores_b"], r["scores_a"])
        out.append({"case_id": r["case_id"], "reviewer_id": r["reviewer_id"],
                    "resident_level": levels.get(r["case_id"]), "model": model, "resident": resident})
    return out


def analyze(reviews: Iterable[dict[str, Any]], criteria: Iterable[str], margin: float, *, seed: int = 0) -> dict[str, Any]:
    """The study's analysis (see the module docstring). ``reviews``: dicts with ``case_id``, ``reviewer_id``,
    ``resident_level`` (or None), ``model`` and ``resident`` (criterion -> score)."""
    reviews = list(reviews)
    criteria = list(criteria)
    out: dict[str, Any] = {
        "n_cases": len({r["case_id"] for r in reviews}), "n_reviewers": len({r["reviewer_id"] for r in reviews}),
        "n_reviews": len(reviews), "margin": margin, "confidence": CONFIDENCE, "n_resamples": N_RESAMPLES,
        "seed": seed, "criteria": {}, "by_level": {},
    }
    for key in criteria:
        res = _criterion(reviews, key, margin, seed, with_alpha=True)
        if res is not None:
            out["criteria"][key] = res
    levels = sorted({r["resident_level"] for r in reviews if r.get("resident_level")})
    for level in levels:
        subset = [r for r in reviews if r.get("resident_level") == level]
        per = {}
        for key in criteria:
            res = _criterion(subset, key, margin, seed, with_alpha=False)
            if res is not None:
                per[key] = res
        out["by_level"][level] = {"n_cases": len({r["case_id"] for r in subset}), "criteria": per}
    return out
