"""The patient's kidney function is shown as the eGFR it was entered as, never relabelled as a CrCl; the rule's own
threshold keeps its basis (issue 11: "eGFR relabelled CrCl")."""

import re

from safemed_desktop.records import PatientContext, SignalContext
from safemed_desktop.signals.pipeline import assess_one

PATIENT = PatientContext(age=78, egfr=25, medications=("warfarin",))


def _texts(question: str, answer: str) -> str:
    s = assess_one("medication_safety", SignalContext(question=question, answer=answer, patient=PATIENT))
    return s.summary + "\n" + "\n".join(e.detail for e in s.evidence)


def test_an_nsaid_rule_on_crcl_shows_the_patients_egfr_as_egfr():
    text = _texts("Pain relief for this patient?", "Give ibuprofen 400 mg three times daily.")
    assert "eGFR 25" in text and "CrCl < 30" in text
    assert not re.search(r"CrCl\s+25\b", text)


def test_a_safe_twin_has_no_renal_finding():
    text = _texts("Pain relief for this patient?", "Give paracetamol 500 mg every 6 hours, at most 3 g a day.")
    assert "NSAID" not in text and "CrCl < 30" not in text
