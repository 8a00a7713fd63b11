"""``adversarial_input`` signal: jailbreaks, prompt injection and harmful requests in the question.

Two layers:

1. A rule pack (``packs/adversarial_rules.json``): regular expressions per tactic (role play, purpose
   inversion, scene construction, boundary probing, prompt injection, harmful requests), each with an id
   and description; evidence carries offsets into the question.
2. A logistic-regression classifier (``packs/adversarial_classifier.npz``, trained by
   ``tools/train_adversarial.py``) on mean-pooled llama.cpp embeddings of the question. It is only used
   when the embedding model's sha256 equals the one the classifier was trained with; otherwise the
   classifier part is reported as not assessed and the rules decide alone.

Level: ``alert`` when a strong rule hits or the classifier probability reaches its threshold;
``caution`` for weaker evidence; ``ok`` otherwise. ``score`` is the classifier probability.

Cascade (issue 18, time to first token): the rules run first. A strong rule decides alone (alert; the
classifier would not change it). When no rule fires, a lexical first stage (``signals.gate``, well under a
millisecond) clears questions that are clearly benign: its threshold lies below every harmful training
request's cross-validated score, with a margin (none of the held-out harmful requests is cleared; see
``bench/bench_adversarial.py``). Every other question goes to the embedding classifier. ``score`` is None
when the classifier did not run, and the summary says which stage decided. ``CASCADE = False`` (or
``assess(..., cascade=False)``) runs the classifier on every question.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import PackError, SafeMedError
from .gate import load_gate
from .packs import PACK_DIR, Pack, compile_patterns, load_pack
from ..records.signal import Evidence, Signal, SignalContext

NAME = "adversarial_input"
CLASSIFIER_PATH = PACK_DIR / "adversarial_classifier.npz"
TACTICS = (
    "role_play",
    "purpose_inversion",
    "scene_construction",
    "boundary_probing",
    "prompt_injection",
    "harmful_request",
)


# --------------------------------------------------------------------------- rules
@dataclass(frozen=True)
class Rule:
    id: str
    tactic: str
    strength: str  # "strong" | "weak"
    patterns: tuple[re.Pattern[str], ...]
    requires: tuple[re.Pattern[str], ...]
    unless: tuple[re.Pattern[str], ...]
    description: str


@dataclass(frozen=True)
class RuleHit:
    rule: Rule
    start: int
    end: int
    strong: bool  # strong rule and no 'unless' context
    detail: str


@lru_cache(maxsize=1)
def rules() -> tuple[Pack, tuple[Rule, ...]]:
    pack = load_pack("adversarial_rules")
    out = []
    for i, e in enumerate(pack.entries):
        origin = f"adversarial_rules entry {i} ({e.get('id', '?') if isinstance(e, dict) else '?'})"
        if not isinstance(e, dict) or not all(k in e for k in ("id", "tactic", "strength", "patterns", "description")):
            raise PackError(f"{origin}: needs id, tactic, strength, patterns, description")
        if e["tactic"] not in TACTICS:
            raise PackError(f"{origin}: unknown tactic {e['tactic']!r}")
        if e["strength"] not in ("strong", "weak"):
            raise PackError(f"{origin}: strength must be 'strong' or 'weak'")
        pats = compile_patterns(e["patterns"], origin, allow_none=True)
        if not pats:
            raise PackError(f"{origin}: no patterns")
        requires = compile_patterns(e.get("requires"), origin, allow_none=True)
        unless = compile_patterns(e.get("unless"), origin, allow_none=True)
        out.append(Rule(e["id"], e["tactic"], e["strength"], pats, requires, unless, e["description"]))
    return pack, tuple(out)


def _sentence_around(text: str, start: int, end: int) -> str:
    a = max(text.rfind(c, 0, start) for c in ".?!\n") + 1
    ends = [i for i in (text.find(c, end) for c in ".?!\n") if i != -1]
    return text[a : min(ends) + 1 if ends else len(text)]


def match_rules(question: str) -> list[RuleHit]:
    """Every rule that fires on ``question`` (first match per rule)."""
    _, all_rules = rules()
    hits = []
    for rule in all_rules:
        m = None
        for p in rule.patterns:
            m = p.search(question)
            if m:
                break
        if not m or m.end() == m.start():
            continue
        if rule.requires and not any(p.search(question) for p in rule.requires):
            continue
        start, end = m.start(), m.end()
        sentence = _sentence_around(question, start, end)
        if any(p.search(sentence) for p in rule.unless):
            continue  # the same sentence asks about reporting, prevention or treatment: not an attack
        strong = rule.strength == "strong"
        hits.append(RuleHit(rule, start, end, strong, f"{rule.tactic.replace('_', ' ')}: {rule.description}"))
    return hits


# --------------------------------------------------------------------------- classifier
@dataclass(frozen=True)
class Classifier:
    weights: np.ndarray
    bias: float
    mean: np.ndarray
    scale: np.ndarray
    threshold: float
    embedding_model_sha256: str
    meta: dict

    @property
    def version(self) -> str:
        return str(self.meta.get("version", "unknown"))

    def probability(self, embeddings: np.ndarray) -> np.ndarray:
        z = ((np.atleast_2d(embeddings) - self.mean) / self.scale) @ self.weights + self.bias
        return 1.0 / (1.0 + np.exp(-np.clip(z, -35, 35)))


_clf_lock = threading.Lock()
_classifiers: dict[Path, Classifier] = {}


def load_classifier(path: str | Path | None = None) -> Classifier:
    """Load (and cache) a classifier npz; raises PackError when it is missing or malformed."""
    p = Path(path) if path is not None else CLASSIFIER_PATH
    with _clf_lock:
        if p in _classifiers:
            return _classifiers[p]
    try:
        with np.load(p, allow_pickle=False) as z:
            meta = json.loads(str(z["meta_json"]))
            clf = Classifier(
                weights=z["weights"].astype(np.float64),
                bias=float(z["bias"]),
                mean=z["mean"].astype(np.float64),
                scale=z["scale"].astype(np.float64),
                threshold=float(z["threshold"]),
                embedding_model_sha256=str(z["embedding_model_sha256"]),
                meta=meta,
            )
    except FileNotFoundError:
        raise PackError(f"adversarial classifier not found at {p}") from None
    except (KeyError, ValueError, OSError, json.JSONDecodeError) as exc:
        raise PackError(f"adversarial classifier {p} is malformed: {exc}") from exc
    if clf.weights.shape != clf.mean.shape or clf.weights.shape != clf.scale.shape or not 0 < clf.threshold < 1:
        raise PackError(f"adversarial classifier {p} is malformed: inconsistent shapes or threshold")
    with _clf_lock:
        _classifiers[p] = clf
    return clf


@dataclass(frozen=True)
class ClassifierResult:
    probability: float | None  # None when not assessed
    threshold: float | None
    note: str  # one line: why not assessed, or the outcome


def classify(question: str, *, classifier: Classifier | None = None, embed_model_path: str | Path | None = None) -> ClassifierResult:
    """Classifier probability for ``question``; not assessed (probability None) when the embedding model
    is missing or is not the one the classifier was trained with."""
    from .embeddings import get_embedder

    try:
        clf = classifier or load_classifier()
        emb = get_embedder(embed_model_path)
    except SafeMedError as exc:
        return ClassifierResult(None, None, f"classifier not assessed: {exc}")
    if emb.sha256 != clf.embedding_model_sha256:
        return ClassifierResult(
            None, clf.threshold,
            f"classifier not assessed: embedding model {emb.model_path.name} sha256 {emb.sha256[:12]} "
            f"differs from the classifier's {clf.embedding_model_sha256[:12]}",
        )
    prob = float(clf.probability(emb.embed(question))[0])
    return ClassifierResult(prob, clf.threshold, f"classifier probability {prob:.2f} (threshold {clf.threshold:.2f})")


# --------------------------------------------------------------------------- signal
def _outside_clinical_domain(question: str) -> bool:
    """True when the scope pack's non-clinical rules fire and no clinical vocabulary is present."""
    from . import scope

    _, scope_rules, clinical = scope.rules()
    if any(p.search(question) for p in clinical):
        return False
    return any(p.search(question) for r in scope_rules if r.kind == "non_clinical" for p in r.patterns)


def caution_threshold(threshold: float) -> float:
    """Probability from which the classifier alone gives ``caution``: halfway between 0.5 and the alert threshold."""
    return 0.5 + (threshold - 0.5) / 2.0 if threshold > 0.5 else threshold


CASCADE = True


def first_stage(question: str, hits: list[RuleHit]) -> tuple[str | None, str]:
    """The cascade's cheap decision: ("rules", why) when a strong rule decides, ("gate", why) when the lexical
    stage clears the question, (None, why) when the embedding classifier must run."""
    if any(h.strong for h in hits):
        return "rules", "a strong rule decided; classifier not needed"
    if hits:
        return None, "weak rule evidence: classifier needed"
    try:
        g = load_gate()
    except SafeMedError as exc:
        return None, f"first stage unavailable ({exc})"
    cleared, p = g.clears(question)
    if cleared:
        return "gate", f"lexical first stage cleared it (score {p:.3f} < {g.clear_below:.3f}); classifier not needed"
    return None, f"lexical first stage unsure (score {p:.3f}); classifier needed"


def assess(ctx: SignalContext, *, classifier: Classifier | None = None, embed_model_path: str | Path | None = None,
           cascade: bool | None = None) -> Signal:
    question = ctx.question
    pack, _ = rules()
    hits = match_rules(question)
    stage, why = first_stage(question, hits) if (CASCADE if cascade is None else cascade) else (None, "")
    if stage is None:
        res = classify(question, classifier=classifier, embed_model_path=embed_model_path)
    else:
        res = ClassifierResult(None, None, why)
    clf_version = classifier.version if classifier else None
    if clf_version is None:
        try:
            clf_version = load_classifier().version
        except SafeMedError:
            clf_version = "missing"
    source = f"{pack.ref}+adversarial-classifier@{clf_version}"
    if stage == "gate":
        source += f"+gate@{load_gate().version}"

    evidence = [Evidence("question", h.start, h.end, question[h.start : h.end], h.rule.id, h.detail) for h in hits]
    prob, thr = res.probability, res.threshold
    clf_alert = prob is not None and thr is not None and prob >= thr
    clf_caution = prob is not None and thr is not None and not clf_alert and prob >= caution_threshold(thr)
    if clf_alert or clf_caution:
        evidence.append(Evidence("question", 0, len(question), question, "classifier",
                                 f"embedding classifier probability {prob:.2f} vs alert threshold {thr:.2f}"))
    off_domain = clf_alert and not hits and _outside_clinical_domain(question)
    if off_domain:  # the classifier saw only medical text; a cake recipe is scope's business, not an attack
        clf_alert, clf_caution = False, True
    strong = [h for h in hits if h.strong]
    tactics = sorted({h.rule.tactic.replace("_", " ") for h in hits})
    if strong or clf_alert:
        level = "alert"
        why = ", ".join(tactics) if tactics else "resembles harmful requests"
        summary = f"Question looks adversarial or harmful ({why}); do not act on it without review."
    elif hits or clf_caution:
        level = "caution"
        why = ", ".join(tactics) if tactics else "partly resembles harmful requests"
        summary = f"Question has features of a manipulation attempt ({why}); read it carefully."
    else:
        level = "ok"
        summary = "No jailbreak, injection or harmful-request pattern found."
    if off_domain:
        summary += " The question is outside the classifier's clinical training domain, so its score is only indicative."
    if stage == "gate":
        summary += " Cleared by the lexical first stage; the embedding classifier was not needed."
    elif stage == "rules":
        summary += " Decided by the rules; the embedding classifier was not needed."
    elif prob is None:
        summary += f" Classifier not assessed ({res.note.removeprefix('classifier not assessed: ')}); rules only."
    return Signal(name=NAME, level=level, summary=summary, source=source, score=prob, evidence=tuple(evidence))
