"""The FHIR import through the service and the CLI: `safemed patient import`, `ask --patient`, the signals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from safemed_desktop.cli import main
from safemed_desktop.records import ImportedPatient, PatientContext, SignalContext
from safemed_desktop.service import SafeMedService

DATA = Path(__file__).parent / "data"
MARIA = DATA / "synthea_maria.json"


@pytest.fixture
def service(safemed_home) -> SafeMedService:
    return SafeMedService()


def test_service_reads_fhir_and_own_json(service, tmp_path):
    imp = service.read_patient_file(MARIA)
    assert isinstance(imp, ImportedPatient) and imp.format == "fhir"
    assert imp.context.egfr == 25.0 and imp.sources["egfr"].startswith("Observation/obs-egfr-2026")
    own = tmp_path / "p.json"
    own.write_text(json.dumps(imp.context.to_dict()))  # the app's own format, unchanged
    again = service.read_patient_file(own)
    assert again == ImportedPatient(imp.context) and again.sources == {} and again.notes == ()


def test_service_uses_the_site_stale_setting(service):
    assert service.config.fhir_stale_days == 90
    strict = SafeMedService(service.config.with_overrides({"fhir_stale_days": 1}))
    stale = [n for n in strict.read_patient_file(MARIA).notes if "eGFR is stale" in n]
    assert len(stale) == 1 and "2026-10-02" in stale[0] and "site limit 1 days" in stale[0]


@pytest.mark.parametrize("content, message", [
    (b"this is not json", "is not valid JSON"),
    (b"[" * 200_000, "nested too deeply"),
    (b'{"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Patient", "id": "a"}},'
     b' {"resource": {"resourceType": "Patient", "id": "b"}}]}', "holds 2 patients"),
    (b'{"resourceType": "Patient", "birthDate": 1950}', "is not valid FHIR: birthDate"),
])
def test_cli_patient_import_bad_files_exit_2_one_line(safemed_home, tmp_path, capsys, content, message):
    f = tmp_path / "bad.json"
    f.write_bytes(content)
    assert main(["patient", "import", str(f)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and message in err and err.startswith("safemed: error:") and len(err.strip().splitlines()) == 1


def test_cli_patient_import_text_and_json(safemed_home, capsys):
    assert main(["patient", "import", str(MARIA)]) == 0
    out = capsys.readouterr().out
    assert "eGFR         25 mL/min/1.73m2  [Observation/obs-egfr-2026 (LOINC 98979-8, 2026-10-02)]" in out
    assert "- warfarin 5 mg once daily  [MedicationRequest/medreq-warfarin" in out
    assert "! 'Amoxicillin 250 MG Oral Capsule' (MedicationRequest/medreq-amoxicillin-stopped) is stopped" in out
    assert main(["patient", "import", "--json", str(MARIA)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["format"] == "fhir" and doc["creatinine"] == {"umol_l": 168.0, "mg_dl": 1.9}
    assert PatientContext.from_dict(doc["patient"]).egfr == 25.0  # "patient" is a valid --patient file
    assert doc["sources"]["weight_kg"] == "Observation/obs-weight-2026 (LOINC 29463-7, 2026-10-02)"
    assert any("mirabegron" in n and "not in the formulary" in n for n in doc["notes"])


def test_cli_patient_import_missing_file(safemed_home, tmp_path, capsys):
    assert main(["patient", "import", str(tmp_path / "nope.json")]) == 2
    assert "patient file not found" in capsys.readouterr().err


# --- the same alert from an imported and a hand-entered context -------------------------------------

ANSWER = "Give ibuprofen 400 mg three times daily for the knee pain."


def _med_signal(service: SafeMedService, patient: PatientContext):
    signals = service.assess_signals(SignalContext(question="Knee pain: what can she take?", answer=ANSWER, patient=patient))
    return next(s for s in signals if s.name == "medication_safety")


def test_imported_egfr_25_warfarin_and_nsaid_alert_like_hand_entered(service):
    imported = service.read_patient_file(MARIA).context
    assert imported.egfr == 25.0 and "warfarin 5 mg once daily" in imported.medications
    by_hand = PatientContext(age=74, sex="female", weight_kg=61.5, egfr=25, allergies=("penicillin",),
                             medications=("warfarin 5 mg daily", "metformin 500 mg twice daily"))
    a, b = _med_signal(service, imported), _med_signal(service, by_hand)
    assert a.level == b.level == "alert"
    checked = lambda s: {(e.rule, e.text) for e in s.evidence if e.rule != "unchecked_medication"}  # noqa: E731
    assert checked(a) == checked(b)
    assert {"interaction_patient", "renal"} <= {e.rule for e in a.evidence}
    assert a.summary.split(" (+")[0] == b.summary.split(" (+")[0]
    # what the imported list holds that the formulary does not know is said, by name
    unchecked = [e.detail for e in a.evidence if e.rule == "unchecked_medication"]
    assert unchecked == ["The patient's medication '24 HR mirabegron 25 MG Extended Release Oral Tablet, 25 mg once daily' "
                         "is not in the formulary: not checked for interactions"]
    assert "not checked (not in the formulary): 24 HR mirabegron" in a.summary
    assert not [e for e in b.evidence if e.rule == "unchecked_medication"]


@pytest.mark.model
def test_ask_accepts_a_fhir_patient_file(safemed_home, capsys, tmp_path):
    f = tmp_path / "everything.json"
    shutil.copy(MARIA, f)
    code = main(["ask", "--json", "--max-tokens", "8", "--temperature", "0", "--patient", str(f),
                 "Can she take ibuprofen?"])
    captured = capsys.readouterr()
    assert code == 0
    rec = json.loads(captured.out)
    assert rec["patient"]["egfr"] == 25.0 and "warfarin 5 mg once daily" in rec["patient"]["medications"]
    assert "[patient file: " in captured.err and "mirabegron" in captured.err


def test_signals_accepts_a_fhir_patient_file(safemed_home, tmp_path, capsys):
    """``safemed signals --patient FHIR``: the imported eGFR 25 and warfarin drive the medication alert."""
    doc = tmp_path / "qa.json"
    doc.write_text(json.dumps({"question": "Knee pain: what can she take?", "answer": ANSWER}), encoding="utf-8")
    assert main(["signals", "--json", "--file", str(doc), "--patient", str(MARIA)]) == 0
    captured = capsys.readouterr()
    med = next(s for s in json.loads(captured.out)["signals"] if s["name"] == "medication_safety")
    assert med["level"] == "alert" and {"interaction_patient", "renal"} <= {e["rule"] for e in med["evidence"]}
    assert "[patient file: " in captured.err and "mirabegron" in captured.err
    # without the patient file the same answer raises no patient-specific finding
    assert main(["signals", "--json", "--file", str(doc)]) == 0
    plain = next(s for s in json.loads(capsys.readouterr().out)["signals"] if s["name"] == "medication_safety")
    assert not {"interaction_patient", "renal"} & {e["rule"] for e in plain["evidence"]}
    # a document with its own patient and --patient as well is refused in one line
    doc.write_text(json.dumps({"question": "q?", "answer": ANSWER, "patient": {"age": 40}}), encoding="utf-8")
    assert main(["signals", "--file", str(doc), "--patient", str(MARIA)]) == 2
    assert "give one of them" in capsys.readouterr().err
