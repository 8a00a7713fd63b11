"""``guideline_consistency``: does the answer follow the first-line statements of published guidelines?

Each rule of the ``guidelines`` pack fires on condition terms in the question (and, where the rule
asks for it, a treatment intent such as "treat" or "first-line"; optionally a minimum patient age).
The answer is then checked:

- it recommends an agent the guideline advises against in that setting -> the rule's level
  (``caution`` or ``alert``) with the agent as evidence;
- it names a guideline-recommended agent -> ``ok``;
- it names neither -> ``caution`` ("no guideline-recommended first-line agent mentioned");
- no rule fires -> ``not_assessed``.

A mention that is negated or warned against ("avoid ciprofloxacin", "antibiotics are not
needed") is not a recommendation (:func:`signals.negation.is_negated`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ..errors import PackError
from .negation import is_negated  # also the public guidelines.is_negated
from .packs import Pack, join_sources, load_pack
from ..records.signal import LEVEL_RANK, Evidence, Signal, SignalContext, worst_level

NAME = "guideline_consistency"
PACK = "guidelines"


# ---------------------------------------------------------------------------------- term matching
def _term_body(term: str) -> str:
    parts: list[str] = []
    for ch in term.strip():
        if ch.isspace():
            if parts and parts[-1] == r"[\s\-]+":
                continue
            parts.append(r"[\s\-]+")
        elif ch == "-":
            parts.append(r"[\s\-]?")
        elif ch == "/":
            parts.append(r"\s*[/\-]?\s*")
        else:
            parts.append(re.escape(ch))
    return "".join(parts)


def _case_sensitive(term: str) -> bool:
    """Short all-capital acronyms (``AF``, ``ASA``, ``ICS``) match case-sensitively so that ordinary
    words ("af", "asa") do not trigger them."""
    return term.isupper() and len(term.strip()) <= 5


def _compile_terms(terms: list[str], flags: int) -> re.Pattern[str] | None:
    if not terms:
        return None
    bodies = sorted({_term_body(t) for t in terms}, key=len, reverse=True)
    return re.compile(r"(?<![\w\-])(?:" + "|".join(bodies) + r")(?:e?s)?(?![\w])", flags)


def term_pattern(term: str) -> re.Pattern[str]:
    """A whole-word pattern for one pack term: spaces/hyphens interchangeable, optional plural 's'."""
    return _compile_terms([term], 0 if _case_sensitive(term) else re.IGNORECASE)


@dataclass(frozen=True)
class TermSet:
    label: str
    patterns: tuple[re.Pattern[str], ...]  # at most two: case-insensitive terms, case-sensitive acronyms

    def find(self, text: str) -> list[tuple[int, int]]:
        spans: list[tuple[int, int]] = []
        for pat in self.patterns:
            spans.extend(m.span() for m in pat.finditer(text))
        return _dedupe(spans) if len(self.patterns) > 1 else spans


def _dedupe(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Drop spans contained in a longer span; sort by position."""
    spans = sorted(set(spans), key=lambda s: (s[0], -(s[1] - s[0])))
    out: list[tuple[int, int]] = []
    for s in spans:
        if out and s[0] >= out[-1][0] and s[1] <= out[-1][1]:
            continue
        out.append(s)
    return out


def make_terms(label: str, terms: list[str]) -> TermSet:
    terms = [t for t in terms if t.strip()]
    pats = (_compile_terms([t for t in terms if not _case_sensitive(t)], re.IGNORECASE),
            _compile_terms([t for t in terms if _case_sensitive(t)], 0))
    return TermSet(label, tuple(p for p in pats if p is not None))


# ---------------------------------------------------------------------------------- rules
@dataclass(frozen=True)
class Discouraged:
    agent: str
    terms: TermSet
    level: str
    only_without_expected: bool
    why: str


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    statement: str
    source: str
    trigger: TermSet
    also_any: TermSet | None
    exclude: TermSet | None
    min_age: float | None
    require_intent: bool
    expected: tuple[TermSet, ...]
    discouraged: tuple[Discouraged, ...]


@dataclass(frozen=True)
class GuidelinePack:
    pack: Pack
    intent: TermSet
    rules: tuple[Rule, ...]


def _strlist(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(x, str) and x.strip() for x in value):
        raise PackError(f"guidelines pack: {where} must be a list of non-empty strings")
    return value


def parse_rules(pack: Pack) -> GuidelinePack:
    """Validate the rule schema of a parsed guidelines pack."""
    intent = make_terms("treatment intent", _strlist(pack.raw.get("treatment_intent"), "treatment_intent"))
    rules: list[Rule] = []
    seen: set[str] = set()
    for i, e in enumerate(pack.entries):
        where = f"entry {i}"
        if not isinstance(e, dict):
            raise PackError(f"guidelines pack: {where} is not an object")
        for key in ("id", "title", "statement", "trigger", "expected", "discouraged"):
            if key not in e:
                raise PackError(f"guidelines pack: {where} lacks {key!r}")
        rid = e["id"]
        if rid in seen:
            raise PackError(f"guidelines pack: duplicate rule id {rid!r}")
        seen.add(rid)
        trig = e["trigger"]
        if not isinstance(trig, dict):
            raise PackError(f"guidelines pack: {rid}: trigger must be an object")
        expected = []
        for j, x in enumerate(e["expected"]):
            expected.append(make_terms(str(x.get("agent", "")), _strlist(x.get("terms"), f"{rid} expected {j} terms")))
        discouraged = []
        for j, x in enumerate(e["discouraged"]):
            level = x.get("level")
            if level not in ("caution", "alert"):
                raise PackError(f"guidelines pack: {rid} discouraged {j}: level must be caution or alert, got {level!r}")
            if not x.get("why"):
                raise PackError(f"guidelines pack: {rid} discouraged {j}: missing 'why'")
            discouraged.append(Discouraged(
                agent=str(x.get("agent", "")), terms=make_terms(x.get("agent", ""), _strlist(x.get("terms"), f"{rid} discouraged {j} terms")),
                level=level, only_without_expected=bool(x.get("only_without_expected", False)), why=str(x["why"]),
            ))
        if not expected and not discouraged:
            raise PackError(f"guidelines pack: {rid}: needs expected or discouraged agents")
        rules.append(Rule(
            id=rid, title=e["title"], statement=e["statement"],
            source=join_sources(e["source"]),
            trigger=make_terms("trigger", _strlist(trig.get("any"), f"{rid} trigger.any")),
            also_any=make_terms("also", _strlist(trig["also_any"], f"{rid} trigger.also_any")) if "also_any" in trig else None,
            exclude=make_terms("exclude", _strlist(trig["exclude"], f"{rid} trigger.exclude")) if "exclude" in trig else None,
            min_age=float(trig["min_age"]) if trig.get("min_age") is not None else None,
            require_intent=bool(trig.get("require_intent", False)),
            expected=tuple(expected), discouraged=tuple(discouraged),
        ))
    return GuidelinePack(pack=pack, intent=intent, rules=tuple(rules))


@lru_cache(maxsize=1)
def load_rules() -> GuidelinePack:
    return parse_rules(load_pack(PACK))


_AGE = re.compile(
    r"\b(\d{1,3})\s*[- ]?\s*(?:years?|yrs?|y)[- ]?(?:old|of age)\b|\baged?\s+(\d{1,3})\b|\b(\d{1,3})\s*(?:yo|y/o)\b",
    re.IGNORECASE,
)


def question_age(question: str) -> float | None:
    m = _AGE.search(question)
    if not m:
        return None
    return float(next(g for g in m.groups() if g))


def fired_rules(question: str, patient=None, rules: GuidelinePack | None = None) -> list[tuple[Rule, tuple[int, int]]]:
    """Rules whose trigger matches the question, with the trigger span."""
    gp = rules or load_rules()
    out = []
    intent = None
    for rule in gp.rules:
        spans = rule.trigger.find(question)
        if not spans:
            continue
        if rule.exclude is not None and rule.exclude.find(question):
            continue
        if rule.also_any is not None and not rule.also_any.find(question):
            continue
        if rule.require_intent:
            if intent is None:
                intent = bool(gp.intent.find(question))
            if not intent:
                continue
        if rule.min_age is not None:
            age = patient.age if patient is not None and patient.age is not None else question_age(question)
            if age is None or age < rule.min_age:
                continue
        out.append((rule, spans[0]))
    return out


def recommended_spans(terms: TermSet, answer: str) -> list[tuple[int, int]]:
    """Spans of ``terms`` in the answer that are not negated."""
    return [s for s in terms.find(answer) if not is_negated(answer, *s)]


#: Per fired rule: (expected mentions, discouraged mentions), each ``(agent index, (start, end), negated)``.
RuleSpans = tuple[list[tuple[int, tuple[int, int], bool]], list[tuple[int, tuple[int, int], bool]]]


def answer_spans(fired: list[tuple[Rule, tuple[int, int]]], text: str, offset: int = 0) -> list[RuleSpans]:
    """Every expected and discouraged agent mention in ``text`` (offsets shifted by ``offset``), with its
    negation, per fired rule. Mentions and negation never reach past a sentence end, so the spans of a
    whole answer are the spans of its sentences put together (``signals.incremental`` relies on it)."""
    out: list[RuleSpans] = []
    for rule, _ in fired:
        exp = [(i, (a + offset, b + offset), is_negated(text, a, b))
               for i, ts in enumerate(rule.expected) for a, b in ts.find(text)]
        dis = [(j, (a + offset, b + offset), is_negated(text, a, b))
               for j, d in enumerate(rule.discouraged) for a, b in d.terms.find(text)]
        out.append((exp, dis))
    return out


def assess(ctx: SignalContext) -> Signal:
    gp = load_rules()
    fired = fired_rules(ctx.question, ctx.patient, gp)
    if not fired:
        return Signal(NAME, "not_assessed", "No guideline rule in the pack applies to this question.", gp.pack.ref)
    answer = ctx.answer or ""
    return conclude(gp, ctx.question, answer, fired, answer_spans(fired, answer))


def conclude(gp: GuidelinePack, question: str, answer: str, fired: list[tuple[Rule, tuple[int, int]]],
             spans: list[RuleSpans]) -> Signal:
    """The signal from the mentions ``answer_spans`` found (in any order of sentences) in ``answer``."""
    source = gp.pack.ref
    evidence: list[Evidence] = []
    findings: list[tuple[str, str]] = []  # (level, sentence)
    for (rule, trig_span), (exp, dis) in zip(fired, spans):
        key = lambda x: (x[0], x[1][0], -(x[1][1] - x[1][0]))  # noqa: E731  (agent order, then position)
        exp, dis = sorted(exp, key=key), sorted(dis, key=key)
        hits = [(rule.expected[i].label, s) for i, s, neg in exp if not neg]
        bad: list[tuple[Discouraged, tuple[int, int]]] = []
        for j, s, neg in dis:
            d = rule.discouraged[j]
            if not neg and not (d.only_without_expected and hits):
                bad.append((d, s))
        if bad:
            worst_d, worst_s = max(bad, key=lambda b: LEVEL_RANK[b[0].level])
            findings.append((worst_d.level, f"answer recommends {answer[worst_s[0]:worst_s[1]]}: {worst_d.why}"))
            for d, (a, b) in bad:
                evidence.append(Evidence("answer", a, b, answer[a:b], f"guideline:{rule.id}", f"{d.why}. [{rule.source}]"))
        if not hits and not bad:
            # warning against an agent the guideline discourages agrees with the guideline
            warned = next(((j, s) for j, s, neg in dis if neg), None)
            if warned is not None:
                hits.append((f"advises against {rule.discouraged[warned[0]].agent}", warned[1]))
        if hits:
            label, (a, b) = hits[0]
            if not bad:
                if label.startswith("advises against"):
                    named = f"advises against {answer[a:b]}"
                elif answer[a:b].lower() == label.lower():
                    named = f"mentions {answer[a:b]}"
                else:
                    named = f"mentions {answer[a:b]} ({label})"
                findings.append(("ok", f"{named}, consistent with {rule.title.lower()} guidance ({rule.source})"))
            kind = label if label.startswith("advises against") else f"guideline-recommended ({label})"
            evidence.append(Evidence("answer", a, b, answer[a:b], f"guideline:{rule.id}",
                                     f"{kind}: {rule.statement} [{rule.source}]"))
        elif not bad:
            if rule.expected:
                findings.append(("caution", f"no guideline-recommended first-line agent mentioned for {rule.title.lower()} ({rule.source})"))
                a, b = trig_span
                evidence.append(Evidence("question", a, b, question[a:b], f"guideline:{rule.id}",
                                         f"expected one of: {', '.join(t.label for t in rule.expected)}. {rule.statement} [{rule.source}]"))
            else:
                findings.append(("ok", f"no conflict with {rule.title.lower()} guidance ({rule.source})"))
    level = worst_level(lv for lv, _ in findings)
    # lead with the most severe finding
    ordered = sorted(findings, key=lambda f: -LEVEL_RANK[f[0]])
    summary = ordered[0][1]
    summary = summary[0].upper() + summary[1:]
    if len(ordered) > 1:
        summary += f" (+{len(ordered) - 1} more rule{'s' if len(ordered) > 2 else ''})"
    return Signal(NAME, level, summary + ".", source, evidence=tuple(evidence))
