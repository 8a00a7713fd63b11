"""The ``medication_safety`` trust signal: checks the drugs an answer recommends against the
formulary, interaction and allergy packs and the patient context.

Rules (rule ids in Evidence.rule):
  max_single_dose / max_daily_dose (adult), pediatric_max_single_dose / pediatric_max_daily_dose
  (age < 18; mg/kg with weight), renal_max_daily_dose, weekly_dosed_daily (methotrexate),
  forbidden_route (potassium chloride IV push, vincristine intrathecal), high_alert_medication (ISMP),
  interaction_patient / interaction_answer, allergy / allergy_class / cross_allergy, renal, pregnancy,
  age, and warning_context (a drug the answer mentions only to warn against it: no dose or
  interaction checks for it; recorded as evidence of a correct warning). unchecked_medication: a
  patient medication no formulary drug matches (zero-width evidence; named in the summary too), which
  cannot be checked for interactions; it does not change the level.

Pack 2026.12 (issue 13; arithmetic and limits in ``signals.dose_checks``): max_single_dose_per_kg /
max_daily_dose_per_kg (adult mg/kg), max_dose_per_m2 (BSA), unit_error (a dose ~1000x off the usual one:
mcg/mg confusion), loading_dose / maintenance_max_daily_dose, stated_cap_above_maximum ("up to 6 g a day"),
weekly_dosed_daily / monthly_dosed_daily (with the daily regimen a drug allows), max_duration, low_weight_max_dose,
geriatric_max_dose, hepatic_max_dose / hepatic, lactation, dose- and gestation-dependent pregnancy,
cumulative_daily_dose (one ingredient across products and the patient's medications), duplicate_ingredient,
duplicate_therapy (two NSAIDs), abrupt_discontinuation (drugs that need a taper). Combination strengths
("5/325") and named products ("Extra Strength Tylenol") are checked per ingredient. Every dose finding states
its arithmetic. Patient facts the question states (height, weight, age, eGFR, gestational week,
breastfeeding, hepatic impairment) complete the patient context. ``screen_question`` checks the drugs a
question proposes (question screening, ``pipeline.assess_question``); ``assess`` lists those findings as
evidence with target "question" and rule ``question_*`` without letting them change the answer's level.
In a conversation (``SignalContext.history``) a follow-up that names no drug is screened for the drugs of the
most recent earlier question that named one, and its evidence says "from the earlier question in this
conversation" (``_earlier_proposal``).

Level: alert if any contraindicated/major finding, caution if only moderate/high-alert findings,
ok if drugs were found and nothing is wrong, not_assessed if the answer names no drug.
Score = 1 - severity of the worst finding (contraindicated 1.0, major 0.8, moderate 0.4, high-alert 0.2).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from functools import lru_cache

from ..records.patient import PatientContext
from . import dose_checks
from .formulary import Drug, Interaction, Knowledge, Quantity, load_knowledge, normalize_name
from .medication_parse import Dose, MedicationMention, find_drugs, parse_medication_list, parse_text
from .negation import Cue, scan
from .units import canonical_unit, factor as unit_factor
from ..records.signal import Evidence, Signal, SignalContext, worst_level

NAME = "medication_safety"
WEIGHT = {"contraindicated": 1.0, "major": 0.8, "moderate": 0.4, "high_alert": 0.2, "note": 0.0, "none": 0.0}
_LEVEL = {"contraindicated": "alert", "major": "alert", "moderate": "caution", "high_alert": "caution"}


_Finding = dose_checks.Finding


def _fmt(value: float, unit: str) -> str:
    if unit == "mg" and value >= 1000:
        return f"{value / 1000:g} g"
    if unit == "mg" and value < 1:
        return f"{value * 1000:g} mcg"
    return f"{value:.4g} {unit}" if value != int(value) else f"{value:g} {unit}"


def _name(m: MedicationMention) -> str:
    if m.is_class:
        return f"{m.text} ({m.generic[6:]} class)"
    return m.generic if normalize_name(m.text) == normalize_name(m.generic) else f"{m.text} ({m.generic})"


def _keys(k: Knowledge, generic: str, _seen: frozenset[str] = frozenset()) -> frozenset[str]:
    d = k.drugs[generic]
    keys = {generic, *(f"class:{c}" for c in d.classes)}
    for comp in d.components:
        if comp not in _seen:
            keys |= _keys(k, comp, _seen | {generic})
    return frozenset(keys)


class _Index:
    """Per-knowledge lookups built once: interaction index and drug keys."""

    _cache: dict[int, tuple[Knowledge, "_Index"]] = {}

    def __init__(self, k: Knowledge):
        self.keys = {g: _keys(k, g) for g in k.drugs}
        self.keys.update({f"class:{c}": frozenset({f"class:{c}"}) for c in k.classes})
        names = sorted(k.allergy_names, key=len, reverse=True)
        self.allergy_rx = re.compile(r"(?<![\w-])(?:" + "|".join(re.escape(n) for n in names) + r")(?![\w-])")
        self._pairs: dict[tuple[str, str], list[Interaction]] = {}  # memo of interactions(x, y)
        self.by_key: dict[str, list[tuple[str, Interaction]]] = {}
        for it in k.interactions:
            self.by_key.setdefault(it.a, []).append((it.b, it))
            if it.b != it.a:
                self.by_key.setdefault(it.b, []).append((it.a, it))

    @classmethod
    def of(cls, k: Knowledge) -> "_Index":
        hit = cls._cache.get(id(k))
        if hit is None or hit[0] is not k:
            hit = (k, cls(k))
            cls._cache[id(k)] = hit
        return hit[1]

    def interactions(self, x: str, y: str) -> list[Interaction]:
        hit = self._pairs.get((x, y))
        if hit is None:
            hit = self._pairs[(x, y)] = self._interactions(x, y)
        return list(hit)

    def _interactions(self, x: str, y: str) -> list[Interaction]:
        if x == y:
            return []
        kx, ky = self.keys[x], self.keys[y]
        found: dict[int, Interaction] = {}
        for key in kx:
            for other, it in self.by_key.get(key, ()):
                if other in ky:
                    found[id(it)] = it
        return sorted(found.values(), key=lambda i: -WEIGHT[i.severity])


def _dose_span(answer: str, dose: Dose) -> tuple[int, int]:
    end = dose.end
    if dose.frequency and dose.frequency.start >= dose.end and dose.frequency.start - dose.end <= 40:
        end = dose.frequency.end
    return dose.start, end


def _limit(q: Quantity | None, unit: str) -> float | None:
    if q is None:
        return None
    v, u = q.canonical()
    return v if u == unit else None


def _check_doses(m: MedicationMention, d: Drug, c: "dose_checks.Ctx", out: list[_Finding]) -> None:
    dose_checks.check_doses(m, d, c, _name(m), out)


def _routes(m: MedicationMention) -> set[str]:
    r = set(m.route_names)
    if "iv_push" in r:
        r.add("iv")
    return r


def _check_drug(m: MedicationMention, d: Drug, c: "dose_checks.Ctx", out: list[_Finding], once: set,
                current: dict[str, str]) -> None:
    who = _name(m)
    p, answer = c.p, c.answer
    if not d.components:  # a combination's doses are checked per ingredient (dose_checks.ingredients)
        _check_doses(m, d, c, out)
    dose_checks.check_schedule(m, d, c, who, out)
    dose_checks.check_lactation(m, d, c, who, out, once)
    routes = _routes(m)
    for rule in d.forbidden_routes:
        if rule.route in routes:
            r = next(x for x in m.routes if x.route == rule.route or (rule.route == "iv" and x.route == "iv_push"))
            out.append(_Finding(rule.severity, "forbidden_route", r.start, r.end, f"{who} by {r.text}: {rule.note}"))
    g = d.generic
    if d.high_alert_class and ("ha", g) not in once and g not in current:  # no reminder for a drug the patient already takes
        if not d.high_alert_routes or routes & set(d.high_alert_routes):
            once.add(("ha", g))
            out.append(_Finding("high_alert", "high_alert_medication", m.start, m.end,
                                f"{who} is an ISMP high-alert medication ({d.high_alert_class}): independent double check advised"))
    if p.egfr is not None and d.renal and ("renal", g) not in once:
        hits = [r for r in d.renal if p.egfr < r.below]
        if hits:
            once.add(("renal", g))
            worst = max(hits, key=lambda r: (WEIGHT[r.severity], -r.below))
            lim_pk = worst.max_daily_per_kg * p.weight_kg if worst.max_daily_per_kg and p.weight_kg else None

            def ok(x) -> bool:
                lims = [v for v in (_limit(worst.max_daily, x.unit), lim_pk) if v is not None]
                return x.daily is not None and bool(lims) and x.daily <= min(lims) + 1e-9

            within = (worst.max_daily is not None or lim_pk is not None) and m.doses and all(
                ok(x) for x in m.doses if not x.threshold)
            if not within:
                out.append(_Finding(worst.severity, "renal", m.start, m.end,
                                    f"{who} with {_renal_text(p.egfr, worst.basis, worst.below)}: {worst.note}"))
    if p.pregnant and d.pregnancy and ("preg", g) not in once and dose_checks.pregnancy_applies(m, d):
        once.add(("preg", g))
        sev = dose_checks.pregnancy_severity(d, c.x)
        week = f" at {c.x.gest_week:g} weeks" if c.x.gest_week is not None else ""
        out.append(_Finding(sev, "pregnancy", m.start, m.end, f"{who} in pregnancy{week}: {d.pregnancy.note}"))
    if c.x.hepatic and d.hepatic is not None and d.hepatic.avoid and ("hep", g) not in once:
        once.add(("hep", g))
        out.append(_Finding(d.hepatic.severity, "hepatic", m.start, m.end, f"{who} in hepatic impairment: {d.hepatic.note}"))
    if p.age is not None and ("age", g) not in once:
        for rule in d.age:
            if rule.applies(p.age):
                once.add(("age", g))
                out.append(_Finding(rule.severity, "age", m.start, m.end, f"{who} at age {p.age:g}: {rule.note}"))
                break


def _allergens(k: Knowledge, allergies: tuple[str, ...]) -> list[tuple[str, set[str], set[str]]]:
    """Per allergy string: (text, allergen generics, allergy-class ids)."""
    out = []
    by_id = {a.id: a for a in k.allergy_classes}
    rx = _Index.of(k).allergy_rx
    for text in allergies:
        key = normalize_name(text)  # "Sulfa drugs (rash)" -> "sulfa drugs (rash)"
        classes: set[str] = {k.allergy_names[m.group(0)] for m in rx.finditer(key)}
        found = find_drugs(text, k)
        generics = {m.generic for m in found if not m.is_class}
        for m in found:
            dc = frozenset({m.generic[6:]}) if m.is_class else k.drugs[m.generic].classes
            classes |= {a.id for a in by_id.values() if a.member_classes & dc}
        if generics or classes:
            out.append((text, generics, classes))
    return out


def _check_allergies(k: Knowledge, m: MedicationMention, allergens, out: list[_Finding]) -> None:
    if m.is_class:
        comps, classes = set(), {m.generic[6:]}
    else:
        d = k.drugs[m.generic]
        comps = {m.generic, *d.components}
        classes = set(d.classes)
        for comp in d.components:
            classes |= k.drugs[comp].classes
    by_id = {a.id: a for a in k.allergy_classes}
    who = _name(m)
    for text, generics, ids in allergens:
        if comps & generics:
            out.append(_Finding("contraindicated", "allergy", m.start, m.end, f"{who}: patient is allergic to {text}"))
            continue
        hit = next((by_id[i] for i in ids if by_id[i].member_classes & classes), None)
        if hit:
            out.append(_Finding("contraindicated", "allergy_class", m.start, m.end,
                                f"{who} belongs to {hit.label}; patient allergy: {text}"))
            continue
        for i in ids:
            cr = next((c for c in by_id[i].cross_reactive if c.drug_class in classes and c.severity != "none"), None)
            if cr:
                out.append(_Finding(cr.severity, "cross_allergy", m.start, m.end,
                                    f"{who} with {text} allergy: {cr.level} cross-reactivity ({cr.drug_class}). {cr.note}"))
                break


#: A drug mention of the answer and the warning cue that governs it (None: recommended).
Mentioned = tuple[MedicationMention, "Cue | None"]


def answer_mentions(text: str, weight_kg: float | None, k: Knowledge | None = None, bsa: float | None = None) -> list[Mentioned]:
    """The drug mentions of ``text`` with their doses, routes, frequencies and warning cues. Mentions,
    dose ownership and cues never reach past a sentence end, so the mentions of a whole answer are those
    of its sentences put together (``signals.incremental`` relies on it). ``bsa``: body surface area (m2)
    for mg/m2 doses."""
    k = k or load_knowledge()
    mentions = parse_text(text, weight_kg, k, bsa=bsa) if text.strip() else []
    if not mentions:
        return []
    wc = scan(text)
    out = []
    for m in mentions:
        cue = wc.cue_for(m.start, m.end)
        if cue is None and (nm := _NO_MORE.search(text, max(0, m.start - 40), m.start)):
            cue = Cue(nm.start(), nm.end(), nm.group(0).strip(), "pre")  # "no other acetaminophen", "no additional Tylenol"
        out.append((m, cue))
    return out


_NO_MORE = re.compile(r"\b(?:no|not\s+any|without|avoid(?:ing)?)\s+(?:other|additional|extra|more|further|added|any\s+other)\s+(?:[\w-]+\s+){0,2}$",
                      re.IGNORECASE)


@dataclass(frozen=True)
class PatientFacts:
    """What the checks need from the patient context, computed once per patient."""

    patient: PatientContext  # completed with what the question states (age, weight, eGFR, pregnancy)
    current: dict[str, str]  # generic -> the patient's medication text
    unchecked: tuple[str, ...]  # medications no formulary drug matches
    allergens: list
    extras: dose_checks.Extras = dose_checks.Extras()
    current_daily: tuple = ()  # (ingredient, mg/day, description) of the patient's current medications
    question: str = ""


def _daily_parts(m: MedicationMention, k: Knowledge, text: str, next_start: int) -> list[tuple[str, float, str, int, int]]:
    """(ingredient, mg/day, description, start, end) a mention contributes to its ingredients' daily totals."""
    ings = dose_checks.ingredients(m, k, text, next_start)
    if ings is not None:
        return [(i.generic, i.daily, f"{i.via}: {i.how}", i.start, i.end) for i in ings if i.daily is not None]
    if m.is_class or k.drugs[m.generic].components:
        return []
    _, daily_cap, _ = dose_checks.caps(m)
    best = None
    for x in m.doses:
        if x.threshold or x.daily is None or x.unit != "mg":
            continue
        daily = x.daily if daily_cap is None else min(x.daily, daily_cap)
        if best is None or daily > best[0]:
            best = (daily, x)
    if best is None:
        return []
    daily, x = best
    desc = f"{m.text} {dose_checks.arithmetic(x)}".split(" = ")[0]
    return [(m.generic, daily, desc, m.start, max(m.end, x.end))]


def patient_facts(p: PatientContext, k: Knowledge | None = None, question: str = "") -> PatientFacts:
    """The patient's facts for the checks; ``question``: facts it states complete the context. Cached per
    (patient, question): the result is read-only."""
    return _patient_facts(p, k or load_knowledge(), question)


def _patient_facts(p: PatientContext, k: Knowledge, question: str) -> PatientFacts:
    p, extras = dose_checks.patient_extras(question, p)
    current, unchecked, daily = _medication_list(tuple(p.medications), p.weight_kg, k)
    return PatientFacts(p, current, unchecked, _allergens_cached(tuple(p.allergies), k), extras, daily, question)


@lru_cache(maxsize=64)
def _allergens_cached(allergies: tuple[str, ...], k: Knowledge) -> list:
    return _allergens(k, allergies)


@lru_cache(maxsize=64)
def _medication_list(medications: tuple[str, ...], weight_kg: float | None, k: Knowledge):
    """(generic -> item text, unmatched items, (ingredient, mg/day, description) per item), cached per list."""
    current: dict[str, str] = {}
    parsed_items: set[int] = set()
    daily: list = []
    for i, item in enumerate(medications):
        ms = parse_text(item, weight_kg, k, item=i)
        for j, pm in enumerate(ms):
            parsed_items.add(pm.item)
            current.setdefault(pm.generic, item)
            nxt = ms[j + 1].start if j + 1 < len(ms) else len(item)
            daily += [(g, v, f"patient's {item}") for g, v, _d, _s, _e in _daily_parts(pm, k, item, nxt)]
    unchecked = tuple(text for i, text in enumerate(medications) if i not in parsed_items)
    return current, unchecked, tuple(daily)


def assess(ctx: SignalContext) -> Signal:
    """The answer's drugs checked against the patient. Drugs the question proposes are checked too
    (evidence with target "question", rule ``question_*``); they are listed, but the level is the answer's."""
    k = load_knowledge()
    answer = ctx.answer or ""
    facts = patient_facts(ctx.patient or PatientContext(), k, ctx.question or "")
    mentioned = answer_mentions(answer, facts.patient.weight_kg, k, facts.extras.bsa)
    q_evidence = question_evidence(k, facts, ctx.history)
    if not mentioned:
        return Signal(NAME, "not_assessed", "No medication named in the answer", k.source, None, q_evidence)
    sig = conclude(k, answer, facts, mentioned)
    if q_evidence:
        sig = dataclasses.replace(sig, evidence=sig.evidence + q_evidence)
    return sig


def _question_findings(k: Knowledge, facts: PatientFacts) -> tuple[list[_Finding], list[MedicationMention]]:
    q = facts.question
    if not q.strip():
        return [], []
    mentioned = answer_mentions(q, facts.patient.weight_kg, k, facts.extras.bsa)
    if not mentioned:
        return [], []
    # in a question every drug named is proposed ("Can I give ibuprofen?", "Should I avoid ibuprofen?")
    return _findings(k, q, facts, [(m, None) for m, _ in mentioned]), [m for m, _ in mentioned]


#: How the evidence and summary of a follow-up's inherited findings name where the drugs came from.
FROM_EARLIER = "from the earlier question in this conversation"


def _earlier_proposal(k: Knowledge, facts: PatientFacts, history) -> PatientFacts | None:
    """A follow-up in a conversation that names no drug ("And what dose would you use for her?") is about the
    drugs proposed in the most recent earlier question that named one: the facts to screen are those of this
    question followed by that earlier question (this question's own facts come first and win; its patient
    context is the one completed from this question). None when the question names a drug itself, is asked
    on its own, or no earlier question named one."""
    q = facts.question
    if not history or not q.strip():
        return None
    if answer_mentions(q, facts.patient.weight_kg, k, facts.extras.bsa):
        return None  # the follow-up names its own drug: only that drug is screened
    for turn in reversed(tuple(history)):
        earlier = turn[0] if isinstance(turn, (tuple, list)) and turn and isinstance(turn[0], str) else ""
        if earlier.strip() and answer_mentions(earlier, facts.patient.weight_kg, k, facts.extras.bsa):
            return patient_facts(facts.patient, k, q + "\n\n" + earlier.strip())
    return None


def _screened(k: Knowledge, facts: PatientFacts, history=()) -> tuple[list[_Finding], list[MedicationMention], PatientFacts, bool]:
    """(findings, mentions, the facts they were found in, whether the drugs come from an earlier question)."""
    inherited = _earlier_proposal(k, facts, history)
    if inherited is not None:
        findings, mentions = _question_findings(k, inherited)
        if mentions:
            return findings, mentions, inherited, True
    findings, mentions = _question_findings(k, facts)
    return findings, mentions, facts, False


def _question_problems(findings: list[_Finding]) -> list[_Finding]:
    return [f for f in findings if f.severity in _LEVEL and f.rule != "high_alert_medication"]


def _q_evidence(f: _Finding, text: str, question: str, inherited: bool, rule: str) -> Evidence:
    """A question finding as evidence on the question; one inherited from an earlier question is zero-width
    (its drug is not in this question's text) and names the words of the earlier question it comes from."""
    if inherited:
        return Evidence("question", 0, 0, "", rule, f'{f.detail} ("{text[f.start:f.end]}", {FROM_EARLIER})')
    return Evidence("question", f.start, f.end, question[f.start:f.end], rule, f.detail)


def question_evidence(k: Knowledge, facts: PatientFacts, history=()) -> tuple[Evidence, ...]:
    """The findings on the drugs the question proposes (rule ``question_*``); ``history``: the conversation's
    earlier turns, (question, answer) oldest first, for a follow-up that names no drug (``_earlier_proposal``)."""
    findings, _, src, inherited = _screened(k, facts, history)
    return tuple(_q_evidence(f, src.question, facts.question, inherited, "question_" + f.rule)
                 for f in _question_problems(findings))


def screen_question(question: str, patient: PatientContext | None = None, history=()) -> Signal | None:
    """Question screening (before the model runs): the drugs, doses or combinations the question proposes
    for this patient, checked like an answer's (renal, hepatic, pregnancy, lactation, age, allergy,
    interactions with the current medications, dose limits). A ``medication_safety`` signal whose
    evidence targets the question, or None when the question names no drug.

    ``history``: the conversation's earlier turns, (question, answer) oldest first. A follow-up that names no
    drug is screened for the drugs of the most recent earlier question that named one, and its summary and
    evidence say so; a follow-up naming its own drug is screened for that drug only; with no history (a
    question asked on its own) nothing changes."""
    k = load_knowledge()
    facts = patient_facts(patient or PatientContext(), k, question)
    findings, mentions, src, inherited = _screened(k, facts, history)
    if not mentions:
        return None
    problems = _question_problems(findings)
    names = ", ".join(dict.fromkeys(_name(m) for m in mentions))
    lead = "Follow-up to the earlier question in this conversation, which proposes " if inherited \
        else "Question proposes "
    if not problems:
        return Signal(NAME, "ok", f"{lead}{names}: no patient-specific problem found", k.source, 1.0, ())
    problems.sort(key=lambda f: (-WEIGHT[f.severity], f.start))
    worst = problems[0]
    level = worst_level(_LEVEL[f.severity] for f in problems)
    summary = lead + (worst.detail.split(". ")[0] if worst.rule.startswith("interaction") else worst.detail)
    if len(problems) > 1:
        summary += f" (+{len(problems) - 1} more)"
    evidence = tuple(_q_evidence(f, src.question, question, inherited, f.rule) for f in problems)
    return Signal(NAME, level, summary, k.source, round(max(0.0, 1.0 - WEIGHT[worst.severity]), 4), evidence)


#: rules reported once per drug (the first mention that raises them)
_ONCE_RULES = frozenset({"high_alert_medication", "renal", "pregnancy", "age", "lactation", "hepatic"})


def _per_mention(k: Knowledge, m: MedicationMention, c: "dose_checks.Ctx", nxt: int, facts: PatientFacts, memo: dict | None):
    """What one recommended mention contributes (its own findings, product key, daily parts, ingredients,
    allergy findings); memoised per (start, end, next mention) for a streamed answer, whose finished
    sentences never change."""
    key = (m.start, m.end, nxt)
    hit = memo.get(key) if memo is not None else None
    if hit is None:
        own: list[_Finding] = []
        ings_of: tuple[str, ...] = ()
        if not m.is_class:
            _check_drug(m, k.drugs[m.generic], c, own, set(), facts.current)
            ings = dose_checks.ingredients(m, k, c.answer, nxt)
            if ings:
                dose_checks.check_ingredients(ings, c, own)
            ings_of = _ingredients_of(k, m, c.answer)
        allergy: list[_Finding] = []
        if facts.allergens:
            _check_allergies(k, m, facts.allergens, allergy)
        hit = (own, _product_key(k, m, c.answer), _daily_parts(m, k, c.answer, nxt), ings_of, allergy)
        if memo is not None:
            memo[key] = hit
    return hit


def _findings(k: Knowledge, answer: str, facts: PatientFacts, mentioned: list[Mentioned], memo: dict | None = None) -> list[_Finding]:
    """Every finding for the mentions of ``answer`` (sorted worst first). ``memo``: per-mention results kept
    across calls on a growing answer (``signals.incremental``)."""
    p = facts.patient
    c = dose_checks.Ctx(k, p, facts.extras, answer)
    recommended = [m for m, cue in mentioned if cue is None]
    findings: list[_Finding] = []
    patient_meds = facts.current
    allergens = facts.allergens
    once: set = set()
    first: dict[str, MedicationMention] = {}
    # ingredient -> {product generic (or "patient:..."): (mg/day, description, start, end, from the answer)}:
    # the same product named twice counts once (its largest daily dose), different products add up
    contrib: dict[str, dict[str, tuple]] = {}
    carriers: dict[str, dict[str, MedicationMention]] = {}  # ingredient -> {product generic: first mention}
    for g, v, desc in facts.current_daily:
        if not any(m.generic == g for m in recommended):
            contrib.setdefault(g, {})[f"patient:{desc}"] = (v, desc, 0, 0, False)
    for i, m in enumerate(recommended):
        nxt = recommended[i + 1].start if i + 1 < len(recommended) else len(answer)
        own, key, parts, ings_of, allergy = _per_mention(k, m, c, nxt, facts, memo)
        for f in own:
            if f.rule in _ONCE_RULES:
                if (f.rule, m.generic) in once:
                    continue
                once.add((f.rule, m.generic))
            findings.append(f)
        for g, v, desc, s, e in parts:
            slot = contrib.setdefault(g, {})
            if key not in slot or v > slot[key][0]:
                slot[key] = (v, desc, s, e, True)
        for ing in ings_of:
            carriers.setdefault(ing, {}).setdefault(key, m)
        if m.generic not in first:
            first[m.generic] = m
            findings.extend(allergy)
    dose_checks.check_cumulative({g: list(v.values()) for g, v in contrib.items()}, c, findings, set())
    _check_duplicate_ingredient(k, carriers, contrib, findings)
    for m, _cue in mentioned:
        if not m.is_class:
            dose_checks.check_taper(m, k.drugs[m.generic], c, _name(m), patient_meds, findings, once)
    _check_duplicates(k, recommended, patient_meds, findings)
    idx = _Index.of(k)
    for g, m in first.items():
        if g in patient_meds:
            continue  # the patient already takes it: the answer refers to the current regimen
        for pg, ptext in patient_meds.items():
            for it in idx.interactions(g, pg)[:1]:
                findings.append(_Finding(it.severity, "interaction_patient", m.start, m.end,
                                         f"{_name(m)} with the patient's {ptext}: {it.severity} interaction. {it.effect}. {it.management}"))
    gens = list(first)
    for i, a in enumerate(gens):
        for b in gens[i + 1:]:
            if b in patient_meds or a in patient_meds:
                continue  # already reported against the patient's list
            for it in idx.interactions(a, b)[:1]:
                mb = first[b]
                findings.append(_Finding(it.severity, "interaction_answer", mb.start, mb.end,
                                         f"{_name(first[a])} with {_name(mb)}: {it.severity} interaction. {it.effect}. {it.management}"))
    findings.sort(key=lambda f: (-WEIGHT[f.severity], f.start))
    return findings


def _product_key(k: Knowledge, m: MedicationMention, text: str) -> str:
    """What counts as one product for cumulative doses: a named product ("Extra Strength Tylenol") or the generic."""
    if m.is_class:
        return m.generic
    prod = dose_checks._product_of(k, text, m)[0]
    return f"product:{prod.names[0]}" if prod is not None else m.generic


def _ingredients_of(k: Knowledge, m: MedicationMention, text: str) -> tuple[str, ...]:
    d = k.drugs[m.generic]
    if d.components:
        return d.components
    prod = dose_checks._product_of(k, text, m)[0]
    return tuple(g for g, _ in prod.per_unit) if prod is not None else (m.generic,)


def _check_duplicate_ingredient(k: Knowledge, carriers: dict, contrib: dict, out: list[_Finding]) -> None:
    """One ingredient in two different recommended products whose daily total cannot be computed (a dose
    or frequency missing): the total is unbounded ("Percocet ... plus extra-strength Tylenol as needed")."""
    flagged = {f.rule for f in out}
    for ing, prods in carriers.items():
        if len(prods) < 2 or ing not in k.drugs or k.drugs[ing].max_daily is None:
            continue
        known = contrib.get(ing, {})
        if all(g in known for g in prods) or "cumulative_daily_dose" in flagged:
            continue
        ms = sorted(prods.values(), key=lambda m: m.start)
        names = ", ".join(_name(m) for m in ms)
        out.append(_Finding("major", "duplicate_ingredient", ms[1].start, ms[1].end,
                            f"{ing.capitalize()} in {len(ms)} products ({names}) without a daily total for each: the combined dose "
                            f"can exceed the {dose_checks.fmt(k.drugs[ing].max_daily.canonical()[0])}/day maximum "
                            f"({dose_checks.source_label(k.drugs[ing].source)})"))


_LOCAL_ROUTES = frozenset({"topical", "transdermal", "ophthalmic", "inhaled", "intranasal"})


def _check_duplicates(k: Knowledge, recommended: list[MedicationMention], current: dict[str, str], out: list[_Finding]) -> None:
    for rule in k.duplicate_therapy:
        mine = [m for m in recommended if not m.is_class and not (m.route_names & _LOCAL_ROUTES)
                and rule.covers(m.generic, k.drugs[m.generic].classes)]
        theirs = [g for g in current if rule.covers(g, k.drugs[g].classes)]
        generics = list(dict.fromkeys([m.generic for m in mine] + theirs))
        if len(generics) < 2:
            continue
        new = next((m for m in mine if m.generic not in current and m.generic != generics[0]), None) or \
            next((m for m in mine if m.generic not in current), None)
        if new is None:
            continue
        others = [g for g in generics if g != new.generic]
        where = ", ".join(f"the patient's {current[g]}" if g in current else g for g in others)
        out.append(_Finding("major", "duplicate_therapy", new.start, new.end,
                            f"{_name(new)} with {where}: duplicate therapy. {rule.note} ({dose_checks.source_label(rule.source)})"))


def conclude(k: Knowledge, answer: str, facts: PatientFacts, mentioned: list[Mentioned], memo: dict | None = None) -> Signal:
    """The signal from the mentions ``answer_mentions`` found in ``answer`` (in text order). ``memo``: a dict
    kept by the caller across calls on a growing answer (``signals.incremental``)."""
    if not mentioned:
        return Signal(NAME, "not_assessed", "No medication named in the answer", k.source, None)
    p = facts.patient
    mentions = [m for m, _ in mentioned]
    recommended: list[MedicationMention] = []
    findings: list[_Finding] = []
    warned: dict[str, MedicationMention] = {}
    for m, cue in mentioned:
        if cue is None:
            recommended.append(m)
        elif m.generic not in warned:
            warned[m.generic] = m
            findings.append(_Finding("note", "warning_context", m.start, m.end,
                                     f"{_name(m)} is mentioned as a warning ('{cue.text}'), not recommended: not checked as a recommendation"))
    unchecked = facts.unchecked
    findings += _findings(k, answer, facts, mentioned, memo)
    findings.sort(key=lambda f: (-WEIGHT[f.severity], f.start))
    evidence = tuple(Evidence("answer", f.start, f.end, answer[f.start:f.end], f.rule, f.detail) for f in findings)
    # The patient's medications that match no formulary drug: not checked; said, never dropped silently.
    evidence += tuple(Evidence("answer", 0, 0, "", "unchecked_medication",
                               f"The patient's medication '{text}' is not in the formulary: not checked for interactions")
                      for text in unchecked)
    unchecked_note = f"; not checked (not in the formulary): {', '.join(unchecked)}" if unchecked else ""
    problems = [f for f in findings if f.severity in _LEVEL]
    if not problems:
        names = ", ".join(dict.fromkeys(_name(m) for m in mentions))
        if not recommended:
            summary = f"Medications mentioned only as warnings ({names}); nothing recommended to check"
        else:
            first = {m.generic: m for m in reversed(recommended)}
            summary = "No dose, interaction, allergy or patient-specific problem found for " + ", ".join(
                _name(m) for m in sorted(first.values(), key=lambda m: m.start))
        return Signal(NAME, "ok", summary + unchecked_note, k.source, 1.0, evidence)
    worst = problems[0]
    level = worst_level(_LEVEL[f.severity] for f in problems)
    summary = worst.detail.split(". ")[0] if worst.rule.startswith("interaction") else worst.detail
    summary = summary[:1].upper() + summary[1:]
    if len(problems) > 1:
        summary += f" (+{len(problems) - 1} more)"
    summary += unchecked_note
    return Signal(NAME, level, summary, k.source, round(max(0.0, 1.0 - WEIGHT[worst.severity]), 4), evidence)


def _renal_text(egfr: float, basis: str, below: float) -> str:
    """The patient's kidney function as entered (eGFR), and the rule's threshold on its own basis: "eGFR 25
    (rule: CrCl < 30; eGFR taken as its estimate)". Never relabels the patient's eGFR as a CrCl."""
    if basis == "eGFR":
        return f"eGFR {egfr:g} (< {below:g})"
    return f"eGFR {egfr:g} (rule: {basis} < {below:g}; eGFR taken as its estimate)"
