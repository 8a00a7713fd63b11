"""The Clinical Trust Signal pipeline: every signal, in a fixed order, for one question and answer.

``assess_question`` runs the question-only signals before generation (the guard may block the
question); ``assess_all`` runs all seven after it, reusing the question signals already computed.

A signal module that cannot be imported or raises does not take the others down and is not
hidden either: its place holds a ``not_assessed`` signal whose summary names the failure, and
the failure is logged with its traceback.
"""

from __future__ import annotations

import importlib
import logging
from typing import Callable, Iterable

from ..errors import SafeMedError
from ..records.patient import PatientContext
from .packs import PACK_DIR, load_pack
from ..records.signal import SIGNAL_NAMES, Signal, SignalContext

log = logging.getLogger(__name__)

SIGNAL_ORDER: tuple[str, ...] = SIGNAL_NAMES
QUESTION_SIGNALS: tuple[str, ...] = ("adversarial_input", "scope")

#: signal name -> module under ``safemed_desktop.signals``
MODULES: dict[str, str] = {
    "confidence": "confidence",
    "medication_safety": "medication_safety",
    "adversarial_input": "adversarial",
    "red_flags": "red_flags",
    "scope": "scope",
    "guideline_consistency": "guidelines",
    "reasoning_consistency": "reasoning_consistency",
}

__all__ = [
    "SIGNAL_ORDER", "QUESTION_SIGNALS", "MODULES", "assess_question", "assess_all", "assess_one",
    "not_assessed_because", "pack_versions",
]


def _failure(name: str, what: str, exc: BaseException) -> Signal:
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    detail = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return Signal(name, "not_assessed", f"Signal {what}: {detail}", "pipeline")


def _assessor(name: str) -> Callable[..., Signal]:
    module = importlib.import_module(f"{__package__}.{MODULES[name]}")
    fn = getattr(module, "assess", None)
    if fn is None:
        raise AttributeError(f"module {module.__name__} has no assess()")
    return fn


def assess_one(name: str, ctx: SignalContext, **kwargs) -> Signal:
    """One signal; a failure becomes a logged ``not_assessed`` signal naming it."""
    if name not in MODULES:
        raise KeyError(f"unknown signal {name!r}")
    try:
        fn = _assessor(name)
    except Exception as exc:  # noqa: BLE001  (logged and reported in the signal)
        log.error("signal %s unavailable: %s", name, exc, exc_info=True)
        return _failure(name, "unavailable", exc)
    try:
        signal = fn(ctx, **kwargs)
    except Exception as exc:  # noqa: BLE001  (logged and reported in the signal)
        log.error("signal %s failed: %s", name, exc, exc_info=True)
        return _failure(name, "failed", exc)
    if not isinstance(signal, Signal) or signal.name != name:
        got = getattr(signal, "name", type(signal).__name__)
        log.error("signal %s returned %r instead of its own Signal", name, got)
        return Signal(name, "not_assessed", f"Signal failed: module returned {got!r} instead of a {name} signal", "pipeline")
    return signal


def assess_question(question: str, patient: PatientContext | None = None,
                    history: tuple[tuple[str, str], ...] = ()) -> list[Signal]:
    """The question-only signals (``QUESTION_SIGNALS``), run before the model, then question screening:
    when the question proposes a drug, dose or combination for this patient ("What dose of ibuprofen for
    this patient?" with eGFR 25 on warfarin), a ``medication_safety`` signal whose evidence targets the
    question (``medication_safety.screen_question``), shown whatever the model answers. The guard treats it
    like any medication_safety signal (it can collapse an answer, never block a question); ``assess_all``
    recomputes medication_safety on the answer (which lists the question's findings as evidence too).
    ``history``: the conversation's earlier turns, (question, answer) oldest first (a follow-up that names no
    drug is screened for the drugs of the earlier question it follows up)."""
    history = tuple(history or ())
    ctx = SignalContext(question=question, patient=patient, history=history)
    out = [assess_one(name, ctx) for name in QUESTION_SIGNALS]
    try:
        from .medication_safety import screen_question

        med = screen_question(question, patient, history)
    except Exception as exc:  # noqa: BLE001  (logged and reported in the signal)
        log.error("question screening failed: %s", exc, exc_info=True)
        med = _failure("medication_safety", "failed", exc)
    if med is not None:
        out.append(med)
    return out


def assess_all(
    ctx: SignalContext,
    *,
    precomputed: Iterable[Signal] | None = None,
    samples: list[str] | None = None,
) -> list[Signal]:
    """All seven signals in ``SIGNAL_ORDER``.

    ``precomputed``: question signals already produced by ``assess_question`` for the same question
    (reused, not recomputed). ``samples``: extra sampled answers for the confidence signal's
    self-consistency measure (off when None).
    """
    done = {s.name: s for s in (precomputed or ()) if s.name in QUESTION_SIGNALS}
    out = []
    for name in SIGNAL_ORDER:
        if name in done:
            out.append(done[name])
        elif name == "confidence" and samples:
            out.append(assess_one(name, ctx, samples=samples))
        else:
            out.append(assess_one(name, ctx))
    return out


def check_rules(ctx: SignalContext) -> None:
    """Run every signal on ``ctx`` with no safety net: the first error (a knowledge pack whose entries do not
    build into rules, say) is raised, not turned into a ``not_assessed`` signal. For checking new packs."""
    for name in MODULES:
        _assessor(name)(ctx)


def not_assessed_because(signals: Iterable[Signal], reason: str) -> list[Signal]:
    """All seven in order: the given signals kept, every other one ``not_assessed`` with ``reason``."""
    have = {s.name: s for s in signals}
    return [have.get(name) or Signal(name, "not_assessed", reason[:1].upper() + reason[1:] + ".", "pipeline")
            for name in SIGNAL_ORDER]


def pack_versions() -> dict[str, str]:
    """``{pack name: version}`` of every knowledge pack installed (recorded with each answer)."""
    out: dict[str, str] = {}
    for path in sorted(PACK_DIR.glob("*.json")):
        pack = load_pack(path.stem)  # raises PackError for a broken pack: never record a guess
        out[pack.name] = pack.version
    classifier = PACK_DIR / "adversarial_classifier.npz"
    if classifier.is_file():
        from .adversarial import load_classifier

        try:
            out["adversarial_classifier"] = load_classifier(classifier).version
        except SafeMedError as exc:  # the adversarial signal reports it too; record what we know
            log.error("adversarial classifier unreadable: %s", exc)
            out["adversarial_classifier"] = "unreadable"
    gate = PACK_DIR / "adversarial_gate.npz"
    if gate.is_file():
        from .gate import load_gate

        try:
            out["adversarial_gate"] = load_gate(gate).version
        except SafeMedError as exc:
            log.error("adversarial gate unreadable: %s", exc)
            out["adversarial_gate"] = "unreadable"
    return out
