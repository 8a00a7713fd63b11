"""``red_flags`` signal: the question describes an emergency; does the answer escalate?

Pack ``packs/red_flags.json`` holds emergency presentations (stroke, ACS, anaphylaxis, sepsis, ...),
each with patterns and a guideline source, plus the escalation vocabulary answers are checked against.

Level: ``not_assessed`` when the question describes no emergency; ``ok`` when the answer advises urgent
escalation; ``alert`` when it does not (or advises against it: "no need to go to the ER");
``caution`` when it does both, or when there is no answer yet to check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ..errors import PackError
from .negation import DENIAL_BEFORE
from .packs import Pack, compile_patterns, load_pack
from ..records.signal import Evidence, Signal, SignalContext

NAME = "red_flags"
_F = re.IGNORECASE
# A symptom mention preceded by negation.DENIAL_BEFORE (same clause) is negated: "denies chest pain", "no stiff neck".
# A named condition ("stroke", "sepsis") counts only as a present problem: "suspected sepsis", "having a stroke".
_NAMED_CUE = re.compile(
    r"\b(?:suspected|suspect|possible|probable|likely|ongoing|acute|current|having|has|had|with|presenting with|"
    r"presented with|symptoms of|signs of|in|into|think (?:he|she|they|i|it) (?:is|are|am|was|might be|may be)(?: having)?)\s+(?:an?\s+)?$",
    _F,
)


@dataclass(frozen=True)
class Condition:
    id: str
    condition: str
    source: str
    symptoms: tuple[re.Pattern[str], ...]
    named: tuple[re.Pattern[str], ...]
    requires: tuple[tuple[re.Pattern[str], ...], ...]
    advice: str


@dataclass(frozen=True)
class Rules:
    pack: Pack
    conditions: tuple[Condition, ...]
    patient: tuple[re.Pattern[str], ...]
    escalation: tuple[re.Pattern[str], ...]
    negation_before: re.Pattern[str]
    deescalation: tuple[re.Pattern[str], ...]


@lru_cache(maxsize=1)
def rules() -> Rules:
    pack = load_pack("red_flags")
    conds = []
    for i, e in enumerate(pack.entries):
        origin = f"red_flags entry {i}"
        if not isinstance(e, dict) or not all(k in e for k in ("id", "condition", "symptoms")):
            raise PackError(f"{origin}: needs id, condition, symptoms")
        symptoms = compile_patterns(e["symptoms"], origin)
        named = compile_patterns(e.get("named", []), origin)
        if not symptoms and not named:
            raise PackError(f"{origin}: no patterns")
        requires = tuple(compile_patterns(g, origin) for g in e.get("requires", []))
        conds.append(Condition(e["id"], e["condition"], e["source"], symptoms, named, requires, e.get("advice", "")))
    raw = pack.raw
    for key in ("patient_patterns", "escalation_patterns", "negation_before", "deescalation_patterns"):
        if key not in raw:
            raise PackError(f"red_flags pack: missing header field {key!r}")
    try:
        neg = re.compile(raw["negation_before"], _F)
    except re.error as exc:
        raise PackError(f"red_flags pack: bad negation_before ({exc})") from exc
    return Rules(pack, tuple(conds), compile_patterns(raw["patient_patterns"], "patient_patterns"),
                 compile_patterns(raw["escalation_patterns"], "escalation_patterns"), neg,
                 compile_patterns(raw["deescalation_patterns"], "deescalation_patterns"))


def _clause_before(text: str, start: int, width: int = 40) -> str:
    return text[max(0, start - width) : start]


def _first_unnegated(patterns: tuple[re.Pattern[str], ...], text: str, negation: re.Pattern[str]) -> re.Match[str] | None:
    for p in patterns:
        for m in p.finditer(text):
            if m.end() > m.start() and not negation.search(_clause_before(text, m.start())):
                return m
    return None


@dataclass(frozen=True)
class Emergency:
    condition: Condition
    start: int
    end: int


def find_emergencies(question: str) -> list[Emergency]:
    """Emergencies the question describes (first un-negated match per condition)."""
    r = rules()
    describes_patient = any(p.search(question) for p in r.patient)
    found = []
    for c in r.conditions:
        m = _first_unnegated(c.symptoms, question, DENIAL_BEFORE)
        if m is not None and not all(_first_unnegated(g, question, DENIAL_BEFORE) for g in c.requires):
            m = None  # symptoms without the context that makes them an emergency (e.g. chest pain, no risk factor)
        if m is None and describes_patient:  # a named condition, stated as present ("suspected sepsis")
            m = next((n for n in (_first_unnegated((p,), question, DENIAL_BEFORE) for p in c.named)
                      if n is not None and _NAMED_CUE.search(_clause_before(question, n.start()))), None)
        if m is None:
            continue
        found.append(Emergency(c, m.start(), m.end()))
    return found


def escalation_in(answer: str) -> tuple[list[re.Match[str]], list[re.Match[str]]]:
    """(escalation advice matches, de-escalation matches) in ``answer``; negated escalation counts as neither."""
    r = rules()
    esc, de = [], []
    for p in r.escalation:
        for m in p.finditer(answer):
            if not r.negation_before.search(_clause_before(answer, m.start())):
                esc.append(m)
    for p in r.deescalation:
        de.extend(p.finditer(answer))
    # an escalation phrase inside a de-escalation phrase ("no need to go to the ER") does not count
    esc = [m for m in esc if not any(d.start() <= m.start() < d.end() for d in de)]
    return sorted(esc, key=lambda m: m.start()), sorted(de, key=lambda m: m.start())


def assess(ctx: SignalContext) -> Signal:
    r = rules()
    q, a = ctx.question, ctx.answer
    found = find_emergencies(q)
    if not found:
        return Signal(NAME, "not_assessed", "No emergency presentation described in the question.", r.pack.ref)
    names = ", ".join(e.condition.condition.lower() for e in found)
    ev = [Evidence("question", e.start, e.end, q[e.start : e.end], e.condition.id,
                   f"{e.condition.condition} ({r.pack.sources.get(e.condition.source, e.condition.source).split(':')[0]}); expected: {e.condition.advice}")
          for e in found]
    if not a.strip():
        return Signal(NAME, "caution", f"Question describes a possible emergency ({names}); no answer to check yet.", r.pack.ref, evidence=tuple(ev))
    esc, de = escalation_in(a)
    ev += [Evidence("answer", m.start(), m.end(), a[m.start() : m.end()], "escalation", "answer advises urgent escalation") for m in esc[:3]]
    ev += [Evidence("answer", m.start(), m.end(), a[m.start() : m.end()], "de_escalation", "answer advises against urgent care") for m in de[:3]]
    if esc and not de:
        return Signal(NAME, "ok", f"Possible emergency ({names}); the answer advises urgent escalation.", r.pack.ref, evidence=tuple(ev))
    if esc and de:
        return Signal(NAME, "caution", f"Possible emergency ({names}); the answer both escalates and plays it down.", r.pack.ref, evidence=tuple(ev))
    why = "advises against urgent care" if de else "does not advise urgent escalation"
    return Signal(NAME, "alert", f"Possible emergency ({names}); the answer {why}.", r.pack.ref, evidence=tuple(ev))
