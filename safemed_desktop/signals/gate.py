"""The cheap first stage of ``adversarial_input`` (issue 18): a lexical logistic model that clears
clearly benign questions in well under a millisecond, so the embedding classifier (a llama.cpp decode,
most of the ask path's time to first token) runs only where the rules and this stage are unsure.

Features: the question's lower-cased word unigrams and bigrams, hashed into ``N_FEATURES`` buckets (binary,
L2-normalised rows). Model: class-balanced L2 logistic regression (L-BFGS, scipy), trained on the same
deterministic 70 % training split of the same data as the embedding classifier (``tools/train_adversarial.py``:
MedSafetyBench harmful requests, PubMedQA questions, the hand-written benign and harmful sets).

The pass threshold ``clear_below`` is set for recall, not accuracy: ``CLEAR_MARGIN`` (0.75) times the lowest
out-of-fold score of any harmful training example (5-fold cross-validation), so no harmful training request
would have been cleared, with a margin. A question is cleared only when no adversarial rule fires and its score is below it; every
other question goes to the embedding classifier as before. ``bench/bench_adversarial.py`` reports, on the
held-out 30 %, how many harmful requests the stage would clear (the goal is none) and how many benign ones
it clears. Stored in ``packs/adversarial_gate.npz`` (``python -m safemed_desktop.signals.gate`` retrains).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import PackError
from .packs import PACK_DIR

GATE_PATH = PACK_DIR / "adversarial_gate.npz"
N_FEATURES = 1 << 18
GATE_VERSION = "2026.12.0"
CLEAR_MARGIN = 0.75  # clear_below = this x the lowest cross-validated score of a harmful training request
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def features(text: str) -> tuple[np.ndarray, float]:
    """Hashed unigram and bigram bucket ids of ``text`` (unique, sorted) and the row's L2 norm factor."""
    words = _WORD.findall(text.lower())
    grams = words + [f"{a} {b}" for a, b in zip(words, words[1:])]
    ids = {int.from_bytes(hashlib.blake2b(g.encode(), digest_size=8).digest(), "little") % N_FEATURES for g in grams}
    arr = np.fromiter(sorted(ids), dtype=np.int64, count=len(ids))
    return arr, (1.0 / np.sqrt(len(arr)) if len(arr) else 0.0)


@dataclass(frozen=True)
class Gate:
    weights: np.ndarray  # (N_FEATURES,) float32
    bias: float
    clear_below: float
    meta: dict

    @property
    def version(self) -> str:
        return str(self.meta.get("version", "unknown"))

    def score(self, text: str) -> float:
        ids, norm = features(text)
        z = float(self.weights[ids].sum()) * norm + self.bias
        return 1.0 / (1.0 + np.exp(-max(-35.0, min(35.0, z))))

    def clears(self, text: str) -> tuple[bool, float]:
        p = self.score(text)
        return p < self.clear_below, p


_lock = threading.Lock()
_gates: dict[Path, Gate] = {}


def load_gate(path: str | Path | None = None) -> Gate:
    p = Path(path) if path is not None else GATE_PATH
    with _lock:
        if p in _gates:
            return _gates[p]
    try:
        with np.load(p, allow_pickle=False) as z:
            gate = Gate(z["weights"].astype(np.float32), float(z["bias"]), float(z["clear_below"]),
                        json.loads(str(z["meta_json"])))
    except FileNotFoundError:
        raise PackError(f"adversarial gate not found at {p}") from None
    except (KeyError, ValueError, OSError, json.JSONDecodeError) as exc:
        raise PackError(f"adversarial gate {p} is malformed: {exc}") from exc
    if gate.weights.shape != (N_FEATURES,) or not 0 < gate.clear_below < 1:
        raise PackError(f"adversarial gate {p} is malformed: weights {gate.weights.shape}, threshold {gate.clear_below}")
    with _lock:
        _gates[p] = gate
    return gate


# --------------------------------------------------------------------------- training


def _matrix(texts: list[str]):
    from scipy import sparse

    rows, cols, vals = [], [], []
    for i, t in enumerate(texts):
        ids, norm = features(t)
        rows.extend([i] * len(ids))
        cols.extend(ids.tolist())
        vals.extend([norm] * len(ids))
    return sparse.csr_matrix((vals, (rows, cols)), shape=(len(texts), N_FEATURES), dtype=np.float64)


def fit(X, y: np.ndarray, lam: float = 1e-4) -> tuple[np.ndarray, float]:
    from scipy.optimize import minimize

    n = len(y)
    pos = y.sum()
    sw = np.where(y == 1, n / (2.0 * pos), n / (2.0 * (n - pos)))

    def loss(wb):
        w, b = wb[:-1], wb[-1]
        z = X @ w + b
        p = 1.0 / (1.0 + np.exp(-np.clip(z, -35, 35)))
        ll = -(sw * (y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12))).sum() / n
        g = sw * (p - y) / n
        return ll + 0.5 * lam * (w @ w), np.append(X.T @ g + lam * w, g.sum())

    res = minimize(loss, np.zeros(N_FEATURES + 1), jac=True, method="L-BFGS-B", options={"maxiter": 300})
    return res.x[:-1], float(res.x[-1])


def train(out: Path = GATE_PATH) -> dict:
    import importlib.util
    import sys

    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("train_adversarial", root / "tools" / "train_adversarial.py")
    T = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = T
    spec.loader.exec_module(T)
    bench = T.find_benchmarks()
    if bench is None:
        raise SystemExit("benchmarks not found (../shared/benchmarks or SAFEMED_BENCHMARKS)")
    ex = [e for e in T.load_examples(bench) if T.is_train(e.text)]
    texts = [e.text for e in ex]
    y = np.array([e.label for e in ex], dtype=np.float64)
    X = _matrix(texts)
    folds = T.folds_of(texts)
    oof = np.zeros(len(y))
    for f in np.unique(folds):
        w, b = fit(X[folds != f], y[folds != f])
        oof[folds == f] = 1.0 / (1.0 + np.exp(-np.clip(X[folds == f] @ w + b, -35, 35)))
    clear_below = float(oof[y == 1].min()) * CLEAR_MARGIN
    w, b = fit(X, y)
    meta = {"version": GATE_VERSION, "n_train": len(y), "n_harmful": int(y.sum()), "features": "hashed word 1-2 grams",
            "n_features": N_FEATURES, "clear_below": clear_below,
            "cv_min_harmful_score": float(oof[y == 1].min()),
            "cv_benign_cleared": float((oof[y == 0] < clear_below).mean()),
            "rule": "cleared only when no adversarial rule fires and score < clear_below"}
    np.savez_compressed(out, weights=w.astype(np.float32), bias=np.float64(b), clear_below=np.float64(clear_below),
                        meta_json=np.array(json.dumps(meta)))
    return meta


if __name__ == "__main__":
    print(json.dumps(train(), indent=1))
