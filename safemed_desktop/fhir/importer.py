"""The FHIR R4 -> patient context mapping (see the package docstring).

Each mapped resource is validated with its ``fhir.resources`` model; a resource that fails validation
is left out with a note naming it and the first problem (a Patient that fails makes the file unusable).
Values are read from the validated models; the cheap pre-selection (resource type, Observation and
Condition codes, subject) reads the raw JSON, so a 10,000-resource export validates only the few
hundred resources that can change the context.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterable

from fhir.resources.R4B.allergyintolerance import AllergyIntolerance
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.medication import Medication
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.medicationstatement import MedicationStatement
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from pydantic import ValidationError

from ..errors import InputError
from ..records.patient import ImportedPatient, PatientContext
from . import MAX_RESOURCES, codes, drugs, units

MODELS: dict[str, type] = {
    "Patient": Patient, "Observation": Observation, "Condition": Condition,
    "AllergyIntolerance": AllergyIntolerance, "MedicationStatement": MedicationStatement,
    "MedicationRequest": MedicationRequest, "Medication": Medication,
}
FINAL = frozenset({"final", "amended", "corrected"})
ACTIVE_CONDITION = frozenset({"active", "recurrence", "relapse"})
UNUSABLE_VERIFICATION = frozenset({"entered-in-error", "refuted"})
CURRENT_STATEMENT = frozenset({"active", "intended"})
_EPOCH = datetime(1, 1, 1, tzinfo=timezone.utc)


def _validation_message(exc: ValidationError) -> str:
    err = exc.errors()[0] if exc.errors() else {"loc": (), "msg": str(exc)}
    loc = ".".join(str(x) for x in err.get("loc", ())) or "resource"
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{loc}: {err.get('msg', 'invalid')}{more}"


def _when(value: Any) -> datetime | None:
    """A FHIR date/dateTime/instant (validated: date, datetime, or a partial-date string) -> aware datetime."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    if isinstance(value, str):  # partial date: "2024" or "2024-05"
        parts = [int(p) for p in value.split("-")[:3] if p.isdigit()]
        if parts:
            y, m, d = (parts + [1, 1])[:3]
            try:
                return datetime(y, m, d, tzinfo=timezone.utc)
            except ValueError:
                return None
    return None


def _codings(concept: Any) -> list[Any]:
    return list(getattr(concept, "coding", None) or []) if concept is not None else []


def _code_label(coding: Any) -> str:
    system = codes.SYSTEM_LABEL.get(coding.system or "", coding.system or "code")
    return f"{system} {coding.code}"


def _concept_name(concept: Any) -> str:
    """The human name of a CodeableConcept: its text, else the first display, else a known code's name, else ''."""
    if concept is None:
        return ""
    if getattr(concept, "text", None):
        return concept.text.strip()
    for c in _codings(concept):
        if c.display:
            return c.display.strip()
    for c in _codings(concept):
        name = codes.CODE_NAMES.get((c.system or "", c.code or ""))
        if name:
            return name
    return ""


def _concept_codes(concept: Any) -> str:
    labels = [_code_label(c) for c in _codings(concept) if c.code]
    return ", ".join(labels)


def _raw_codes(raw: dict, key: str = "code") -> set[tuple[str, str]]:
    concept = raw.get(key)
    if not isinstance(concept, dict):
        return set()
    out = set()
    for c in concept.get("coding") or ():
        if isinstance(c, dict) and isinstance(c.get("code"), str):
            out.add((c.get("system") or "", c["code"]))
    return out


def _status_code(concept: Any) -> str | None:
    for c in _codings(concept):
        if c.code:
            return c.code
    return None


@dataclass
class _Entry:
    raw: dict
    rtype: str
    rid: str
    full_url: str | None

    @property
    def ref(self) -> str:
        return f"{self.rtype}/{self.rid}" if self.rid else f"{self.rtype} ({self.full_url or 'no id'})"


@dataclass
class _Value:
    when: datetime | None
    value: float
    entry: _Entry
    detail: str  # e.g. "LOINC 33914-3"


class FhirImport:
    def __init__(self, origin: str, today: date, stale_days: int):
        self.origin = origin
        self.today = today
        self.stale_before = datetime(today.year, today.month, today.day, tzinfo=timezone.utc) - timedelta(days=stale_days)
        self.stale_days = stale_days
        self.now = datetime(today.year, today.month, today.day, 23, 59, 59, tzinfo=timezone.utc)
        self.notes: list[str] = []
        self.sources: dict[str, str] = {}
        self.by_ref: dict[str, _Entry] = {}
        self.patient_refs: set[str] = set()

    # ------------------------------------------------------------------ entry points
    def run(self, data: Any) -> ImportedPatient:
        entries = self._entries(data)
        selected: dict[str, list[_Entry]] = {t: [] for t in MODELS}
        skipped: Counter[str] = Counter()
        for e in entries:
            if e.rtype not in MODELS or not self._wanted(e):
                skipped[e.rtype] += 1
                continue
            selected[e.rtype].append(e)
            for key in (f"{e.rtype}/{e.rid}" if e.rid else None, e.full_url):
                if key:
                    self.by_ref[key] = e
        patient = self._patient(selected["Patient"])
        age, sex = self._age_sex(patient, selected["Patient"][0])
        others = [e for t in MODELS if t not in ("Patient", "Medication") for e in selected[t]]
        models: dict[str, list[tuple[_Entry, Any]]] = {t: [] for t in MODELS}
        for e in others:
            if not self._about_patient(e):
                continue
            m = self._validate(e)
            if m is not None:
                models[e.rtype].append((e, m))
        weight, egfr, creat, preg_obs = self._observations(models["Observation"])
        pregnant = self._pregnancy(models["Condition"], preg_obs)
        allergies = self._allergies(models["AllergyIntolerance"])
        medications = self._medications(models["MedicationRequest"] + models["MedicationStatement"])  # orders carry dosing
        if skipped:
            parts = ", ".join(f"{t} {n}" for t, n in sorted(skipped.items(), key=lambda kv: (-kv[1], kv[0])))
            self.notes.append(f"{sum(skipped.values()):,} of {len(entries):,} resources not used for the patient context ({parts})")
        ctx = PatientContext(age=age, sex=sex, weight_kg=weight, pregnant=pregnant, egfr=egfr,
                             allergies=tuple(allergies), medications=tuple(medications))
        return ImportedPatient(ctx, dict(self.sources), tuple(self.notes), "fhir", creat)

    def _entries(self, data: Any) -> list[_Entry]:
        if isinstance(data, list):
            resources = [(r, None) for r in data]
        elif isinstance(data, dict):
            rtype = data.get("resourceType")
            if not isinstance(rtype, str):
                raise InputError(f"{self.origin}: \"resourceType\" must be text")
            if rtype == "Bundle":
                raw_entries = data.get("entry", [])
                if not isinstance(raw_entries, list):
                    raise InputError(f"{self.origin}: Bundle \"entry\" must be a list")
                if len(raw_entries) > MAX_RESOURCES:
                    raise InputError(f"{self.origin}: the Bundle holds {len(raw_entries):,} entries, more than the "
                                     f"{MAX_RESOURCES:,} an import takes; export this patient's record alone")
                resources = []
                for i, ent in enumerate(raw_entries):
                    if not isinstance(ent, dict):
                        raise InputError(f"{self.origin}: Bundle entry {i} must be an object")
                    res = ent.get("resource")
                    if res is None:
                        continue  # e.g. a transaction-response entry
                    full_url = ent.get("fullUrl")
                    resources.append((res, full_url if isinstance(full_url, str) else None))
            elif rtype == "Patient":
                resources = [(data, None)]
            else:
                raise InputError(f"{self.origin}: a {rtype} resource is not a patient record "
                                 "(expected a Bundle, a Patient, or a list of resources)")
        else:
            raise InputError(f"{self.origin} is neither a FHIR resource nor a patient context object")
        if len(resources) > MAX_RESOURCES:
            raise InputError(f"{self.origin} holds {len(resources):,} resources, more than the {MAX_RESOURCES:,} "
                             "an import takes")
        out = []
        for i, (res, full_url) in enumerate(resources):
            if not isinstance(res, dict) or not isinstance(res.get("resourceType"), str):
                raise InputError(f"{self.origin}: resource {i} has no \"resourceType\"")
            rid = res.get("id")
            out.append(_Entry(res, res["resourceType"], rid if isinstance(rid, str) else "", full_url))
        return out

    def _wanted(self, e: _Entry) -> bool:
        if e.rtype == "Observation":
            return any(s == codes.LOINC and c in codes.OBSERVATION_LOINC for s, c in _raw_codes(e.raw))
        if e.rtype == "Condition":
            return self._pregnancy_condition_codes(_raw_codes(e.raw)) or "pregnan" in str(
                (e.raw.get("code") or {}).get("text", "") if isinstance(e.raw.get("code"), dict) else "").lower()
        return True

    @staticmethod
    def _pregnancy_condition_codes(found: set[tuple[str, str]]) -> bool:
        for system, code in found:
            if system == codes.SNOMED and code in codes.PREGNANCY_SNOMED:
                return True
            if system in codes.ICD10 and code.upper().startswith(codes.PREGNANCY_ICD10_PREFIXES):
                return True
        return False

    def _validate(self, e: _Entry) -> Any | None:
        try:
            return MODELS[e.rtype].model_validate(e.raw)
        except ValidationError as exc:
            if e.rtype == "Patient":
                raise InputError(f"{self.origin}: {e.ref} is not valid FHIR: {_validation_message(exc)}") from None
            self.notes.append(f"{e.ref} is not valid FHIR R4, not used: {_validation_message(exc)}")
            return None
        except RecursionError:
            raise InputError(f"{self.origin}: {e.ref} is nested too deeply") from None

    # ------------------------------------------------------------------ patient
    def _patient(self, patients: list[_Entry]) -> Any:
        ids = list(dict.fromkeys(p.rid or p.full_url or f"#{i}" for i, p in enumerate(patients)))
        if not patients:
            raise InputError(f"{self.origin} holds no Patient resource: cannot tell whose record it is")
        if len(ids) > 1:
            shown = ", ".join(f"Patient/{i}" for i in ids[:3]) + (" ..." if len(ids) > 3 else "")
            raise InputError(f"{self.origin} holds {len(ids)} patients ({shown}); export one patient's record per file")
        p = patients[0]
        model = self._validate(p)
        for q in patients:
            if q.rid:
                self.patient_refs.add(f"Patient/{q.rid}")
            if q.full_url:
                self.patient_refs.add(q.full_url)
        return model

    def _age_sex(self, patient: Any, entry: _Entry) -> tuple[float | None, str | None]:
        age = None
        birth = patient.birthDate
        if isinstance(patient.deceasedDateTime, (date, datetime)) or patient.deceasedBoolean:
            self.notes.append(f"{entry.ref} is recorded as deceased")
        if birth is not None:
            born = _when(birth)
            if born is None:
                self.notes.append(f"{entry.ref}: birth date {birth!r} not understood; age not set")
            elif born.date() > self.today:
                self.notes.append(f"{entry.ref}: birth date {born.date()} is in the future; age not set")
            else:
                b, t = born.date(), self.today
                years = t.year - b.year - ((t.month, t.day) < (b.month, b.day))
                if years < 2:
                    months = (t.year - b.year) * 12 + t.month - b.month - (t.day < b.day)
                    age = round(max(months, 0) / 12, 2)
                else:
                    age = float(years)
                if age > 130:
                    self.notes.append(f"{entry.ref}: birth date {b} gives an age over 130; age not set")
                    age = None
                else:
                    exact = "" if isinstance(birth, date) else f"; partial birth date {birth}, age approximate"
                    self.sources["age"] = f"{entry.ref} (birthDate {birth}{exact})"
        else:
            self.notes.append(f"{entry.ref} has no birth date; age not set")
        sex = patient.gender
        if sex in ("female", "male", "other", "unknown"):
            self.sources["sex"] = f"{entry.ref} (gender)"
        else:
            sex = None
        return age, sex

    def _about_patient(self, e: _Entry) -> bool:
        ref = None
        for key in ("subject", "patient"):
            v = e.raw.get(key)
            if isinstance(v, dict) and isinstance(v.get("reference"), str):
                ref = v["reference"]
                break
        if ref is None or ref in self.patient_refs or any(ref.endswith("/" + r) for r in self.patient_refs if r.startswith("Patient/")):
            return True
        self.notes.append(f"{e.ref} is about {ref}, not this patient: not used")
        return False

    # ------------------------------------------------------------------ observations
    def _obs_when(self, o: Any) -> datetime | None:
        if o.effectiveDateTime is not None:
            return _when(o.effectiveDateTime)
        if o.effectiveInstant is not None:
            return _when(o.effectiveInstant)
        if o.effectivePeriod is not None:
            return _when(o.effectivePeriod.end or o.effectivePeriod.start)
        return _when(o.issued)

    def _observations(self, observations: list[tuple[_Entry, Any]]):
        weights: list[_Value] = []
        egfrs: list[_Value] = []
        creats: list[_Value] = []
        preg: list[tuple[datetime | None, bool, _Entry, str]] = []
        for e, o in observations:
            loinc = [c.code for c in _codings(o.code) if c.system == codes.LOINC and c.code in codes.OBSERVATION_LOINC]
            code = loinc[0]
            what = ("weight" if code in codes.WEIGHT_LOINC else "eGFR" if code in codes.EGFR_LOINC
                    else "creatinine" if code in codes.CREATININE_LOINC else "pregnancy status")
            if o.status not in FINAL:
                self.notes.append(f"{what} {e.ref} has status {o.status}: not used (only final results are)")
                continue
            when = self._obs_when(o)
            if when is not None and when > self.now:
                self.notes.append(f"{what} {e.ref} is dated in the future ({when.date()}): not used")
                continue
            detail = f"LOINC {code}"
            if what == "pregnancy status":
                state = self._pregnancy_answer(o)
                if state is None:
                    self.notes.append(f"pregnancy status {e.ref}: answer not understood, not used")
                else:
                    preg.append((when, state, e, detail))
                continue
            q = o.valueQuantity
            if q is None or q.value is None:
                self.notes.append(f"{what} {e.ref} has no numeric value: not used")
                continue
            table = {"weight": units.WEIGHT, "eGFR": units.EGFR, "creatinine": units.CREATININE}[what]
            value = units.convert(table, float(q.value), q.code if q.system in (None, codes.UCUM) else None, q.unit)
            if value is None:
                self.notes.append(f"{what} {e.ref}: unknown unit {q.code or q.unit or '(none)'!r}, value {q.value} not used")
                continue
            if q.comparator:
                self.notes.append(f"{what} {e.ref} is reported as {q.comparator}{q.value}: used as {q.value}")
            unit_note = "" if (q.code or q.unit or "") in ("kg", "mL/min/{1.73_m2}", "umol/L", "mg/dL") else f", from {q.value} {q.unit or q.code}"
            detail += unit_note
            {"weight": weights, "eGFR": egfrs, "creatinine": creats}[what].append(_Value(when, value, e, detail))
        weight = self._latest("weight_kg", "weight", weights, 0.2, 500, contradictory="unset", unit="kg")
        egfr = self._latest("egfr", "eGFR", egfrs, 0, 200, contradictory="lowest", unit="mL/min/1.73m2")
        creat = self._latest("creatinine", "creatinine", creats, 1, 5000, contradictory="highest", unit="umol/L")
        return weight, egfr, creat, preg

    def _latest(self, field: str, what: str, values: list[_Value], lo: float, hi: float, *, contradictory: str,
                unit: str) -> float | None:
        usable = []
        for v in values:
            if lo <= v.value <= hi:
                usable.append(v)
            else:
                self.notes.append(f"{what} {v.entry.ref}: {v.value:.4g} {unit} is implausible, not used")
        if not usable:
            return None
        undated = [v for v in usable if v.when is None]
        dated = [v for v in usable if v.when is not None]
        if not dated:
            self.notes.append(f"{what}: no observation carries a date; {undated[0].entry.ref} used, its age unknown")
            chosen, same_day = undated[0], undated
        else:
            dated.sort(key=lambda v: v.when or _EPOCH, reverse=True)
            chosen = dated[0]
            day = chosen.when.date()
            same_day = [v for v in dated if v.when.date() == day]
        vals = sorted({round(v.value, 2) for v in same_day})
        if len(vals) > 1 and (vals[-1] - vals[0]) > 0.05 * vals[-1]:
            listing = ", ".join(f"{v.value:.4g} {unit} ({v.entry.ref})" for v in same_day)
            when = chosen.when.date() if chosen.when else "undated"
            if contradictory == "unset":
                self.notes.append(f"contradictory {what} on {when}: {listing}; {what} not set, enter it by hand")
                return None
            pick = min if contradictory == "lowest" else max
            chosen = pick(same_day, key=lambda v: v.value)
            self.notes.append(f"several {what} values on {when}: {listing}; the {contradictory} ({chosen.value:.4g}) used")
        when_text = chosen.when.date().isoformat() if chosen.when else "undated"
        self.sources[field] = f"{chosen.entry.ref} ({chosen.detail}, {when_text})"
        if chosen.when is not None and chosen.when < self.stale_before:
            age_days = (self.today - chosen.when.date()).days
            self.notes.append(f"{what} is stale: the latest is from {when_text}, {age_days} days ago "
                              f"(site limit {self.stale_days} days)")
        return round(chosen.value, 1)

    @staticmethod
    def _pregnancy_answer(o: Any) -> bool | None:
        if o.valueBoolean is not None:
            return bool(o.valueBoolean)
        concept = o.valueCodeableConcept
        for c in _codings(concept):
            if c.code in codes.PREGNANT_ANSWERS:
                return True
            if c.code in codes.NOT_PREGNANT_ANSWERS:
                return False
        text = (_concept_name(concept) if concept is not None else (o.valueString or "")).strip().lower()
        if text.startswith(("not pregnant", "negative", "no")):
            return False
        if text.startswith(("pregnant", "positive", "yes")):
            return True
        return None

    # ------------------------------------------------------------------ pregnancy
    def _pregnancy(self, conditions: list[tuple[_Entry, Any]], observed) -> bool | None:
        evidence: list[tuple[datetime, bool, str]] = []
        for e, c in conditions:
            verification = _status_code(c.verificationStatus)
            clinical = _status_code(c.clinicalStatus)
            name = _concept_name(c.code) or "pregnancy"
            if verification in UNUSABLE_VERIFICATION:
                self.notes.append(f"{name} {e.ref} is marked {verification}: not used")
                continue
            ended = c.abatementDateTime or c.abatementPeriod or c.abatementString or c.abatementAge or c.abatementRange
            if (clinical is not None and clinical not in ACTIVE_CONDITION) or ended:
                continue  # a past pregnancy says nothing about now
            when = _when(c.onsetDateTime) or _when(c.recordedDate) or _EPOCH
            evidence.append((when, True, f"{e.ref} ({name}, {_concept_codes(c.code) or 'text'}, "
                                         f"{when.date() if when != _EPOCH else 'undated'})"))
        for when, state, e, detail in observed:
            w = when or _EPOCH
            evidence.append((w, state, f"{e.ref} ({detail}, {'pregnant' if state else 'not pregnant'}, "
                                       f"{w.date() if when else 'undated'})"))
        if not evidence:
            return None
        evidence.sort(key=lambda x: x[0], reverse=True)
        when, state, source = evidence[0]
        self.sources["pregnant"] = source
        if when != _EPOCH and when < self.stale_before:
            self.notes.append(f"pregnancy status is stale: the latest record is from {when.date()}")
        return state

    # ------------------------------------------------------------------ allergies
    def _allergies(self, allergies: list[tuple[_Entry, Any]]) -> list[str]:
        out: list[str] = []
        for e, a in allergies:
            verification = _status_code(a.verificationStatus)
            clinical = _status_code(a.clinicalStatus)
            raw_name = _concept_name(a.code)
            name = drugs.clean_name(raw_name) if raw_name else ""
            label = name or e.ref
            if verification in UNUSABLE_VERIFICATION:
                self.notes.append(f"allergy {label!r} ({e.ref}) is marked {verification}: not imported")
                continue
            if clinical is not None and clinical != "active":
                self.notes.append(f"allergy {label!r} ({e.ref}) is {clinical}: not imported")
                continue
            code_text = _concept_codes(a.code)
            if not name:
                self.notes.append(f"allergy {e.ref} has no name ({code_text or 'no code'}): not imported, check the record")
                continue
            classes, matched = drugs.allergy_targets(name)
            if not classes and not matched:
                for c in _codings(a.code):  # the name says nothing the packs know: try the code
                    known = codes.CODE_NAMES.get((c.system or "", c.code or ""))
                    if known:
                        name = f"{name} ({known})"
                        classes, matched = drugs.allergy_targets(known)
                        break
            categories = [str(x) for x in (a.category or [])]
            if not classes and not matched and ("medication" in categories or not categories):
                self.notes.append(f"allergy {name!r} ({code_text or 'text only'}) matches no allergy class or formulary "
                                  "drug: kept as text, not checked against answers")
            if name in out:
                self.sources[f"allergies: {name}"] += f"; also {e.ref}"
                continue
            out.append(name)
            crit = f", criticality {a.criticality}" if a.criticality else ""
            self.sources[f"allergies: {name}"] = f"{e.ref} ({code_text or 'text'}{crit})"
        if out:
            self.sources["allergies"] = f"{len(out)} active AllergyIntolerance"
        return out

    # ------------------------------------------------------------------ medications
    def _medication_concept(self, e: _Entry, m: Any) -> tuple[Any, str]:
        """(CodeableConcept, where it came from) for a statement/request's medication[x]."""
        if m.medicationCodeableConcept is not None:
            return m.medicationCodeableConcept, ""
        ref = m.medicationReference.reference if m.medicationReference is not None else None
        if ref and ref.startswith("#"):
            for c in e.raw.get("contained") or []:
                if isinstance(c, dict) and c.get("resourceType") == "Medication" and c.get("id") == ref[1:]:
                    try:
                        return Medication.model_validate(c).code, f" via contained {ref}"
                    except ValidationError as exc:
                        self.notes.append(f"{e.ref}: contained Medication {ref} is not valid: {_validation_message(exc)}")
                        return None, ""
        target = self.by_ref.get(ref or "")
        if target is not None and target.rtype == "Medication":
            model = self._validate(target)
            return (model.code if model is not None else None), f" via {target.ref}"
        if m.medicationReference is not None and m.medicationReference.display:
            from fhir.resources.R4B.codeableconcept import CodeableConcept

            return CodeableConcept(text=m.medicationReference.display), f" via {ref or 'reference'} (display)"
        return None, ""

    def _medications(self, items: list[tuple[_Entry, Any]]) -> list[str]:
        out: list[str] = []
        keys: dict[str, str] = {}  # generic or normalised text -> entry in ``out``
        for e, m in items:
            kind = e.rtype
            concept, via = self._medication_concept(e, m)
            name = _concept_name(concept)
            label = name or e.ref
            status = m.status
            current = status in CURRENT_STATEMENT if kind == "MedicationStatement" else status == "active"
            if not current:
                if status in ("entered-in-error", "not-taken", "cancelled", "draft", "unknown"):
                    self.notes.append(f"{label!r} ({e.ref}) is {status}: not imported")
                else:
                    self.notes.append(f"{label!r} ({e.ref}) is {status}, not a current medication: not imported")
                continue
            if kind == "MedicationRequest" and m.intent in ("proposal", "option"):
                self.notes.append(f"{label!r} ({e.ref}) is only a {m.intent}: not imported")
                continue
            code_text = _concept_codes(concept)
            if not name:
                self.notes.append(f"{e.ref}: medication without a name ({code_text or 'no code'}): not imported, check the record")
                continue
            generics = drugs.formulary_generics(name)
            dosages = m.dosage if kind == "MedicationStatement" else m.dosageInstruction
            dosing = self._dosing(dosages or [], name, len(generics) == 1)
            if len(generics) == 1:
                text = " ".join(x for x in (generics[0], dosing) if x)
                key = generics[0]
            else:
                text = name + (f", {dosing}" if dosing else "")
                key = name.lower()
                if not generics:
                    self.notes.append(f"medication {name!r} ({code_text or 'text only'}) is not in the formulary: "
                                      "kept as text, not checked for interactions or doses")
            when = _when(getattr(m, "authoredOn", None) or getattr(m, "dateAsserted", None)
                         or getattr(m, "effectiveDateTime", None))
            source = f"{e.ref} ({code_text or 'text'} {name!r}{via}{', ' + str(when.date()) if when else ''})"
            if key in keys:
                prev = keys[key]
                merged = self.sources.pop(f"medications: {prev}")
                if prev == key and text != key:  # the earlier one had no dosing: keep this one's
                    out[out.index(prev)] = keys[key] = prev = text
                self.sources[f"medications: {prev}"] = f"{merged}; also {source}"
                continue
            keys[key] = text
            out.append(text)
            self.sources[f"medications: {text}"] = source
        if out:
            self.sources["medications"] = f"{len(out)} current MedicationStatement/MedicationRequest"
        return out

    @staticmethod
    def _dosing(dosages: Iterable[Any], name: str, single_drug: bool) -> str:
        d = next(iter(dosages), None)
        if d is None:
            return ""
        if d.text and d.text.strip():
            return d.text.strip()
        parts: list[str] = []
        dose = None
        for dr in d.doseAndRate or []:
            if dr.doseQuantity is not None and dr.doseQuantity.value is not None:
                dose = dr.doseQuantity
                break
        if dose is not None:
            unit = drugs.ucum_mass(dose.code) or drugs.ucum_mass(dose.unit)
            value = float(dose.value)
            if unit:
                parts.append(f"{value:g} {unit}")
            else:
                strengths = drugs.strengths(name) if single_drug else []
                if len(strengths) == 1:
                    amount, u = strengths[0]
                    parts.append(f"{amount * value:g} {u}")
                else:
                    parts.append(f"{value:g} {dose.unit or dose.code or 'dose'}".strip())
        elif single_drug:
            strengths = drugs.strengths(name)
            if len(strengths) == 1:
                parts.append(f"{strengths[0][0]:g} {strengths[0][1]}")
        freq = _frequency(d.timing)
        if freq:
            parts.append(freq)
        if d.asNeededBoolean:
            parts.append("as needed")
        return " ".join(parts)


_TIMES = {1: "once", 2: "twice", 3: "three times", 4: "four times"}
_PERIOD = {"h": "hours", "d": "days", "wk": "weeks", "mo": "months", "min": "minutes"}


def _frequency(timing: Any) -> str:
    if timing is None:
        return ""
    r = timing.repeat
    if r is not None and r.frequency and r.period:
        f, p, u = int(r.frequency), float(r.period), r.periodUnit
        if u == "d" and p == 1:
            return f"{_TIMES.get(f, f'{f} times')} daily"
        if u == "h" and f == 1:
            return f"every {p:g} hours"
        if u == "wk" and p == 1:
            return f"{_TIMES.get(f, f'{f} times')} weekly"
        return f"{f} times every {p:g} {_PERIOD.get(u, u or '')}".strip()
    if timing.code is not None:
        return _concept_name(timing.code)
    return ""


__all__: list[str] = ["FhirImport"]
