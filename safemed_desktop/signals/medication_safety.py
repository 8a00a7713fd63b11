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

Level: alert if any contraindicated/major finding, caution if only moderate/high-alert findings,
ok if drugs were found and nothing is wrong, not_assessed if the answer names no drug.
Score = 1 - severity of the worst finding (contraindicated 1.0, major 0.8, moderate 0.4, high-alert 0.2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..records.patient import PatientContext
from .formulary import Drug, Interaction, Knowledge, Quantity, load_knowledge, normalize_name
from .medication_parse import Dose, MedicationMention, find_drugs, parse_medication_list, parse_text
from .negation import Cue, scan
from .units import canonical_unit, factor as unit_factor
from ..records.signal import Evidence, Signal, SignalContext, worst_level

NAME = "medication_safety"
WEIGHT = {"contraindicated": 1.0, "major": 0.8, "moderate": 0.4, "high_alert": 0.2, "note": 0.0, "none": 0.0}
_LEVEL = {"contraindicated": "alert", "major": "alert", "moderate": "caution", "high_alert": "caution"}


@dataclass(frozen=True)
class _Finding:
    severity: str  # contraindicated | major | moderate | high_alert | note
    rule: str
    start: int
    end: int
    detail: str


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


def _check_doses(m: MedicationMention, d: Drug, p: PatientContext, answer: str, out: list[_Finding]) -> None:
    child = p.age is not None and p.age < 18
    renal_max = None
    if p.egfr is not None:
        hits = [r for r in d.renal if p.egfr < r.below and r.max_daily]
        if hits:
            renal_max = min(hits, key=lambda r: r.below)
    for dose in m.doses:
        if dose.threshold:
            continue
        s, e = _dose_span(answer, dose)
        who = _name(m)
        ped = d.pediatric if (child or p.age is None) else None
        if ped and ped.unit and dose.unit == canonical_unit(ped.unit):
            factor = unit_factor(ped.unit)
            # per-kg limits: compare per-kg doses directly, or absolute doses against weight-based limits
            for kind, per_kg_dose, abs_dose, lim_pk, cap in (
                ("single", dose.single_per_kg, dose.single, ped.max_single_per_kg, ped.max_single),
                ("daily", dose.daily_per_kg, dose.daily, ped.max_daily_per_kg, ped.max_daily),
            ):
                if lim_pk is None:
                    continue
                lim_pk_c = lim_pk * factor
                if per_kg_dose is not None and per_kg_dose > lim_pk_c + 1e-9:
                    out.append(_Finding("major", f"pediatric_max_{kind}_dose", s, e,
                                        f"{kind.capitalize()} dose of {who} {per_kg_dose:.4g} mg/kg exceeds the pediatric maximum of {lim_pk:g} {ped.unit}/kg"))
                elif child and per_kg_dose is None and abs_dose is not None and p.weight_kg:
                    limit = lim_pk_c * p.weight_kg
                    cap_v = _limit(cap, dose.unit)
                    if cap_v is not None:
                        limit = min(limit, cap_v)
                    if abs_dose > limit + 1e-9:
                        out.append(_Finding("major", f"pediatric_max_{kind}_dose", s, e,
                                            f"{kind.capitalize()} dose of {who} {_fmt(abs_dose, dose.unit)} exceeds the pediatric maximum of "
                                            f"{_fmt(limit, dose.unit)} ({lim_pk:g} {ped.unit}/kg for {p.weight_kg:g} kg)"))
        if not child or not (d.pediatric and p.weight_kg):
            for kind, value, q in (("single", dose.single, d.max_single), ("daily", dose.daily, d.max_daily)):
                lim = _limit(q, dose.unit)
                if value is not None and lim is not None and value > lim + 1e-9:
                    label = "adult maximum" if not child else "adult maximum (used as the cap for a child)"
                    out.append(_Finding("major", f"max_{kind}_dose", s, e,
                                        f"{kind.capitalize()} dose of {who} {_fmt(value, dose.unit)} exceeds the {_fmt(lim, dose.unit)} {label}"))
        if renal_max is not None and dose.daily is not None:
            lim = _limit(renal_max.max_daily, dose.unit)
            if lim is not None and dose.daily > lim + 1e-9:
                out.append(_Finding("major", "renal_max_daily_dose", s, e,
                                    f"Daily dose of {who} {_fmt(dose.daily, dose.unit)} exceeds {_fmt(lim, dose.unit)} at "
                                    f"{renal_max.basis} {p.egfr:g}: {renal_max.note}"))


def _routes(m: MedicationMention) -> set[str]:
    r = set(m.route_names)
    if "iv_push" in r:
        r.add("iv")
    return r


def _check_drug(m: MedicationMention, d: Drug, p: PatientContext, answer: str, out: list[_Finding], once: set,
                current: dict[str, str]) -> None:
    who = _name(m)
    _check_doses(m, d, p, answer, out)
    if d.schedule == "weekly":
        bad = [f for f in m.frequencies if not f.weekly and f.per_day is not None and f.per_day >= 1]
        bad_doses = [x for x in m.doses if x.per_day_total and not x.threshold]
        if bad or bad_doses:
            s, e = (bad[0].start, bad[0].end) if bad else (bad_doses[0].start, bad_doses[0].end)
            out.append(_Finding("major", "weekly_dosed_daily", s, e,
                                f"{who} dosed '{answer[s:e]}': {d.schedule_note}"))
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
            within = worst.max_daily is not None and m.doses and all(
                x.daily is not None and x.daily <= (_limit(worst.max_daily, x.unit) or 0) + 1e-9 for x in m.doses if not x.threshold)
            if not within:
                out.append(_Finding(worst.severity, "renal", m.start, m.end,
                                    f"{who} with {worst.basis} {p.egfr:g} (< {worst.below:g}): {worst.note}"))
    if p.pregnant and d.pregnancy and ("preg", g) not in once:
        once.add(("preg", g))
        out.append(_Finding(d.pregnancy.severity, "pregnancy", m.start, m.end, f"{who} in pregnancy: {d.pregnancy.note}"))
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


def answer_mentions(text: str, weight_kg: float | None, k: Knowledge | None = None) -> list[Mentioned]:
    """The drug mentions of ``text`` with their doses, routes, frequencies and warning cues. Mentions,
    dose ownership and cues never reach past a sentence end, so the mentions of a whole answer are those
    of its sentences put together (``signals.incremental`` relies on it)."""
    k = k or load_knowledge()
    mentions = parse_text(text, weight_kg, k) if text.strip() else []
    if not mentions:
        return []
    wc = scan(text)
    return [(m, wc.cue_for(m.start, m.end)) for m in mentions]


@dataclass(frozen=True)
class PatientFacts:
    """What the checks need from the patient context, computed once per patient."""

    patient: PatientContext
    current: dict[str, str]  # generic -> the patient's medication text
    unchecked: tuple[str, ...]  # medications no formulary drug matches
    allergens: list


def patient_facts(p: PatientContext, k: Knowledge | None = None) -> PatientFacts:
    k = k or load_knowledge()
    current: dict[str, str] = {}
    parsed_items: set[int] = set()
    for pm in parse_medication_list(p.medications, p.weight_kg, k):
        parsed_items.add(pm.item)
        current.setdefault(pm.generic, p.medications[pm.item])
    unchecked = tuple(text for i, text in enumerate(p.medications) if i not in parsed_items)
    return PatientFacts(p, current, unchecked, _allergens(k, p.allergies))


def assess(ctx: SignalContext) -> Signal:
    k = load_knowledge()
    answer = ctx.answer or ""
    p = ctx.patient or PatientContext()
    mentioned = answer_mentions(answer, p.weight_kg, k)
    if not mentioned:
        return Signal(NAME, "not_assessed", "No medication named in the answer", k.source, None)
    return conclude(k, answer, patient_facts(p, k), mentioned)


def conclude(k: Knowledge, answer: str, facts: PatientFacts, mentioned: list[Mentioned]) -> Signal:
    """The signal from the mentions ``answer_mentions`` found in ``answer`` (in text order)."""
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
    patient_meds = facts.current
    unchecked = facts.unchecked
    allergens = facts.allergens
    once: set = set()
    first: dict[str, MedicationMention] = {}
    for m in recommended:
        if not m.is_class:
            _check_drug(m, k.drugs[m.generic], p, answer, findings, once, patient_meds)
        if m.generic not in first:
            first[m.generic] = m
            if allergens:
                _check_allergies(k, m, allergens, findings)
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
            summary = "No dose, interaction, allergy or patient-specific problem found for " + ", ".join(_name(m) for m in first.values())
        return Signal(NAME, "ok", summary + unchecked_note, k.source, 1.0, evidence)
    worst = problems[0]
    level = worst_level(_LEVEL[f.severity] for f in problems)
    summary = worst.detail.split(". ")[0] if worst.rule.startswith("interaction") else worst.detail
    summary = summary[:1].upper() + summary[1:]
    if len(problems) > 1:
        summary += f" (+{len(problems) - 1} more)"
    summary += unchecked_note
    return Signal(NAME, level, summary, k.source, round(max(0.0, 1.0 - WEIGHT[worst.severity]), 4), evidence)
