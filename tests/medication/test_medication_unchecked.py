"""medication_safety names the patient's medications it could not check (not in the formulary); twins."""

from __future__ import annotations

from safemed_desktop.records.patient import PatientContext
from safemed_desktop.records.signal import SignalContext
from safemed_desktop.signals.medication_safety import assess


def run(answer: str, meds: tuple[str, ...], **patient):
    sig = assess(SignalContext(question="What should the patient take?", answer=answer,
                               patient=PatientContext(medications=meds, **patient)))
    for e in sig.evidence:
        assert e.target == "answer" and answer[e.start:e.end] == e.text and e.rule and e.detail
    return sig


def unchecked(sig) -> list[str]:
    return [e.detail for e in sig.evidence if e.rule == "unchecked_medication"]


def test_unknown_patient_medication_is_named_and_the_level_kept():
    bad = run("Take acetaminophen 500 mg every 6 hours.", ("warfarin 5 mg daily", "mirabegron 25 mg daily"))
    assert bad.level == "ok" and bad.score == 1.0
    assert unchecked(bad) == ["The patient's medication 'mirabegron 25 mg daily' is not in the formulary: not checked for interactions"]
    assert bad.summary.endswith("; not checked (not in the formulary): mirabegron 25 mg daily")
    twin = run("Take acetaminophen 500 mg every 6 hours.", ("warfarin 5 mg daily",))
    assert twin.level == "ok" and unchecked(twin) == [] and "not checked" not in twin.summary


def test_unchecked_medication_beside_an_alert():
    bad = run("Give ibuprofen 400 mg three times daily.", ("warfarin 5 mg daily", "Folic acid 0.4 mg"), egfr=25)
    twin = run("Give ibuprofen 400 mg three times daily.", ("warfarin 5 mg daily",), egfr=25)
    assert bad.level == twin.level == "alert" and bad.score == twin.score
    assert [e for e in bad.evidence if e.rule != "unchecked_medication"] == list(twin.evidence)
    assert unchecked(bad) == ["The patient's medication 'Folic acid 0.4 mg' is not in the formulary: not checked for interactions"]
    assert bad.summary == twin.summary + "; not checked (not in the formulary): Folic acid 0.4 mg"


def test_no_drug_in_the_answer_stays_not_assessed():
    sig = run("Rest and fluids.", ("mirabegron 25 mg daily",))
    assert sig.level == "not_assessed" and sig.evidence == ()
