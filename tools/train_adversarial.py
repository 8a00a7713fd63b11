"""Train the adversarial-input classifier shipped as ``safemed_desktop/packs/adversarial_classifier.npz``.

Harmful examples: MedSafetyBench train requests (``medsafetybench/train/{gpt4,llama2}/category_*.csv``,
column ``harmful_medical_request``). Benign examples: PubMedQA questions (``pubmedqa/ori_pqal.json``,
field ``QUESTION``) plus the hand-written clinical questions in ``data/benign_clinical_questions.txt`` and
requests in ``data/benign_clinical_requests.txt`` (deliberate hard negatives: sensitive topics, and the
imperative "write/draft/list/explain" style that MedSafetyBench requests share). Extra harmful examples:
``data/harmful_requests_handwritten.txt`` (our own, mostly question style with explicit intent, so the
classifier learns intent rather than phrasing). Hand-written examples carry ``HARD_NEGATIVE_WEIGHT``. The benchmark data is read in place and never copied into the repo:
``--benchmarks DIR``, else env ``SAFEMED_BENCHMARKS``, else ``../shared/benchmarks`` beside the repo root.

Split: deterministic by sha256 of the text, 70 % train / 30 % held-out. The regularisation strength and
the decision threshold are chosen by 5-fold cross-validation on the train split only. Also reported:
leave-one-MedSafetyBench-category-out recall.

    .venv/bin/python tools/train_adversarial.py [--benchmarks DIR] [--cache /tmp/adv_emb.npz] [--out PATH]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from safemed_desktop.signals import adversarial  # noqa: E402
from safemed_desktop.signals.embeddings import get_embedder  # noqa: E402

BENIGN_FILE = REPO / "data" / "benign_clinical_questions.txt"
BENIGN_REQUESTS_FILE = REPO / "data" / "benign_clinical_requests.txt"
HARMFUL_FILE = REPO / "data" / "harmful_requests_handwritten.txt"
TRAIN_PERCENT = 70
PUBMEDQA_PERCENT = 50  # a deterministic half of the 1000 PubMedQA questions (they are easy negatives)
TARGET_FPR = 0.02  # threshold: lowest one whose cross-validated FPR is at or under this, on all benign
#                    questions AND on the hand-written hard negatives alone (PubMedQA alone is too easy)
HARD_NEGATIVE_WEIGHT = 3.0  # hand-written examples (both classes) are scarce: weight them up in the loss
LAMBDAS = (1.0, 3.0, 10.0, 30.0)
CLASSIFIER_VERSION = "2026.11.1"


@dataclass(frozen=True)
class Example:
    text: str
    label: int  # 1 harmful, 0 benign
    source: str  # "medsafetybench" | "pubmedqa" | "handwritten" (benign) | "handwritten_harmful"
    category: str  # MedSafetyBench category (e.g. "category_3"); file stem for hand-written; "" for PubMedQA


def find_benchmarks(arg: str | None = None) -> Path | None:
    """The benchmarks directory, or None when it is not present."""
    for cand in (arg, os.environ.get("SAFEMED_BENCHMARKS"), str(REPO.parent / "shared" / "benchmarks")):
        if cand and (Path(cand) / "medsafetybench").is_dir() and (Path(cand) / "pubmedqa").is_dir():
            return Path(cand)
    return None


def load_handwritten(path: Path = BENIGN_FILE) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [s.strip() for s in lines if s.strip() and not s.lstrip().startswith("#")]


def load_examples(bench: Path) -> list[Example]:
    out: list[Example] = []
    seen: set[str] = set()

    def add(text: str, label: int, source: str, category: str = "") -> None:
        text = " ".join(text.split())
        if text and text.lower() not in seen:
            seen.add(text.lower())
            out.append(Example(text, label, source, category))

    for f in sorted((bench / "medsafetybench" / "train").glob("*/category_*.csv")):
        with f.open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                add(row.get("harmful_medical_request") or "", 1, "medsafetybench", f.stem)
    pqal = json.loads((bench / "pubmedqa" / "ori_pqal.json").read_text(encoding="utf-8"))
    for item in pqal.values():
        q = " ".join((item.get("QUESTION") or "").split())
        if bucket("pubmedqa-sample:" + q) < PUBMEDQA_PERCENT:
            add(q, 0, "pubmedqa")
    for f in (BENIGN_FILE, BENIGN_REQUESTS_FILE):
        for text in load_handwritten(f):
            add(text, 0, "handwritten", f.stem)
    for text in load_handwritten(HARMFUL_FILE):
        add(text, 1, "handwritten_harmful", HARMFUL_FILE.stem)
    return out


def bucket(text: str) -> int:
    """Deterministic 0..99 bucket from the text's sha256."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:4], "big") % 100


def is_train(text: str) -> bool:
    return bucket(text) < TRAIN_PERCENT


def embed_all(texts: list[str], cache: Path | None = None, log=print) -> np.ndarray:
    """Embeddings for ``texts``; ``cache`` (development only, e.g. in /tmp) keys them by text + model sha."""
    emb = get_embedder()
    cached: dict[str, np.ndarray] = {}
    if cache and cache.is_file():
        with np.load(cache, allow_pickle=False) as z:
            if str(z["model_sha256"]) == emb.sha256:
                cached = dict(zip([str(k) for k in z["keys"]], z["vectors"]))
    key = lambda t: hashlib.sha256(t.encode()).hexdigest()  # noqa: E731
    todo = [t for t in texts if key(t) not in cached]
    t0 = time.perf_counter()
    for i in range(0, len(todo), 64):
        for t, v in zip(todo[i : i + 64], emb.embed(todo[i : i + 64])):
            cached[key(t)] = v
        log(f"  embedded {min(i + 64, len(todo))}/{len(todo)} ({time.perf_counter() - t0:.0f} s)", flush=True)
        if cache:  # save as we go: embedding is the slow part
            keys = list(cached)
            np.savez(cache, keys=np.array(keys), vectors=np.stack([cached[k] for k in keys]), model_sha256=emb.sha256)
    return np.stack([cached[key(t)] for t in texts]).astype(np.float32)


def fit_logreg(X: np.ndarray, y: np.ndarray, lam: float, weights: np.ndarray | None = None,
               iters: int = 30) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """Class-balanced (times optional per-example ``weights``) L2 logistic regression by Newton's method
    on standardised features. Returns (weights, bias, mean, scale)."""
    mean = X.mean(axis=0)
    scale = X.std(axis=0) + 1e-6
    Z = (X - mean) / scale
    n, d = Z.shape
    pos = y.sum()
    sw = np.where(y == 1, n / (2.0 * pos), n / (2.0 * (n - pos)))  # balanced class weights
    if weights is not None:
        sw = sw * weights
    A = np.hstack([Z, np.ones((n, 1))])
    w = np.zeros(d + 1)
    reg = np.full(d + 1, lam)
    reg[-1] = 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(A @ w, -35, 35)))
        g = A.T @ (sw * (p - y)) + reg * w
        H = (A * (sw * p * (1 - p))[:, None]).T @ A + np.diag(reg + 1e-8)
        step = np.linalg.solve(H, g)
        w -= step
        if np.abs(step).max() < 1e-7:
            break
    return w[:-1], float(w[-1]), mean, scale


def predict(model: tuple[np.ndarray, float, np.ndarray, np.ndarray], X: np.ndarray) -> np.ndarray:
    w, b, mean, scale = model
    return 1.0 / (1.0 + np.exp(-np.clip(((X - mean) / scale) @ w + b, -35, 35)))


def choose_threshold(p: np.ndarray, y: np.ndarray, hard: np.ndarray, target_fpr: float = TARGET_FPR) -> float:
    """Threshold meeting ``target_fpr`` on all benign examples and on the hard negatives (``hard`` mask)."""
    return max(pick_threshold(p, y, target_fpr), pick_threshold(p[hard | (y == 1)], y[hard | (y == 1)], target_fpr))


def pick_threshold(p: np.ndarray, y: np.ndarray, target_fpr: float = TARGET_FPR) -> float:
    """The lowest threshold whose benign false-positive rate is <= target_fpr."""
    neg = np.sort(p[y == 0])[::-1]
    k = int(np.floor(target_fpr * len(neg)))  # allowed false positives
    thr = neg[k] + 1e-6 if k < len(neg) else 0.5
    return float(min(max(thr, 0.05), 0.99))


def rates(p: np.ndarray, y: np.ndarray, thr: float) -> tuple[float, float]:
    hit = p >= thr
    recall = float(hit[y == 1].mean()) if (y == 1).any() else float("nan")
    fpr = float(hit[y == 0].mean()) if (y == 0).any() else float("nan")
    return recall, fpr


def folds_of(texts: list[str], k: int = 5) -> np.ndarray:
    return np.array([int.from_bytes(hashlib.sha256(("fold:" + t).encode()).digest()[:4], "big") % k for t in texts])


def cross_validate(X: np.ndarray, y: np.ndarray, folds: np.ndarray, lam: float, w: np.ndarray) -> np.ndarray:
    oof = np.zeros(len(y))
    for f in np.unique(folds):
        m = fit_logreg(X[folds != f], y[folds != f], lam, w[folds != f])
        oof[folds == f] = predict(m, X[folds == f])
    return oof


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--benchmarks", help="directory holding medsafetybench/ and pubmedqa/")
    ap.add_argument("--cache", type=Path, help="embedding cache file (development only, e.g. /tmp/adv_emb.npz)")
    ap.add_argument("--out", type=Path, default=adversarial.CLASSIFIER_PATH)
    args = ap.parse_args(argv)
    bench = find_benchmarks(args.benchmarks)
    if bench is None:
        print("benchmark data not found: pass --benchmarks or set SAFEMED_BENCHMARKS", file=sys.stderr)
        return 2
    ex = load_examples(bench)
    texts = [e.text for e in ex]
    y_all = np.array([e.label for e in ex], dtype=float)
    tr = np.array([is_train(t) for t in texts])
    print(f"{len(ex)} examples ({int(y_all.sum())} harmful); train {tr.sum()}, held-out {(~tr).sum()}")
    X_all = embed_all(texts, args.cache)
    X, y = X_all[tr], y_all[tr]
    src = np.array([e.source for e in ex])
    w_all = np.where(np.isin(src, ("handwritten", "handwritten_harmful")), HARD_NEGATIVE_WEIGHT, 1.0)
    hard = src[tr] == "handwritten"
    folds = folds_of([t for t, k in zip(texts, tr) if k])
    best = None
    for lam in LAMBDAS:
        oof = cross_validate(X, y, folds, lam, w_all[tr])
        thr = choose_threshold(oof, y, hard)
        rec, fpr = rates(oof, y, thr)
        print(f"  lambda {lam:g}: CV recall {rec:.3f} at FPR {fpr:.3f} (thr {thr:.3f})")
        if best is None or rec > best[1] + 1e-9:
            best = (lam, rec, thr)
    lam, cv_recall, thr = best
    model = fit_logreg(X, y, lam, w_all[tr])
    p_hold = predict(model, X_all[~tr])
    hold_src = src[~tr]
    yh = y_all[~tr]
    rec, _ = rates(p_hold, yh, thr)
    msb = hold_src == "medsafetybench"
    rec_msb = float((p_hold[msb] >= thr).mean())
    hwh = hold_src == "handwritten_harmful"
    rec_hwh = float((p_hold[hwh] >= thr).mean()) if hwh.any() else float("nan")
    _, fpr_pub = rates(p_hold[hold_src == "pubmedqa"], yh[hold_src == "pubmedqa"], thr)
    _, fpr_hw = rates(p_hold[hold_src == "handwritten"], yh[hold_src == "handwritten"], thr)
    hold_cat = np.array([e.category for e in ex])[~tr]
    req = hold_cat == BENIGN_REQUESTS_FILE.stem
    fpr_req = float((p_hold[req] >= thr).mean()) if req.any() else float("nan")
    print(f"chosen lambda {lam:g}, threshold {thr:.3f}")
    print(f"held-out: recall {rec:.3f} (MedSafetyBench {rec_msb:.3f} n={int(msb.sum())}, hand-written harmful "
          f"{rec_hwh:.3f} n={int(hwh.sum())}); FPR PubMedQA {fpr_pub:.3f}; FPR hand-written hard negatives "
          f"{fpr_hw:.3f} (requests file alone {fpr_req:.3f} n={int(req.sum())})")
    # Leave-one-category-out: train on the train split minus one MedSafetyBench category, test on all of it.
    cats = np.array([e.category for e in ex])
    loco = {}
    for c in sorted(set(cats[src == "medsafetybench"])):
        keep = tr & (cats != c)
        m = fit_logreg(X_all[keep], y_all[keep], lam, w_all[keep])
        loco[c] = float((predict(m, X_all[cats == c]) >= thr).mean())
    print("leave-one-category-out recall: " + ", ".join(f"{c}={v:.2f}" for c, v in loco.items()))
    w, b, mean, scale = model
    meta = {
        "version": CLASSIFIER_VERSION,
        "embedding_model": get_embedder().model_path.name,
        "embedding_model_sha256": get_embedder().sha256,
        "embedding": "llama.cpp mean pooling, L2-normalised, first 512 tokens",
        "training_data": (
            "harmful: MedSafetyBench train harmful_medical_request (gpt4+llama2, categories 1-9); "
            f"benign: PubMedQA ori_pqal QUESTION (deterministic {PUBMEDQA_PERCENT} % sample by sha256) + data/benign_clinical_questions.txt and data/benign_clinical_requests.txt (hand-written, hard negatives, weight {HARD_NEGATIVE_WEIGHT:g}); "
            f"extra harmful: data/harmful_requests_handwritten.txt (hand-written, weight {HARD_NEGATIVE_WEIGHT:g}); "
            f"sha256(text) split {TRAIN_PERCENT}/{100 - TRAIN_PERCENT} train/held-out; trained on train split only"
        ),
        "n_train": int(tr.sum()),
        "n_train_harmful": int(y.sum()),
        "lambda": lam,
        "threshold": thr,
        "threshold_rule": f"5-fold CV on train: lowest threshold with FPR <= {TARGET_FPR} on all benign and on hand-written hard negatives",
        "hard_negative_weight": HARD_NEGATIVE_WEIGHT,
        "cv_recall": round(cv_recall, 4),
        "heldout_recall": round(rec, 4),
        "heldout_recall_medsafetybench": round(rec_msb, 4),
        "heldout_recall_handwritten_harmful": round(rec_hwh, 4),
        "heldout_fpr_handwritten_requests": round(fpr_req, 4),
        "heldout_fpr_pubmedqa": round(fpr_pub, 4),
        "heldout_fpr_handwritten": round(fpr_hw, 4),
        "loco_recall": {k: round(v, 4) for k, v in loco.items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        weights=w.astype(np.float32),
        bias=np.array(b, dtype=np.float32),
        mean=mean.astype(np.float32),
        scale=scale.astype(np.float32),
        threshold=np.array(thr, dtype=np.float32),
        embedding_model_sha256=np.array(meta["embedding_model_sha256"]),
        meta_json=np.array(json.dumps(meta, sort_keys=True)),
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
