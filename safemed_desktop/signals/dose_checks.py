"""Dose arithmetic and patient-specific dose limits for ``medication_safety`` (the reasoning; the facts are
in the formulary pack, 2026.12).

What it does, per drug the answer (or the question) recommends:

* **Arithmetic**: single and daily dose from count x strength x frequency, ranges at their upper bound
  ("1-2 tablets q4-6h" = 2 tablets every 4 h), "for N doses", stated caps ("not to exceed 4 g in 24 hours"
  bounds the daily total; a cap above the maximum is itself a finding), per-kg doses with the patient's
  weight, per-m2 doses with a body surface area (Mosteller, when height and weight are known).
* **Products**: combination strengths written "5/325" (in the order of the formulary's components) and
  named products with fixed strengths ("Extra Strength Tylenol", "Tylenol #3"), per ingredient.
* **Cumulative dose** of one ingredient across the products of an answer and the patient's current
  medications, and duplicate therapy (two NSAIDs).
* **Limits**: adult per-dose/per-day, route-specific, per-kg, per-m2, loading and maintenance limits,
  usual-dose thousand-fold unit errors (mcg written as mg and the reverse), weekly/monthly drugs written
  as daily, maximum treatment duration, low body weight, geriatric, pediatric, hepatic and renal limits,
  dose-dependent pregnancy limits, lactation, and abrupt discontinuation of drugs that need a taper.

Every dose finding states its arithmetic, e.g. "2 x 500 mg every 4 hours = 6,000 mg/day > 4,000 mg/day
adult maximum (FDA label)".

``patient_extras(question, patient)`` reads what a question states about the patient that the patient
context lacks (age, weight, height, eGFR, pregnancy and gestational week, breastfeeding, hepatic impairment).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..records.patient import PatientContext
from .formulary import Drug, Knowledge, PatientLimit, Quantity
from .medication_parse import Dose, MedicationMention, _UNIT_FORM, _WORD_NUMBERS
from .units import canonical_unit, factor as unit_factor

# --------------------------------------------------------------------------- findings


@dataclass(frozen=True)
class Finding:
    severity: str  # contraindicated | major | moderate | high_alert | note
    rule: str
    start: int
    end: int
    detail: str


def fmt(value: float, unit: str = "mg") -> str:
    """``6000 -> '6,000 mg'``, ``0.125 -> '0.125 mg'``."""
    if unit == "units":
        unit = "units"
    if abs(value - round(value)) < 1e-9:
        return f"{int(round(value)):,} {unit}"
    return f"{value:,.4g} {unit}" if value >= 1 else f"{value:.3g} {unit}"


_SOURCE_LABEL = (("fda-label", "FDA label"), ("fda-dsc", "FDA safety communication"), ("fda-otc", "FDA OTC label"),
                 ("beers-2023", "Beers 2023"), ("kdigo", "KDIGO"), ("acog", "ACOG"), ("uspstf", "USPSTF"),
                 ("endocrine-society", "Endocrine Society"), ("hayward-2016", "Br J Clin Pharmacol 2016"),
                 ("iom-dri", "IOM"), ("ismp", "ISMP"), ("aap", "AAP"), ("ashp-taper", "taper guidance"),
                 ("aga-nsaid", "FDA NSAID labels"))


def source_label(source: str | tuple[str, ...]) -> str:
    sid = source[0] if isinstance(source, tuple) else source
    for prefix, label in _SOURCE_LABEL:
        if sid.startswith(prefix):
            return label
    return sid


def _lim(q: Quantity | None, unit: str) -> float | None:
    if q is None:
        return None
    v, u = q.canonical()
    return v if u == unit else None


# --------------------------------------------------------------------------- patient facts from the question

_AGE = re.compile(r"\b(\d{1,3}(?:\.\d)?)[\s-]*(?:years?|yrs?|y)[\s-]*old\b|\baged?\s+(\d{1,3})\b", re.I)
_WEIGHT = re.compile(r"\b(\d{1,3}(?:\.\d+)?)\s*kg\b(?!\s*/)", re.I)
_HEIGHT = re.compile(r"\b(?:height\s*(?:of\s*)?)?(\d{2,3}(?:\.\d+)?)\s*cm\b|\bheight\s*(?:of\s*)?(\d(?:\.\d+)?)\s*m\b", re.I)
_EGFR = re.compile(r"\b(?:e?gfr|crcl|creatinine\s+clearance)\s*(?:of|is|=|:|was)?\s*(\d{1,3}(?:\.\d+)?)", re.I)
_PREGNANT = re.compile(r"\bpregnan(?:t|cy)\b|\bgestation", re.I)
_NOT_PREGNANT = re.compile(r"\bnot\s+pregnant\b|\bpostpartum\b|\bafter\s+(?:the\s+)?pregnancy\b", re.I)
_GEST_WEEK = re.compile(r"\b(\d{1,2})\s*(?:weeks?|wks?)(?:'|\s+of)?\s*(?:pregnan|gestation)|\b(?:pregnant|gestation(?:al\s+age)?)\s+(?:at|of)\s+(\d{1,2})\s*(?:weeks?|wks?)"
                       r"|\b(\d{1,2})\s*(?:weeks?|wks?)\s+(?:pregnant|gestation)", re.I)
_BREASTFEEDING = re.compile(r"\bbreast[\s-]?feed(?:ing|s)?\b|\blactat(?:ing|ion)\b|\bnursing\s+(?:mother|her|an?\s+infant|a\s+baby)\b|\bbreastfed\b", re.I)
_HEPATIC = re.compile(r"\bcirrho(?:sis|tic)\b|\bchild[\s-]?pugh\s*(?:class\s*)?[bc]\b|\bhepatic\s+(?:impairment|failure|insufficiency|dysfunction)\b|"
                      r"\bliver\s+(?:failure|disease|impairment|cirrhosis)\b|\bdecompensated\s+liver\b", re.I)
_NEG_NEAR = re.compile(r"\b(?:no|not|without|denies|negative\s+for)\b[^.;]{0,25}$", re.I)


@dataclass(frozen=True)
class Extras:
    """Patient facts beyond ``PatientContext``, from the question (None/False when not stated)."""

    height_cm: float | None = None
    bsa: float | None = None
    gest_week: float | None = None
    breastfeeding: bool = False
    hepatic: bool = False


def _stated(rx: re.Pattern[str], text: str) -> bool:
    for m in rx.finditer(text):
        if not _NEG_NEAR.search(text[max(0, m.start() - 40):m.start()]):
            return True
    return False


def patient_extras(question: str, patient: PatientContext | None) -> tuple[PatientContext, Extras]:
    """The patient context completed from the question (fields it leaves empty) and the extra facts."""
    import dataclasses

    p = patient or PatientContext()
    q = question or ""
    upd: dict = {}
    if p.age is None and (m := _AGE.search(q)):
        age = float(m.group(1) or m.group(2))
        if 0 <= age <= 120:
            upd["age"] = age
    if p.weight_kg is None and (m := _WEIGHT.search(q)):
        w = float(m.group(1))
        if 0.5 <= w <= 350:
            upd["weight_kg"] = w
    if p.egfr is None and (m := _EGFR.search(q)):
        upd["egfr"] = float(m.group(1))
    gest = None
    if (m := _GEST_WEEK.search(q)):
        gest = float(next(g for g in m.groups() if g))
    if p.pregnant is None and (gest is not None or (_stated(_PREGNANT, q) and not _NOT_PREGNANT.search(q))):
        upd["pregnant"] = True
    if upd:
        p = dataclasses.replace(p, **upd)
    height = None
    if (m := _HEIGHT.search(q)):
        height = float(m.group(1)) if m.group(1) else float(m.group(2)) * 100
        if not 40 <= height <= 250:
            height = None
    bsa = math.sqrt(height * p.weight_kg / 3600.0) if height and p.weight_kg else None
    return p, Extras(height, bsa, gest if p.pregnant else None, _stated(_BREASTFEEDING, q), _stated(_HEPATIC, q))


# --------------------------------------------------------------------------- arithmetic


def arithmetic(dose: Dose, weight_kg: float | None = None, bsa: float | None = None, what: str = "daily") -> str:
    """How a dose's single or daily figure was computed, e.g. "2 x 500 mg every 4 hours = 6,000 mg/day"."""
    u = dose.unit
    if dose.count and dose.count != 1 and dose.strength:
        base = f"{dose.count:g} x {fmt(dose.strength, u)}"
    else:
        base = fmt(dose.amount, u)
    if dose.per_kg:
        base += f"/kg" + (f" x {weight_kg:g} kg" if weight_kg else "")
    elif dose.per_m2:
        base += f"/m2" + (f" x {bsa:.2f} m2 (BSA)" if bsa else "")
    if dose.per_day_total:
        base += "/day"
    f = dose.frequency
    if what == "single":
        val = dose.single
        if val is None:
            return base
        return base if abs(val - dose.amount) < 1e-9 else f"{base} = {fmt(val, u)} per dose"
    val = dose.daily
    if f is not None and not dose.per_day_total:
        base += f" {f.text}"
        if dose.n_doses:
            base += f" for {dose.n_doses} doses"
    if val is None:
        return base
    return f"{base} = {fmt(val, u)}/day"


def _limits_line(value: float, limit: float, unit: str, what: str, label: str, src: str) -> str:
    per = "/day" if what == "daily" else " per dose"
    return f"> {fmt(limit, unit)}{per} {label} ({src})"


# --------------------------------------------------------------------------- per-dose checks


@dataclass
class Ctx:
    k: Knowledge
    p: PatientContext
    x: Extras
    answer: str
    target: str = "answer"


def _adult(p: PatientContext) -> bool:
    return p.age is None or p.age >= 18


def _span(dose: Dose) -> tuple[int, int]:
    end = dose.end
    f = dose.frequency
    if f and f.start >= dose.end and f.start - dose.end <= 40:
        end = f.end
    return dose.start, end


def caps(m: MedicationMention) -> tuple[float | None, float | None, list[Dose]]:
    """(single cap, daily cap, cap doses) stated for a mention ("maximum 4 g per day", "capped at 2 mg")."""
    single = daily = None
    out = []
    for d in m.doses:
        if not d.cap:
            continue
        out.append(d)
        if d.per_day_total or (d.frequency is not None and d.frequency.text.lower().startswith(("in 24", "per 24"))):
            daily = d.amount if daily is None else min(daily, d.amount)
        elif d.single is not None:
            single = d.single if single is None else min(single, d.single)
    return single, daily, out


def check_doses(m: MedicationMention, d: Drug, c: Ctx, who: str, out: list[Finding]) -> None:
    """Every per-dose limit for the explicit doses of one mention."""
    p, x = c.p, c.x
    child = p.age is not None and p.age < 18
    src = source_label(d.source)
    single_cap, daily_cap, cap_doses = caps(m)
    for cd in cap_doses:
        s, e = cd.start, cd.end
        if cd.per_day_total and (lim := _lim(d.max_daily, cd.unit)) is not None and cd.amount > lim + 1e-9 and not child:
            out.append(Finding("major", "stated_cap_above_maximum", s, e,
                               f"{who}: the stated cap of {fmt(cd.amount, cd.unit)}/day is itself above the "
                               f"{fmt(lim, cd.unit)}/day adult maximum ({src})"))
    routes = {r.route for r in m.routes}
    by_route = dict(d.max_single_by_route)
    for dose in m.doses:
        if dose.threshold:
            continue
        s, e = _span(dose)
        u = dose.unit
        single = dose.single if single_cap is None or dose.single is None else min(dose.single, single_cap)
        daily = dose.daily if daily_cap is None or dose.daily is None else min(dose.daily, daily_cap)

        def fire(rule: str, what: str, value: float | None, limit: float | None, label: str, sev: str = "major",
                 source: str = src, note: str = "") -> bool:
            # a limit computed from the weight (mg/kg x kg) allows rounding to the nearest tablet/volume: 10 %
            tol = 1.10 if "/kg" in label and not dose.per_kg else 1 + 1e-6
            if value is None or limit is None or value <= limit * tol:
                return False
            how = arithmetic(dose, p.weight_kg, x.bsa, what)
            if what == "daily" and daily_cap is not None and dose.daily is not None and daily < dose.daily:
                how += f" (capped at {fmt(daily_cap, u)}/day)"
            head = f"{what.capitalize()} dose of {who}: {how}" if what == "daily" else f"Single dose of {who}: {how}"
            out.append(Finding(sev, rule, s, e, f"{head} {_limits_line(value, limit, u, what, label, source)}"
                               + (f"; {note}" if note else "")))
            return True

        # thousand-fold unit errors against the usual single dose
        usual = _lim(d.usual_single, u)
        if usual and single is not None and not dose.per_kg and not dose.per_m2:
            if single >= usual * 200:
                out.append(Finding("major", "unit_error", s, e,
                                   f"{who} {fmt(single, u)} per dose is {single / usual:,.0f} times the usual {fmt(usual, u)}: "
                                   f"probable mcg/mg (thousand-fold) unit error ({src})"))
            elif single * 200 <= usual:
                out.append(Finding("major", "unit_error", s, e,
                                   f"{who} {fmt(single, u)} per dose is 1/{usual / single:,.0f} of the usual {fmt(usual, u)}: "
                                   f"probable mg/mcg (thousand-fold) unit error ({src})"))
        if dose.phase == "loading" and d.loading is not None:
            _patient_limit(d.loading, dose, single, daily, p, "loading_dose", "loading-dose maximum", fire)
            continue
        if dose.phase == "maintenance" and d.maintenance_max_daily is not None:
            fire("maintenance_max_daily_dose", "daily", daily, _lim(d.maintenance_max_daily, u), "maintenance maximum")
        # body surface area
        if dose.per_m2 and d.max_single_per_m2 and dose.single_per_kg is not None and dose.single_per_kg > d.max_single_per_m2 + 1e-9:
            out.append(Finding("major", "max_dose_per_m2", s, e,
                               f"Dose of {who}: {fmt(dose.single_per_kg, u)}/m2 > {d.max_single_per_m2:g} {u}/m2 maximum ({src})"))
        # pediatric
        ped = d.pediatric if (child or p.age is None) else None
        ped_done = False
        if ped and ped.unit and u == canonical_unit(ped.unit):
            factor = unit_factor(ped.unit)
            for kind, per_kg_dose, value, lim_pk, cap in (
                ("single", dose.single_per_kg if dose.per_kg else None, single, ped.max_single_per_kg, ped.max_single),
                ("daily", dose.daily_per_kg if dose.per_kg else None, daily, ped.max_daily_per_kg, ped.max_daily),
            ):
                if per_kg_dose is not None and lim_pk is not None and per_kg_dose > lim_pk * factor + 1e-9:
                    ped_done = True
                    how = arithmetic(dose, p.weight_kg, x.bsa, kind)
                    out.append(Finding("major", f"pediatric_max_{kind}_dose", s, e,
                                       f"{kind.capitalize()} dose of {who}: {how} ({per_kg_dose:.4g} {u}/kg) > pediatric maximum "
                                       f"{lim_pk:g} {ped.unit}/kg ({src})"))
                    continue
                if not child or value is None:
                    continue
                limit = None
                if lim_pk is not None and p.weight_kg:
                    limit = lim_pk * factor * p.weight_kg
                cap_v = _lim(cap, u)
                if cap_v is not None:
                    limit = cap_v if limit is None else min(limit, cap_v)
                if limit is None:
                    continue
                label = (f"pediatric maximum ({lim_pk:g} {ped.unit}/kg x {p.weight_kg:g} kg"
                         + (f", capped at {fmt(cap_v, u)}" if cap_v is not None else "") + ")") if lim_pk is not None and p.weight_kg \
                    else "pediatric maximum"
                ped_done |= fire(f"pediatric_max_{kind}_dose", kind, value, limit, label)
        if not child or not (d.pediatric and (p.weight_kg or d.pediatric.max_single or d.pediatric.max_daily)):
            lab = "adult maximum" if not child else "adult maximum (used as the cap for a child)"
            lim_single = _lim(d.max_single, u)
            label_single = lab
            for r in routes:
                if r in by_route:
                    lim_single, label_single = _lim(by_route[r], u), f"maximum for the {r.upper() if len(r) <= 3 else r} route"
            if not ped_done:
                fire("max_single_dose", "single", single, lim_single, label_single)
                if dose.phase != "maintenance" or d.maintenance_max_daily is None:
                    fire("max_daily_dose", "daily", daily, _lim(d.max_daily, u), lab)
            if _adult(p) and p.weight_kg and not dose.per_m2:
                if d.max_single_per_kg:
                    fire("max_single_dose_per_kg", "single", single, d.max_single_per_kg * p.weight_kg,
                         f"maximum ({d.max_single_per_kg:g} {u}/kg x {p.weight_kg:g} kg)")
                if d.max_daily_per_kg:
                    fire("max_daily_dose_per_kg", "daily", daily, d.max_daily_per_kg * p.weight_kg,
                         f"maximum ({d.max_daily_per_kg:g} {u}/kg/day x {p.weight_kg:g} kg)")
        # patient groups
        if d.low_weight and _adult(p) and p.weight_kg and d.low_weight.below_kg and p.weight_kg < d.low_weight.below_kg:
            _patient_limit(d.low_weight, dose, single, daily, p, "low_weight_max_dose",
                           f"maximum under {d.low_weight.below_kg:g} kg", fire)
        if p.age is not None:
            for g in d.geriatric:
                if g.from_age is not None and p.age >= g.from_age:
                    _patient_limit(g, dose, single, daily, p, "geriatric_max_dose", f"maximum at {g.from_age:g} years and older", fire)
        if x.hepatic and d.hepatic and not d.hepatic.avoid:
            _patient_limit(d.hepatic, dose, single, daily, p, "hepatic_max_dose", "maximum in hepatic impairment", fire)
        if p.egfr is not None:
            hits = [r for r in d.renal if p.egfr < r.below and (r.max_daily or r.max_daily_per_kg)]
            if hits:
                r = min(hits, key=lambda r: r.below)
                lim = _lim(r.max_daily, u)
                if r.max_daily_per_kg and p.weight_kg:
                    lim = r.max_daily_per_kg * p.weight_kg if lim is None else min(lim, r.max_daily_per_kg * p.weight_kg)
                fire("renal_max_daily_dose", "daily", daily, lim, f"maximum at eGFR {p.egfr:g} (rule: {r.basis} < {r.below:g})", note=r.note)
        if d.max_duration_days and dose.duration_days and dose.duration_days > d.max_duration_days:
            out.append(Finding("major", "max_duration", s, e,
                               f"{who} for {dose.duration_days:g} days > {d.max_duration_days:g}-day maximum: {d.duration_note} ({src})"))


def _patient_limit(lim: PatientLimit, dose: Dose, single, daily, p: PatientContext, rule: str, label: str, fire) -> None:
    u = dose.unit
    src = source_label(lim.source)
    note = lim.note
    fire(rule, "single", single, _lim(lim.max_single, u), label, lim.severity, src, note)
    fire(rule, "daily", daily, _lim(lim.max_daily, u), label, lim.severity, src, note)
    if p.weight_kg:
        if lim.max_single_per_kg:
            fire(rule, "single", single, lim.max_single_per_kg * p.weight_kg,
                 f"{label} ({lim.max_single_per_kg:g} {u}/kg x {p.weight_kg:g} kg)", lim.severity, src)
        if lim.max_daily_per_kg:
            fire(rule, "daily", daily, lim.max_daily_per_kg * p.weight_kg,
                 f"{label} ({lim.max_daily_per_kg:g} {u}/kg/day x {p.weight_kg:g} kg)", lim.severity, src)


def check_schedule(m: MedicationMention, d: Drug, c: Ctx, who: str, out: list[Finding]) -> None:
    """A weekly, monthly or 3-monthly drug written as daily (a daily regimen allowed up to ``daily_regimen_max``)."""
    if not d.schedule:
        return
    rule = "weekly_dosed_daily" if d.schedule == "weekly" else "monthly_dosed_daily"
    allowed = d.daily_regimen_max
    for dose in m.doses:
        if dose.threshold:
            continue
        f = dose.frequency
        daily_regimen = dose.per_day_total or (f is not None and not f.weekly and f.per_day is not None and f.per_day >= 1)
        if not daily_regimen:
            continue
        lim = _lim(allowed, dose.unit)
        if lim is not None and dose.single is not None and dose.single <= lim + 1e-9:
            continue
        s, e = _span(dose)
        extra = f" (a daily regimen is at most {fmt(lim, dose.unit)})" if lim is not None else ""
        out.append(Finding("major", rule, s, e, f"{who} dosed '{c.answer[s:e]}': {d.schedule_note}{extra}"))
        return
    if allowed is None and not any(x.frequency for x in m.doses):
        bad = [f for f in m.frequencies if not f.weekly and f.per_day is not None and f.per_day >= 1]
        if bad:
            f = bad[0]
            out.append(Finding("major", rule, f.start, f.end, f"{who} dosed '{c.answer[f.start:f.end]}': {d.schedule_note}"))


# --------------------------------------------------------------------------- products and ingredients

_NUMS = r"(\d+(?:\.\d+)?)"
_STRENGTHS = re.compile(r"^\W{0,4}?" + _NUMS + r"\s*(?:mg\s*)?/\s*" + _NUMS + r"(?:\s*(?:mg\s*)?/\s*" + _NUMS + r")?\s*(?:mg\b)?", re.I)
_COUNT_ONLY = re.compile(r"(?<![\w./])(?:(?:\d+|one|two|three|four)\s*(?:-|–|to|or)\s*)?(?P<n>\d+|one|two|three|four|five|six|half\s+a|a|an)\s+"
                         + _UNIT_FORM + r"\b", re.I)
_SENT = re.compile(r"(?<!\d)\.(?!\d)|[;!?\n]")


@dataclass(frozen=True)
class Ingredient:
    generic: str  # ingredient
    single: float | None  # mg per administration
    daily: float | None
    how: str  # arithmetic
    start: int
    end: int
    via: str  # the product text
    count: float = 1.0
    per_day: float | None = None
    product: object = None  # formulary.Product when a named product gave the strengths


def _region_end(text: str, m: MedicationMention, next_start: int) -> int:
    s = _SENT.search(text, m.end)
    end = s.start() if s else len(text)
    return min(end, next_start)


_PRODUCT_RX: dict[int, list] = {}


def _product_rx(k: Knowledge) -> dict:
    """Per formulary generic: the compiled names of its products (built once per Knowledge)."""
    hit = _PRODUCT_RX.get(id(k))
    if hit is None or hit[0] is not k:
        by: dict[str, list] = {}
        for prod in k.products:
            for name in sorted(prod.names, key=len, reverse=True):
                rx = re.compile(r"(?<!\w)" + r"[\s-]+".join(re.escape(w) for w in re.split(r"[\s-]+", name)) + r"(?!\w)", re.I)
                by.setdefault(prod.generic, []).append((prod, name, rx))
        hit = _PRODUCT_RX[id(k)] = (k, by)
    return hit[1]


def _product_of(k: Knowledge, text: str, m: MedicationMention):
    """The named product whose name covers the mention ("Extra Strength Tylenol" around "Tylenol"), with its span."""
    cands = _product_rx(k).get(m.generic)
    if not cands:
        return None, None, m.start, m.end
    lo = max(0, m.start - 30)
    for prod, name, rx in cands:
        for pm in rx.finditer(text, lo, min(len(text), m.end + 30)):
            if pm.start() <= m.start < pm.end() or pm.start() < m.end <= pm.end():
                return prod, text[pm.start():pm.end()], pm.start(), pm.end()
    return None, None, m.start, m.end


def ingredients(m: MedicationMention, k: Knowledge, text: str, next_start: int) -> list[Ingredient] | None:
    """Per-ingredient doses of a combination product or a named product when the text gives a count
    (or strengths) rather than an ingredient dose; None when the mention has ordinary doses only."""
    if m.is_class:
        return None
    d = k.drugs[m.generic]
    prod, pname, pstart, pend = _product_of(k, text, m)
    end = _region_end(text, m, next_start)
    region_start = max(m.end, pend) if prod is not None else m.end
    region = text[region_start:end]
    per_unit: list[tuple[str, float]] = []
    label = m.text
    sm = _STRENGTHS.match(region)
    if d.components and sm:
        nums = [float(g) for g in sm.groups() if g]
        if len(nums) == len(d.components):
            per_unit = list(zip(d.components, nums))
            label = f"{m.text} {sm.group(0).strip(' ,:')}"
    product = None
    if not per_unit and prod is not None:
        per_unit = [(g, q.canonical()[0]) for g, q in prod.per_unit]
        label, product = pname, prod
    if not per_unit:
        return None
    if not d.components and any(not x.threshold for x in m.doses if x.start >= m.end and x.start < end):
        return None  # "Advil 400 mg": the explicit dose is checked as it is
    cm = _COUNT_ONLY.search(region, sm.end() if sm and d.components else 0)
    count = 1.0
    n = None
    if cm:
        n = cm.group("n").lower()
    else:  # "2 Tylenol Extra Strength caplets", "take two Percocet"
        before = re.search(r"(?<![\w./])(?:(?:\d+|one|two|three)\s*(?:-|–|to|or)\s*)?(?P<n>\d+|one|two|three|four|five|six)\s+$",
                           text[max(0, min(pstart, m.start) - 16):min(pstart, m.start)], re.I)
        if before:
            n = before.group("n").lower()
    if n:
        count = float(_WORD_NUMBERS.get(n.split()[0], 0) or (0.5 if n.startswith("half") else 0) or (int(n) if n.isdigit() else 1))
    freq = next((f for f in m.frequencies if f.start >= m.end and f.start < end), None) or \
        next((f for f in m.frequencies), None)
    per_day = None
    if freq is not None:
        per_day = freq.per_day if not freq.one_time else 1.0
    s = m.start
    e = max(end, m.end) if end - m.start < 160 else m.end
    out = []
    for g, strength in per_unit:
        single = count * strength
        daily = single * per_day if per_day is not None else None
        how = f"{count:g} x {fmt(strength)}" + (f" {freq.text}" if freq is not None else "")
        if daily is not None:
            how += f" = {fmt(daily)}/day"
        out.append(Ingredient(g, single, daily, how, s, e, label, count, per_day, product))
    return out


def check_ingredients(ings: list[Ingredient], c: Ctx, out: list[Finding]) -> None:
    prod = ings[0].product if ings else None
    if prod is not None and (prod.max_units_per_dose or prod.max_units_per_day):
        ing = ings[0]
        src = source_label(prod.source)
        if prod.max_units_per_dose and ing.count > prod.max_units_per_dose:
            out.append(Finding("major", "max_single_dose", ing.start, ing.end,
                               f"{ing.via}: {ing.count:g} per dose > {prod.max_units_per_dose:g} per dose ({prod.note}; {src})"))
            return
        if prod.max_units_per_day and ing.per_day is not None and ing.count * ing.per_day > prod.max_units_per_day + 1e-9:
            out.append(Finding("major", "max_daily_dose", ing.start, ing.end,
                               f"{ing.via}: {ing.count:g} x {ing.per_day:g} a day = {ing.count * ing.per_day:g} a day > "
                               f"{prod.max_units_per_day:g} a day ({prod.note}; {src})"))
            return
    for ing in ings:
        d = c.k.drugs[ing.generic]
        src = source_label(d.source)
        lims = [("max_daily_dose", "daily", ing.daily, _lim(d.max_daily, "mg"), "adult maximum", src)]
        if not (prod is not None and prod.max_units_per_dose):  # the product's own per-dose limit replaces it
            lims.append(("max_single_dose", "single", ing.single, _lim(d.max_single, "mg"), "adult maximum", src))
        if c.x.hepatic and d.hepatic is not None:
            lims.append(("hepatic_max_dose", "daily", ing.daily, _lim(d.hepatic.max_daily, "mg"), "maximum in hepatic impairment",
                         source_label(d.hepatic.source)))
        for rule, what, value, limit, label, s in lims:
            if value is not None and limit is not None and value > limit + 1e-9:
                per = "/day" if what == "daily" else " per dose"
                how = ing.how if what == "daily" else ing.how.split(" = ")[0].split(" every")[0]
                out.append(Finding("major", rule, ing.start, ing.end,
                                   f"{d.generic.capitalize()} in {ing.via}: {how} > {fmt(limit)}{per} {label} ({s})"))
                break


def check_cumulative(contrib: dict[str, list[tuple[float, str, int, int, bool]]], c: Ctx, out: list[Finding],
                     already: set[str]) -> None:
    """``contrib``: ingredient -> [(daily mg, description, start, end, from the answer)]."""
    for g, parts in contrib.items():
        if len(parts) < 2 or g in already or not any(a for *_, a in parts):
            continue
        d = c.k.drugs[g]
        limit = _lim(d.max_daily, "mg")
        label, src = "adult maximum", source_label(d.source)
        if c.x.hepatic and d.hepatic and (h := _lim(d.hepatic.max_daily, "mg")) is not None and (limit is None or h < limit):
            limit, label, src = h, "maximum in hepatic impairment", source_label(d.hepatic.source)
        if limit is None:
            continue
        total = sum(x[0] for x in parts)
        if total > limit + 1e-9:
            first = next(x for x in parts if x[4])
            terms = " + ".join(f"{fmt(x[0])}/day ({x[1]})" for x in parts)
            out.append(Finding("major", "cumulative_daily_dose", first[2], first[3],
                               f"{d.generic.capitalize()} from {len(parts)} sources: {terms} = {fmt(total)}/day > "
                               f"{fmt(limit)}/day {label} ({src})"))


# --------------------------------------------------------------------------- taper, lactation, pregnancy

_STOP = re.compile(r"\b(?:stop(?:ping)?|discontinu\w*|cease|quit|come\s+off|halt|withdraw)\b", re.I)
_ABRUPT = re.compile(r"\b(?:abrupt(?:ly)?|immediately|sudden(?:ly)?|at\s+once|today|tonight|right\s+away|straight\s+away|now|cold\s+turkey)\b", re.I)
_GRADUAL = re.compile(r"\b(?:taper\w*|wean\w*|gradual(?:ly)?|slowly|step\s+down|reduc\w+|decreas\w+)\b", re.I)
_DONT = re.compile(r"\b(?:do\s+not|don't|never|not|avoid|shouldn't|should\s+not|must\s+not)\s+(?:\w+\s+){0,2}$", re.I)


def check_taper(m: MedicationMention, d: Drug, c: Ctx, who: str, current: dict, out: list[Finding], once: set) -> None:
    rule = next((r for r in c.k.taper_required if r.covers(d.generic, d.classes)), None)
    if rule is None or ("taper", d.generic) in once:
        return
    if c.p.medications and d.generic not in current:
        return  # the patient does not take it: nothing to withdraw
    text = c.answer
    a = max([text.rfind(ch, 0, m.start) for ch in ".;!?\n"]) + 1
    ends = [i for i in (text.find(ch, m.end) for ch in ".;!?\n") if i != -1]
    sent = text[a:min(ends) if ends else len(text)]
    st = _STOP.search(sent)
    if not st or not _ABRUPT.search(sent) or _GRADUAL.search(sent) or _DONT.search(sent[:st.start()]):
        return
    once.add(("taper", d.generic))
    out.append(Finding("major", "abrupt_discontinuation", m.start, m.end,
                       f"{who} stopped abruptly ('{sent.strip()[:60]}'): {rule.note} ({source_label(rule.source)})"))


def check_lactation(m: MedicationMention, d: Drug, c: Ctx, who: str, out: list[Finding], once: set) -> None:
    if c.x.breastfeeding and d.lactation and ("lact", d.generic) not in once:
        once.add(("lact", d.generic))
        out.append(Finding(d.lactation.severity, "lactation", m.start, m.end, f"{who} while breastfeeding: {d.lactation.note}"))


def pregnancy_applies(m: MedicationMention, d: Drug) -> bool:
    """A dose-dependent pregnancy rule applies when a recommended dose exceeds its threshold (or no dose is given)."""
    lim = _lim(d.pregnancy_above_daily, "mg") if d.pregnancy_above_daily and d.pregnancy_above_daily.canonical()[1] == "mg" \
        else (d.pregnancy_above_daily.value if d.pregnancy_above_daily else None)
    if lim is None:
        return True
    doses = [x for x in m.doses if not x.threshold]
    if not doses:
        return True
    return any((x.daily if x.daily is not None else x.single or 0) > lim + 1e-9 for x in doses)


def pregnancy_severity(d: Drug, x: Extras) -> str:
    sev = d.pregnancy.severity if d.pregnancy else "moderate"
    if d.pregnancy_from_week and x.gest_week is not None and x.gest_week >= d.pregnancy_from_week and sev == "moderate":
        return "major"
    return sev
