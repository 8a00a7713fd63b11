"""FHIR R4 import: hand-written Synthea-style and $everything-style exports, checked field by field."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path

import pytest

from safemed_desktop import fhir
from safemed_desktop.errors import InputError
from safemed_desktop.fhir import import_fhir, looks_like_fhir
from safemed_desktop.records import ImportedPatient, PatientContext

DATA = Path(__file__).parent / "data"
TODAY = date(2026, 11, 1)
MARIA = "Patient/6f1c2a54-6d0e-4a4b-9d35-0d3f3b1f2a01"
MARIA_REF = "urn:uuid:6f1c2a54-6d0e-4a4b-9d35-0d3f3b1f2a01"


def load(name: str) -> dict:
    return json.loads((DATA / name).read_text())


def run(data, **kw) -> ImportedPatient:
    return import_fhir(data, origin="test file", today=kw.pop("today", TODAY), **kw)


def note_with(imp: ImportedPatient, *words: str) -> str:
    hits = [n for n in imp.notes if all(w in n for w in words)]
    assert hits, f"no note with {words}: {imp.notes}"
    return hits[0]


def obs(oid: str, loinc: str, value, unit: str, when: str, *, code: str | None = None, status: str = "final",
        subject: str = MARIA_REF) -> dict:
    q = {"value": value, "unit": unit, "system": "http://unitsofmeasure.org"}
    if code is not None:
        q["code"] = code
    return {"fullUrl": f"urn:uuid:{oid}", "resource": {
        "resourceType": "Observation", "id": oid, "status": status,
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "subject": {"reference": subject}, "effectiveDateTime": when, "valueQuantity": q}}


# --- the Synthea-style Bundle, field by field --------------------------------------------------------

def test_synthea_bundle_context_field_by_field():
    imp = run(load("synthea_maria.json"))
    p = imp.context
    assert imp.format == "fhir"
    assert p.age == 74.0  # born 1952-03-14, on 2026-11-01
    assert p.sex == "female"
    assert p.weight_kg == 61.5  # the 2026 weight, not the 150 lb of 2024
    assert p.egfr == 25.0  # the final 2026 eGFR, not the later preliminary 61 nor the 2024 48.2
    assert p.pregnant is None  # the only pregnancy Condition is resolved (1988)
    assert imp.creatinine_umol_l == pytest.approx(1.9 * 88.42, abs=0.1) and imp.creatinine_mg_dl == 1.9
    assert p.allergies == ("Penicillin V", "iodinated contrast media")  # entered-in-error aspirin, resolved shellfish out
    assert p.medications == (
        "warfarin 5 mg once daily",  # request (dose 1 tablet x 5 MG) merged with the statement
        "metformin 500 mg twice daily",
        "hydrochlorothiazide 25 mg once daily",  # via a Medication resource
        "24 HR mirabegron 25 MG Extended Release Oral Tablet, 25 mg once daily",  # not in the formulary: as text
        "acetaminophen 650 mg every 6 hours as needed",
    )


def test_synthea_bundle_sources():
    s = run(load("synthea_maria.json")).sources
    assert s["age"] == f"{MARIA} (birthDate 1952-03-14)"
    assert s["sex"] == f"{MARIA} (gender)"
    assert s["weight_kg"] == "Observation/obs-weight-2026 (LOINC 29463-7, 2026-10-02)"
    assert s["egfr"] == "Observation/obs-egfr-2026 (LOINC 98979-8, 2026-10-02)"
    assert s["creatinine"] == "Observation/obs-creat-2026 (LOINC 2160-0, 2026-10-02)"
    assert s["allergies: Penicillin V"] == "AllergyIntolerance/allergy-pen (RxNorm 7984, criticality high)"
    warfarin = s["medications: warfarin 5 mg once daily"]
    assert warfarin.startswith("MedicationRequest/medreq-warfarin (RxNorm 855332 'Warfarin Sodium 5 MG Oral Tablet'")
    assert "also MedicationStatement/medstmt-warfarin" in warfarin
    assert "via Medication/med-hctz" in s["medications: hydrochlorothiazide 25 mg once daily"]
    assert "pregnant" not in s


def test_synthea_bundle_lists_what_it_did_not_use():
    imp = run(load("synthea_maria.json"))
    note_with(imp, "Observation/obs-egfr-prelim", "preliminary", "not used")
    note_with(imp, "'Aspirin'", "entered-in-error", "not imported")
    note_with(imp, "'Shellfish'", "resolved", "not imported")
    note_with(imp, "iodinated contrast media", "matches no allergy class")
    note_with(imp, "Amoxicillin 250 MG", "stopped", "not imported")
    note_with(imp, "lisinopril 10 MG", "completed", "not imported")
    note_with(imp, "Ibuprofen 200 MG", "entered-in-error")
    note_with(imp, "mirabegron", "RxNorm 1300786", "not in the formulary")
    note_with(imp, "11 of 33 resources not used", "Encounter 3", "Observation 3", "Claim 1")
    assert not [n for n in imp.notes if "stale" in n]  # 2026-10-02 is 30 days before TODAY


def test_everything_searchset_units_pregnancy_and_contained_medication():
    imp = run(load("everything_pregnant.json"))
    p = imp.context
    assert (p.age, p.sex) == (32.0, "female")
    assert p.weight_kg == pytest.approx(152 * 0.45359237, abs=0.05)  # amended 152 lb; entered-in-error 15.2 kg ignored
    assert imp.sources["weight_kg"] == "Observation/wt-2 (LOINC 3141-9, from 152 lb, 2026-10-20)"
    assert p.egfr == 90.0  # 1.5 mL/s/1.73m2 x 60
    assert imp.creatinine_umol_l == 62.0 and imp.creatinine_mg_dl == 0.7
    assert p.pregnant is True and imp.sources["pregnant"].startswith("Observation/preg-test (LOINC 82810-3, pregnant")
    assert p.allergies == ("penicillin", "Sulfa drugs")  # SNOMED 91936005 with no display -> its name
    assert p.medications == ("amlodipine 5 mg once daily", "Folic Acid 0.4 MG Oral Tablet, one tablet daily")
    assert "via contained #m1" in imp.sources["medications: Folic Acid 0.4 MG Oral Tablet, one tablet daily"]
    note_with(imp, "eGFR is stale", "2026-05-12", "173 days", "site limit 90 days")
    note_with(imp, "creatinine is stale")
    note_with(imp, "Ibuprofen", "proposal")
    note_with(imp, "Folic Acid", "not in the formulary")
    note_with(imp, "wt-3-error", "entered-in-error")


def test_stale_limit_is_the_site_setting():
    data = load("everything_pregnant.json")
    assert not [n for n in run(data, stale_days=365).notes if "stale" in n]
    assert [n for n in run(data, stale_days=30).notes if "weight is stale" in n] == []  # 12 days old
    assert [n for n in run(data, stale_days=10).notes if "weight is stale" in n]


def test_single_patient_and_list_of_resources():
    bundle = load("everything_pregnant.json")
    patient = bundle["entry"][0]["resource"]
    alone = run(patient)
    assert alone.context == PatientContext(age=32.0, sex="female")
    listed = run([e["resource"] for e in bundle["entry"]])
    assert listed.context == run(bundle).context
    assert looks_like_fhir(patient) and looks_like_fhir([patient]) and not looks_like_fhir({"age": 3})


# --- units, codes, dates ----------------------------------------------------------------------------

def _with(entries: list[dict]) -> dict:
    b = load("synthea_maria.json")
    b["entry"] = [b["entry"][0], *entries]
    return b


def test_unknown_unit_is_listed_and_the_previous_value_used():
    imp = run(_with([obs("w1", "29463-7", 60, "kg", "2026-09-01", code="kg"),
                     obs("w2", "29463-7", 9.5, "stone", "2026-10-01", code="[stone_av]")]))
    assert imp.context.weight_kg == 60.0
    note_with(imp, "weight Observation/w2", "unknown unit '[stone_av]'")


def test_creatinine_umol_and_mg_dl_agree():
    a = run(_with([obs("c1", "2160-0", 1.2, "mg/dL", "2026-10-01", code="mg/dL")]))
    b = run(_with([obs("c1", "14682-9", 106.1, "umol/L", "2026-10-01", code="umol/L")]))
    assert a.creatinine_umol_l == pytest.approx(106.1, abs=0.05)
    assert b.creatinine_mg_dl == 1.2


def test_egfr_comparator_and_implausible_values_are_noted():
    imp = run(_with([obs("e1", "33914-3", 400, "mL/min/{1.73_m2}", "2026-10-01", code="mL/min/{1.73_m2}")]))
    assert imp.context.egfr is None
    note_with(imp, "eGFR Observation/e1", "implausible")
    e = obs("e2", "33914-3", 60, "mL/min/{1.73_m2}", "2026-10-01", code="mL/min/{1.73_m2}")
    e["resource"]["valueQuantity"]["comparator"] = ">"
    imp = run(_with([e]))
    assert imp.context.egfr == 60.0
    note_with(imp, "reported as >60")


def test_contradictory_weights_leave_weight_unset_with_a_note():
    imp = run(_with([obs("w1", "29463-7", 62, "kg", "2026-10-02T09:00:00Z", code="kg"),
                     obs("w2", "29463-7", 136, "kg", "2026-10-02T15:00:00Z", code="kg")]))
    assert imp.context.weight_kg is None and "weight_kg" not in imp.sources
    note_with(imp, "contradictory weight on 2026-10-02", "62 kg (Observation/w1)", "136 kg (Observation/w2)", "enter it by hand")
    same = run(_with([obs("w1", "29463-7", 62, "kg", "2026-10-02T09:00:00Z", code="kg"),
                      obs("w2", "29463-7", 62.4, "kg", "2026-10-02T15:00:00Z", code="kg")]))
    assert same.context.weight_kg == 62.4 and not [n for n in same.notes if "contradictory" in n]


def test_two_egfrs_on_one_day_use_the_lowest():
    imp = run(_with([obs("e1", "48642-3", 41, "mL/min/{1.73_m2}", "2026-10-02", code="mL/min/{1.73_m2}"),
                     obs("e2", "48643-1", 49, "mL/min/{1.73_m2}", "2026-10-02", code="mL/min/{1.73_m2}")]))
    assert imp.context.egfr == 41.0
    note_with(imp, "several eGFR values on 2026-10-02", "the lowest (41) used")


def test_future_and_other_patients_observations_are_not_used():
    imp = run(_with([obs("e1", "33914-3", 30, "mL/min/{1.73_m2}", "2027-05-01", code="mL/min/{1.73_m2}"),
                     obs("e2", "33914-3", 80, "mL/min/{1.73_m2}", "2026-10-01", code="mL/min/{1.73_m2}",
                         subject="Patient/someone-else")]))
    assert imp.context.egfr is None
    note_with(imp, "Observation/e1", "in the future")
    note_with(imp, "Observation/e2", "Patient/someone-else", "not this patient")


def test_pregnancy_from_an_active_condition_and_a_later_negative_test():
    cond = {"fullUrl": "urn:uuid:c1", "resource": {
        "resourceType": "Condition", "id": "c1",
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "Z34.01"}], "text": "Supervision of normal first pregnancy"},
        "subject": {"reference": MARIA_REF}, "onsetDateTime": "2026-08-01"}}
    imp = run(_with([cond]))
    assert imp.context.pregnant is True and imp.sources["pregnant"].startswith("Condition/c1 (Supervision of normal first pregnancy, ICD-10-CM Z34.01")
    test = {"fullUrl": "urn:uuid:t1", "resource": {
        "resourceType": "Observation", "id": "t1", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2106-3"}]},
        "subject": {"reference": MARIA_REF}, "effectiveDateTime": "2026-10-15",
        "valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "260385009", "display": "Negative"}]}}}
    later = run(_with([cond, test]))
    assert later.context.pregnant is False and later.sources["pregnant"].startswith("Observation/t1")
    err = copy.deepcopy(cond)
    err["resource"]["verificationStatus"] = {"coding": [{"code": "entered-in-error"}]}
    imp = run(_with([err]))
    assert imp.context.pregnant is None
    note_with(imp, "Condition/c1", "entered-in-error")


def test_infant_age_in_months_and_partial_birth_date():
    b = _with([])
    b["entry"][0]["resource"]["birthDate"] = "2026-02-15"
    assert run(b).context.age == 0.67  # 8 months
    b["entry"][0]["resource"]["birthDate"] = "1960"
    imp = run(b)
    assert imp.context.age == 66.0 and "partial birth date 1960" in imp.sources["age"]


# --- bad input --------------------------------------------------------------------------------------

def test_two_patients_in_one_bundle_is_refused():
    b = load("synthea_maria.json")
    other = copy.deepcopy(b["entry"][0])
    other["fullUrl"] = "urn:uuid:other"
    other["resource"]["id"] = "other"
    b["entry"].append(other)
    with pytest.raises(InputError, match=r"holds 2 patients \(Patient/6f1c2a54.*, Patient/other\); export one patient"):
        run(b)


def test_no_patient_is_refused():
    b = load("synthea_maria.json")
    b["entry"] = b["entry"][1:]
    with pytest.raises(InputError, match="no Patient resource"):
        run(b)


def test_invalid_patient_is_refused_invalid_observation_listed():
    b = load("synthea_maria.json")
    b["entry"][0]["resource"]["gender"] = ["female"]
    with pytest.raises(InputError, match=r"Patient/6f1c.* is not valid FHIR: gender"):
        run(b)
    b = load("synthea_maria.json")
    weight = next(e for e in b["entry"] if e["resource"]["id"] == "obs-weight-2026")
    weight["resource"]["valueQuantity"]["value"] = "heavy"
    weight["resource"]["bogusField"] = 1
    imp = run(b)
    assert imp.context.weight_kg == pytest.approx(68.0, abs=0.1)  # falls back to 2024 (150 lb)
    msg = note_with(imp, "Observation/obs-weight-2026 is not valid FHIR R4, not used")
    assert "\n" not in msg
    note_with(imp, "weight is stale", "2024-05-10")


@pytest.mark.parametrize("doc, message", [
    ({"resourceType": 7}, '"resourceType" must be text'),
    ({"resourceType": "Bundle", "entry": {}}, 'Bundle "entry" must be a list'),
    ({"resourceType": "Bundle", "entry": [{"resource": {"id": "x"}}]}, 'resource 0 has no "resourceType"'),
    ({"resourceType": "Observation", "status": "final"}, "a Observation resource is not a patient record"),
])
def test_malformed_fhir_is_one_line_error(doc, message):
    with pytest.raises(InputError, match=message) as exc:
        run(doc)
    assert "\n" not in str(exc.value)


def test_bundle_over_the_limit_is_refused(monkeypatch):
    monkeypatch.setattr(fhir, "MAX_RESOURCES", 20)
    monkeypatch.setattr("safemed_desktop.fhir.importer.MAX_RESOURCES", 20)
    b = load("synthea_maria.json")
    with pytest.raises(InputError, match="holds 33 entries, more than the 20"):
        run(b)


def test_ten_thousand_resource_bundle_imports_with_a_summary_note():
    from bench.bench_fhir import big_bundle

    imp = run(big_bundle(10_000))
    assert imp.context.egfr == 25.0 and imp.context.weight_kg == 61.5
    assert "warfarin 5 mg once daily" in imp.context.medications
    note = note_with(imp, "of 10,000 resources not used for the patient context", "Claim", "Procedure")
    assert int(note.split(" of ")[0].replace(",", "")) > 6000  # validated: only the weights, eGFRs, creatinines, ...
