"""Typed loading and validation of the medication knowledge packs.

Three packs (``safemed_desktop/packs/``): ``formulary`` (drugs, names, classes, dose limits and
restrictions), ``interactions`` (drug/class pairs) and ``allergy_classes``. ``load_knowledge()``
validates all three together (names unique across drugs, interactions and allergy classes refer to
known drugs/classes, units from a fixed set, max single <= max daily, one pack version) and returns a
frozen :class:`Knowledge`; any problem raises :class:`PackError` with the pack, entry and field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..errors import PackError
from .packs import Pack, load_pack, normalize_sources, parse_pack
from .units import UNITS, canonical_unit, to_canonical

SEVERITIES: tuple[str, ...] = ("contraindicated", "major", "moderate")
CROSS_SEVERITIES: tuple[str, ...] = ("contraindicated", "major", "moderate", "none")
ROUTES: frozenset[str] = frozenset(
    "oral iv iv_push im subcut rectal topical transdermal inhaled intranasal sublingual buccal epidural "
    "intrathecal intra-arterial vaginal ophthalmic".split()
)
RENAL_ACTIONS = ("contraindicated", "avoid", "do_not_start", "dose_adjust", "caution")
SCHEDULES = ("weekly", "monthly", "quarterly")
_SEP = re.compile(r"[\s\-/]+")


@lru_cache(maxsize=8192)  # the same few hundred drug names recur in every answer
def normalize_name(name: str) -> str:
    """Case- and separator-insensitive key: 'Trimethoprim/Sulfamethoxazole' -> 'trimethoprim sulfamethoxazole'."""
    return _SEP.sub(" ", name.strip().lower())


@dataclass(frozen=True)
class Quantity:
    value: float
    unit: str  # one of UNITS

    def canonical(self) -> tuple[float, str]:
        """Mass in mg; other units unchanged."""
        return to_canonical(self.value, self.unit), canonical_unit(self.unit)

    def __str__(self) -> str:
        return f"{self.value:g} {self.unit}"


@dataclass(frozen=True)
class PediatricLimits:
    unit: str
    max_single_per_kg: float | None
    max_daily_per_kg: float | None
    max_single: Quantity | None  # absolute cap
    max_daily: Quantity | None


@dataclass(frozen=True)
class RouteRule:
    route: str
    severity: str
    note: str


@dataclass(frozen=True)
class RenalRule:
    below: float  # applies when eGFR/CrCl < below
    severity: str
    action: str
    basis: str  # "eGFR" or "CrCl"
    note: str
    max_daily: Quantity | None
    max_daily_per_kg: float | None = None


@dataclass(frozen=True)
class AgeRule:
    below: float | None  # applies when age < below (years)
    from_age: float | None  # applies when age >= from_age
    severity: str
    note: str

    def applies(self, age: float) -> bool:
        if self.below is not None:
            return age < self.below
        return self.from_age is not None and age >= self.from_age


@dataclass(frozen=True)
class PatientLimit:
    """A dose limit (or an 'avoid' when no limit is given) that applies to a group of patients: older
    adults (``from_age``), hepatic impairment, low body weight, loading doses."""

    severity: str
    note: str
    source: str  # a source id of the pack header
    from_age: float | None = None
    max_single: Quantity | None = None
    max_daily: Quantity | None = None
    max_single_per_kg: float | None = None
    max_daily_per_kg: float | None = None
    below_kg: float | None = None

    @property
    def avoid(self) -> bool:
        return not (self.max_single or self.max_daily or self.max_single_per_kg or self.max_daily_per_kg)


@dataclass(frozen=True)
class Product:
    """A named product with fixed strengths per tablet/capsule ("Extra Strength Tylenol": 500 mg
    acetaminophen; "Tylenol #3": 300 mg acetaminophen + 30 mg codeine)."""

    names: tuple[str, ...]
    generic: str  # the formulary drug the name resolves to
    per_unit: tuple[tuple[str, Quantity], ...]  # (ingredient generic, strength per tablet)
    source: tuple[str, ...]
    max_units_per_dose: float | None = None  # label limits of the product itself (extended release)
    max_units_per_day: float | None = None
    note: str = ""


@dataclass(frozen=True)
class ClassRule:
    """A rule over drug classes from the pack header: duplicate therapy or required tapering."""

    classes: frozenset[str]
    drugs: frozenset[str]
    exclude: frozenset[str]
    note: str
    source: tuple[str, ...]

    def covers(self, generic: str, classes: frozenset[str]) -> bool:
        return generic not in self.exclude and (generic in self.drugs or bool(classes & self.classes))


@dataclass(frozen=True)
class Drug:
    generic: str
    brands: tuple[str, ...]
    synonyms: tuple[str, ...]
    classes: frozenset[str]
    routes: tuple[str, ...]
    components: tuple[str, ...]
    high_alert_class: str | None
    high_alert_routes: tuple[str, ...]
    max_single: Quantity | None
    max_daily: Quantity | None
    pediatric: PediatricLimits | None
    schedule: str | None  # "weekly" when the drug must not be dosed daily
    schedule_note: str
    forbidden_routes: tuple[RouteRule, ...]
    renal: tuple[RenalRule, ...]  # sorted by threshold, highest first
    pregnancy: RouteRule | None  # route field unused: severity + note
    age: tuple[AgeRule, ...]
    note: str
    source: tuple[str, ...]
    # --- pack 2026.12: limits that depend on the route, weight, BSA, regimen phase and patient group
    max_single_by_route: tuple[tuple[str, Quantity], ...] = ()
    max_single_per_kg: float | None = None  # adult weight-based limits
    max_daily_per_kg: float | None = None
    max_single_per_m2: float | None = None  # body-surface-area limit (mg/m2, any age)
    usual_single: Quantity | None = None  # a typical adult single dose: a dose ~1000x off it is a unit error
    maintenance_max_daily: Quantity | None = None
    loading: PatientLimit | None = None
    low_weight: PatientLimit | None = None  # adults under ``below_kg``
    geriatric: tuple[PatientLimit, ...] = ()
    hepatic: PatientLimit | None = None
    lactation: RouteRule | None = None
    pregnancy_above_daily: Quantity | None = None  # the pregnancy rule applies only above this daily dose
    pregnancy_from_week: float | None = None  # ... and is major from this gestational week
    daily_regimen_max: Quantity | None = None  # a daily regimen of a weekly/monthly drug is allowed up to this single dose
    max_duration_days: float | None = None
    duration_note: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        return (self.generic, *self.brands, *self.synonyms)


@dataclass(frozen=True)
class Interaction:
    a: str  # generic name or "class:NAME"
    b: str
    severity: str
    effect: str
    management: str
    source: tuple[str, ...]


@dataclass(frozen=True)
class CrossReactivity:
    drug_class: str
    level: str
    severity: str  # "none" documents a negligible cross-reactivity (no finding)
    note: str


@dataclass(frozen=True)
class AllergyClass:
    id: str
    label: str
    names: tuple[str, ...]
    member_classes: frozenset[str]
    cross_reactive: tuple[CrossReactivity, ...]
    source: tuple[str, ...]


@dataclass(frozen=True, eq=False)  # identity hash: compiled regexes are cached per Knowledge
class Knowledge:
    version: str
    drugs: dict[str, Drug]  # generic -> Drug
    names: dict[str, str]  # normalized name -> generic, or "class:NAME" for a class term ("NSAIDs")
    classes: frozenset[str]
    interactions: tuple[Interaction, ...]
    allergy_classes: tuple[AllergyClass, ...]
    allergy_names: dict[str, str]  # normalized allergy-class name -> class id
    refs: tuple[str, ...]  # pack refs, e.g. "formulary@2026.11.0"
    products: tuple[Product, ...] = ()
    duplicate_therapy: tuple[ClassRule, ...] = ()
    taper_required: tuple[ClassRule, ...] = ()
    sources: dict[str, str] | None = None  # formulary source id -> citation

    @property
    def source(self) -> str:
        return f"formulary@{self.version}"


# --- validation helpers -----------------------------------------------------------------------------

class _Checker:
    def __init__(self, origin: str):
        self.origin = origin

    def fail(self, where: str, msg: str) -> PackError:
        return PackError(f"{self.origin}: {where}: {msg}")

    def obj(self, v: Any, where: str) -> dict:
        if not isinstance(v, dict):
            raise self.fail(where, "must be an object")
        return v

    def text(self, d: dict, key: str, where: str, *, required: bool = True) -> str:
        v = d.get(key)
        if v is None and not required:
            return ""
        if not isinstance(v, str) or not v.strip():
            raise self.fail(where, f"field {key!r} must be a non-empty string")
        return v

    def strings(self, d: dict, key: str, where: str, *, required: bool = False) -> tuple[str, ...]:
        v = d.get(key, None)
        if v is None:
            if required:
                raise self.fail(where, f"missing field {key!r}")
            return ()
        if not isinstance(v, list) or not all(isinstance(x, str) and x.strip() for x in v):
            raise self.fail(where, f"field {key!r} must be a list of non-empty strings")
        return tuple(v)

    def number(self, d: dict, key: str, where: str, *, required: bool = True) -> float | None:
        v = d.get(key)
        if v is None and not required:
            return None
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
            raise self.fail(where, f"field {key!r} must be a positive number, got {v!r}")
        return float(v)

    def quantity(self, d: dict, key: str, where: str) -> Quantity | None:
        v = d.get(key)
        if v is None:
            return None
        q = self.obj(v, f"{where}.{key}")
        value = self.number(q, "value", f"{where}.{key}")
        unit = q.get("unit")
        if unit not in UNITS:
            raise self.fail(f"{where}.{key}", f"unit {unit!r} is not one of {', '.join(UNITS)}")
        assert value is not None
        return Quantity(value, unit)

    def severity(self, d: dict, where: str, allowed: tuple[str, ...] = SEVERITIES) -> str:
        s = d.get("severity")
        if s not in allowed:
            raise self.fail(where, f"severity {s!r} is not one of {', '.join(allowed)}")
        return s

    def route(self, r: Any, where: str) -> str:
        if r not in ROUTES:
            raise self.fail(where, f"route {r!r} is not one of {', '.join(sorted(ROUTES))}")
        return r


def _check_single_daily(c: _Checker, single: Quantity | None, daily: Quantity | None, where: str) -> None:
    if single and daily:
        if canonical_unit(single.unit) != canonical_unit(daily.unit):
            raise c.fail(where, f"max single ({single}) and max daily ({daily}) use incompatible units")
        if single.canonical()[0] > daily.canonical()[0]:
            raise c.fail(where, f"max single dose {single} exceeds max daily dose {daily}")


def _parse_drug(c: _Checker, raw: Any, i: int) -> Drug:
    e = c.obj(raw, f"entry {i}")
    generic = c.text(e, "generic", f"entry {i}")
    w = f"drug {generic!r}"
    classes = c.strings(e, "classes", w, required=True)
    if not classes:
        raise c.fail(w, "needs at least one class")
    routes = tuple(c.route(r, w) for r in c.strings(e, "routes", w, required=True))
    ha = e.get("high_alert")
    if not isinstance(ha, bool):
        raise c.fail(w, f"field 'high_alert' must be true or false, got {ha!r}")
    ha_class, ha_routes = None, ()
    if ha:
        ha_class = c.text(e, "ismp_class", w)
        ha_routes = tuple(c.route(r, w) for r in c.strings(e, "high_alert_routes", w))
    elif "ismp_class" in e or "high_alert_routes" in e:
        raise c.fail(w, "'ismp_class'/'high_alert_routes' given but 'high_alert' is false")
    adult = c.obj(e.get("adult", {}), f"{w}.adult")
    max_single = c.quantity(adult, "max_single", f"{w}.adult")
    max_daily = c.quantity(adult, "max_daily", f"{w}.adult")
    _check_single_daily(c, max_single, max_daily, f"{w}.adult")
    ped = None
    if "pediatric" in e:
        p = c.obj(e["pediatric"], f"{w}.pediatric")
        unit = p.get("unit")
        if unit not in UNITS:
            raise c.fail(f"{w}.pediatric", f"unit {unit!r} is not one of {', '.join(UNITS)}")
        ped = PediatricLimits(
            unit=unit,
            max_single_per_kg=c.number(p, "max_single_per_kg", f"{w}.pediatric", required=False),
            max_daily_per_kg=c.number(p, "max_daily_per_kg", f"{w}.pediatric", required=False),
            max_single=c.quantity(p, "max_single", f"{w}.pediatric"),
            max_daily=c.quantity(p, "max_daily", f"{w}.pediatric"),
        )
        if ped.max_single_per_kg and ped.max_daily_per_kg and ped.max_single_per_kg > ped.max_daily_per_kg:
            raise c.fail(f"{w}.pediatric", "max single mg/kg exceeds max daily mg/kg")
        _check_single_daily(c, ped.max_single, ped.max_daily, f"{w}.pediatric")
    schedule, schedule_note = None, ""
    if "frequency" in e:
        f = c.obj(e["frequency"], f"{w}.frequency")
        schedule = f.get("schedule")
        if schedule not in SCHEDULES:
            raise c.fail(f"{w}.frequency", f"schedule {schedule!r} is not one of {', '.join(SCHEDULES)}")
        schedule_note = c.text(f, "note", f"{w}.frequency")
    forbidden = []
    for j, r in enumerate(e.get("forbidden_routes", [])):
        r = c.obj(r, f"{w}.forbidden_routes[{j}]")
        forbidden.append(RouteRule(c.route(r.get("route"), f"{w}.forbidden_routes[{j}]"), c.severity(r, f"{w}.forbidden_routes[{j}]"),
                                   c.text(r, "note", f"{w}.forbidden_routes[{j}]")))
    renal = []
    for j, r in enumerate(e.get("renal", [])):
        rw = f"{w}.renal[{j}]"
        r = c.obj(r, rw)
        action = r.get("action")
        if action not in RENAL_ACTIONS:
            raise c.fail(rw, f"action {action!r} is not one of {', '.join(RENAL_ACTIONS)}")
        basis = r.get("basis")
        if basis not in ("eGFR", "CrCl"):
            raise c.fail(rw, f"basis {basis!r} must be 'eGFR' or 'CrCl'")
        below = c.number(r, "below", rw)
        assert below is not None
        md = c.quantity(r, "max_daily", rw)
        if md and max_daily and md.canonical()[0] > max_daily.canonical()[0]:
            raise c.fail(rw, f"renal max daily {md} exceeds the adult max daily {max_daily}")
        renal.append(RenalRule(below, c.severity(r, rw), action, basis, c.text(r, "note", rw), md,
                               c.number(r, "max_daily_per_kg", rw, required=False)))
    renal.sort(key=lambda r: -r.below)
    pregnancy = None
    if "pregnancy" in e:
        p = c.obj(e["pregnancy"], f"{w}.pregnancy")
        pregnancy = RouteRule("", c.severity(p, f"{w}.pregnancy"), c.text(p, "note", f"{w}.pregnancy"))
    ages = []
    for j, a in enumerate(e.get("age", [])):
        aw = f"{w}.age[{j}]"
        a = c.obj(a, aw)
        below, frm = a.get("below"), a.get("from")
        if (below is None) == (frm is None):
            raise c.fail(aw, "needs exactly one of 'below' or 'from' (years)")
        ages.append(AgeRule(c.number(a, "below", aw, required=False), c.number(a, "from", aw, required=False),
                            c.severity(a, aw), c.text(a, "note", aw)))
    ext = _parse_extras(c, e, w, adult, max_daily)
    return Drug(
        generic=generic, brands=c.strings(e, "brands", w), synonyms=c.strings(e, "synonyms", w),
        classes=frozenset(classes), routes=routes, components=c.strings(e, "components", w),
        high_alert_class=ha_class, high_alert_routes=ha_routes, max_single=max_single, max_daily=max_daily,
        pediatric=ped, schedule=schedule, schedule_note=schedule_note, forbidden_routes=tuple(forbidden),
        renal=tuple(renal), pregnancy=pregnancy, age=tuple(ages), note=c.text(e, "note", w, required=False),
        source=normalize_sources(e["source"]), **ext,
    )


def _limit_obj(c: _Checker, raw: Any, where: str, sources: tuple[str, ...], *, age: bool = False,
               weight: bool = False) -> PatientLimit:
    d = c.obj(raw, where)
    src = d.get("source", sources[0])
    if src not in sources:
        raise c.fail(where, f"source {src!r} is not one of the drug's sources")
    lim = PatientLimit(
        severity=c.severity(d, where), note=c.text(d, "note", where), source=src,
        from_age=c.number(d, "from", where) if age else None,
        max_single=c.quantity(d, "max_single", where), max_daily=c.quantity(d, "max_daily", where),
        max_single_per_kg=c.number(d, "max_single_per_kg", where, required=False),
        max_daily_per_kg=c.number(d, "max_daily_per_kg", where, required=False),
        below_kg=c.number(d, "below_kg", where) if weight else None,
    )
    _check_single_daily(c, lim.max_single, lim.max_daily, where)
    return lim


def _parse_extras(c: _Checker, e: dict, w: str, adult: dict, max_daily: Quantity | None) -> dict[str, Any]:
    """The 2026.12 fields: route-specific, per-kg, per-m2 and maintenance limits, usual dose, loading,
    low-weight, geriatric and hepatic limits, lactation, dose-dependent pregnancy limits, regimen and duration."""
    sources = normalize_sources(e["source"])
    out: dict[str, Any] = {}
    by_route = c.obj(adult.get("max_single_by_route", {}), f"{w}.adult.max_single_by_route")
    out["max_single_by_route"] = tuple((c.route(r, f"{w}.adult.max_single_by_route"), c.quantity(by_route, r, f"{w}.adult"))
                                       for r in by_route)
    for key in ("max_single_per_kg", "max_daily_per_kg", "max_single_per_m2"):
        out[key] = c.number(adult, key, f"{w}.adult", required=False)
    out["usual_single"] = c.quantity(adult, "usual_single", f"{w}.adult")
    out["maintenance_max_daily"] = c.quantity(adult, "maintenance_max_daily", f"{w}.adult")
    if "loading" in e:
        out["loading"] = _limit_obj(c, e["loading"], f"{w}.loading", sources)
    if "low_weight" in e:
        out["low_weight"] = _limit_obj(c, e["low_weight"], f"{w}.low_weight", sources, weight=True)
    out["geriatric"] = tuple(_limit_obj(c, g, f"{w}.geriatric[{j}]", sources, age=True) for j, g in enumerate(e.get("geriatric", [])))
    if "hepatic" in e:
        out["hepatic"] = _limit_obj(c, e["hepatic"], f"{w}.hepatic", sources)
    if "lactation" in e:
        lw = f"{w}.lactation"
        lac = c.obj(e["lactation"], lw)
        out["lactation"] = RouteRule("", c.severity(lac, lw), c.text(lac, "note", lw))
    if "pregnancy" in e:
        preg = e["pregnancy"]
        out["pregnancy_above_daily"] = c.quantity(preg, "above_daily", f"{w}.pregnancy")
        out["pregnancy_from_week"] = c.number(preg, "from_week", f"{w}.pregnancy", required=False)
    if "frequency" in e:
        out["daily_regimen_max"] = c.quantity(e["frequency"], "daily_regimen_max", f"{w}.frequency")
    if "max_duration_days" in e:
        out["max_duration_days"] = c.number(e, "max_duration_days", w)
        out["duration_note"] = c.text(e, "duration_note", w)
    return out


def _class_rules(c: _Checker, raw: Any, key: str, drugs: dict, classes: frozenset[str], sources: dict) -> tuple[ClassRule, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise c.fail(key, "must be a list")
    out = []
    for i, r in enumerate(raw):
        where = f"{key}[{i}]"
        r = c.obj(r, where)
        cl, dr, ex = (c.strings(r, f, where) for f in ("classes", "drugs", "exclude"))
        for x in cl:
            if x not in classes:
                raise c.fail(where, f"unknown drug class {x!r}")
        for x in (*dr, *ex):
            if x not in drugs:
                raise c.fail(where, f"unknown drug {x!r}")
        src = normalize_sources(r.get("source"))
        if not r.get("source") or any(x not in sources for x in src):
            raise c.fail(where, f"cites unknown or missing source {r.get('source')!r}")
        out.append(ClassRule(frozenset(cl), frozenset(dr), frozenset(ex), c.text(r, "note", where), src))
    return tuple(out)


def _products(c: _Checker, raw: Any, drugs: dict, names: dict, sources: dict) -> tuple[Product, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise c.fail("products", "must be a list")
    out = []
    for i, r in enumerate(raw):
        where = f"products[{i}]"
        r = c.obj(r, where)
        pnames = c.strings(r, "names", where, required=True)
        generic = c.text(r, "drug", where)
        if generic not in drugs:
            raise c.fail(where, f"unknown drug {generic!r}")
        per = c.obj(r.get("per_unit"), f"{where}.per_unit")
        ingredients = {generic, *drugs[generic].components}
        per_unit = []
        for ing in per:
            if ing not in ingredients:
                raise c.fail(f"{where}.per_unit", f"{ing!r} is not an ingredient of {generic!r}")
            q = c.quantity(per, ing, f"{where}.per_unit")
            per_unit.append((ing, q))
        src = normalize_sources(r.get("source"))
        if not r.get("source") or any(x not in sources for x in src):
            raise c.fail(where, f"cites unknown or missing source {r.get('source')!r}")
        for n in pnames:
            key = normalize_name(n)
            if key in names and names[key] != generic:
                raise c.fail(where, f"name {n!r} is already used by {names[key]!r}")
            names[key] = generic
        out.append(Product(pnames, generic, tuple(per_unit), src, c.number(r, "max_units_per_dose", where, required=False),
                           c.number(r, "max_units_per_day", where, required=False), c.text(r, "note", where, required=False)))
    return tuple(out)


def build_knowledge(formulary: Any, interactions: Any, allergy: Any) -> Knowledge:
    """Validate the three packs' raw JSON together; raises PackError naming the first problem."""
    fp = parse_pack(formulary, "formulary pack")
    ip = parse_pack(interactions, "interactions pack")
    ap = parse_pack(allergy, "allergy_classes pack")
    for pack, name in ((fp, "formulary"), (ip, "interactions"), (ap, "allergy_classes")):
        if pack.name != name:
            raise PackError(f"{name} pack: header names pack {pack.name!r}")
    if not fp.version == ip.version == ap.version:
        raise PackError(f"medication packs disagree on version: formulary {fp.version}, interactions {ip.version}, "
                        f"allergy_classes {ap.version}")
    c = _Checker("formulary pack")
    drugs: dict[str, Drug] = {}
    names: dict[str, str] = {}
    for i, raw in enumerate(fp.entries):
        drug = _parse_drug(c, raw, i)
        if drug.generic in drugs:
            raise c.fail(f"entry {i}", f"duplicate generic name {drug.generic!r}")
        for n in drug.names:
            key = normalize_name(n)
            if key in names and names[key] != drug.generic:
                raise c.fail(f"drug {drug.generic!r}", f"name {n!r} is already used by {names[key]!r}")
            names[key] = drug.generic
        drugs[drug.generic] = drug
    for d in drugs.values():
        for comp in d.components:
            if comp not in drugs:
                raise c.fail(f"drug {d.generic!r}", f"component {comp!r} is not a formulary drug")
    classes = frozenset(k for d in drugs.values() for k in d.classes)
    terms = fp.raw.get("class_terms", {})
    if not isinstance(terms, dict):
        raise c.fail("class_terms", "must be an object of class -> list of names")
    for cls, words in terms.items():
        if cls not in classes:
            raise c.fail("class_terms", f"unknown drug class {cls!r}")
        for n in c.strings(terms, cls, "class_terms", required=True):
            key = normalize_name(n)
            if key in names and names[key] != f"class:{cls}":
                raise c.fail("class_terms", f"term {n!r} for class {cls!r} is already used by {names[key]!r}")
            names[key] = f"class:{cls}"

    ci = _Checker("interactions pack")

    def ref(v: Any, where: str) -> str:
        if not isinstance(v, str) or not v:
            raise ci.fail(where, "must name a drug or 'class:NAME'")
        if v.startswith("class:"):
            if v[6:] not in classes:
                raise ci.fail(where, f"unknown drug class {v[6:]!r}")
        elif v not in drugs:
            raise ci.fail(where, f"unknown drug {v!r}")
        return v

    inter = []
    seen = set()
    for i, raw in enumerate(ip.entries):
        e = ci.obj(raw, f"entry {i}")
        a, b = ref(e.get("a"), f"entry {i}.a"), ref(e.get("b"), f"entry {i}.b")
        key = frozenset((a, b)) if a != b else frozenset((a,))
        if key in seen:
            raise ci.fail(f"entry {i}", f"duplicate interaction {a} + {b}")
        seen.add(key)
        inter.append(Interaction(a, b, ci.severity(e, f"entry {i}"), ci.text(e, "effect", f"entry {i}"),
                                 ci.text(e, "management", f"entry {i}"), normalize_sources(e["source"])))

    ca = _Checker("allergy_classes pack")
    allergies, allergy_names = [], {}
    for i, raw in enumerate(ap.entries):
        e = ca.obj(raw, f"entry {i}")
        cid = ca.text(e, "id", f"entry {i}")
        w = f"allergy class {cid!r}"
        members = ca.strings(e, "member_classes", w, required=True)
        for m in members:
            if m not in classes:
                raise ca.fail(w, f"member class {m!r} is not a formulary drug class")
        cross = []
        for j, x in enumerate(e.get("cross_reactive", [])):
            x = ca.obj(x, f"{w}.cross_reactive[{j}]")
            dc = x.get("drug_class")
            if dc not in classes:
                raise ca.fail(f"{w}.cross_reactive[{j}]", f"drug class {dc!r} is not a formulary drug class")
            cross.append(CrossReactivity(dc, ca.text(x, "level", f"{w}.cross_reactive[{j}]"),
                                         ca.severity(x, f"{w}.cross_reactive[{j}]", CROSS_SEVERITIES),
                                         ca.text(x, "note", f"{w}.cross_reactive[{j}]")))
        for n in ca.strings(e, "names", w, required=True):
            key = normalize_name(n)
            if key in allergy_names:
                raise ca.fail(w, f"name {n!r} is already used by allergy class {allergy_names[key]!r}")
            allergy_names[key] = cid
        allergies.append(AllergyClass(cid, ca.text(e, "label", w), ca.strings(e, "names", w), frozenset(members),
                                      tuple(cross), normalize_sources(e["source"])))
    products = _products(c, fp.raw.get("products"), drugs, names, fp.sources)
    dup = _class_rules(c, fp.raw.get("duplicate_therapy"), "duplicate_therapy", drugs, classes, fp.sources)
    taper = _class_rules(c, fp.raw.get("taper_required"), "taper_required", drugs, classes, fp.sources)
    return Knowledge(version=fp.version, drugs=drugs, names=names, classes=classes, interactions=tuple(inter),
                     allergy_classes=tuple(allergies), allergy_names=allergy_names,
                     refs=tuple(p.ref for p in (fp, ip, ap)), products=products, duplicate_therapy=dup,
                     taper_required=taper, sources=dict(fp.sources))


@lru_cache(maxsize=1)
def load_knowledge() -> Knowledge:
    """The shipped medication packs, validated once per process."""
    packs: list[Pack] = [load_pack(n) for n in ("formulary", "interactions", "allergy_classes")]
    return build_knowledge(*(p.raw for p in packs))
