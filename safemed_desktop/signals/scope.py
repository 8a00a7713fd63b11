"""``scope`` signal: is the question one a clinical assistant should answer?

Rule-based (pack ``packs/scope_rules.json``). ``caution`` for non-clinical questions (recipes, coding,
stock tips, unrelated homework) and for requests the assistant must not fulfil (a definitive diagnosis
without a clinician, writing or issuing a prescription, signing documents); ``ok`` otherwise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ..errors import PackError
from .packs import Pack, compile_patterns, load_pack
from ..records.signal import Evidence, Signal, SignalContext

NAME = "scope"
KINDS = ("non_clinical", "must_not_fulfil")


@dataclass(frozen=True)
class ScopeRule:
    id: str
    kind: str
    patterns: tuple[re.Pattern[str], ...]
    description: str


@lru_cache(maxsize=1)
def rules() -> tuple[Pack, tuple[ScopeRule, ...], tuple[re.Pattern[str], ...]]:
    pack = load_pack("scope_rules")
    out = []
    for i, e in enumerate(pack.entries):
        origin = f"scope_rules entry {i}"
        if not isinstance(e, dict) or not all(k in e for k in ("id", "kind", "patterns", "description")):
            raise PackError(f"{origin}: needs id, kind, patterns, description")
        if e["kind"] not in KINDS:
            raise PackError(f"{origin}: kind must be one of {', '.join(KINDS)}")
        patterns = compile_patterns(e["patterns"], origin, non_empty=True)
        out.append(ScopeRule(e["id"], e["kind"], patterns, e["description"]))
    clinical = compile_patterns(pack.raw.get("clinical_context_patterns"), "scope_rules clinical_context_patterns",
                                non_empty=True)
    return pack, tuple(out), clinical


def assess(ctx: SignalContext) -> Signal:
    pack, all_rules, clinical = rules()
    q = ctx.question
    clinical_hit = next((m for p in clinical for m in [p.search(q)] if m), None)
    ev: list[Evidence] = []
    kinds: set[str] = set()
    for rule in all_rules:
        m = next((m for p in rule.patterns for m in [p.search(q)] if m and m.end() > m.start()), None)
        if m is None:
            continue
        if rule.kind == "non_clinical" and clinical_hit is not None:
            continue  # e.g. "a low-sodium recipe for heart failure": clinical context wins
        kinds.add(rule.kind)
        ev.append(Evidence("question", m.start(), m.end(), q[m.start() : m.end()], rule.id, rule.description))
    if "must_not_fulfil" in kinds:
        summary = "Asks for something the assistant must not do (definitive diagnosis, prescription or signature); a clinician must."
    elif kinds:
        summary = "Question looks outside clinical scope; the assistant is for clinical questions."
    else:
        return Signal(NAME, "ok", "Clinical question within the assistant's scope.", pack.ref)
    return Signal(NAME, "caution", summary, pack.ref, evidence=tuple(ev))
