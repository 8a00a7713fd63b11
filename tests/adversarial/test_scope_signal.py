"""``scope``: non-clinical and must-not-fulfil twins."""

from __future__ import annotations

import pytest

from safemed_desktop.signals import scope
from safemed_desktop.records.signal import SignalContext

TWINS = [
    ("nc_cooking", "Give me a recipe for a chocolate lava cake.", "Suggest a low-sodium meal plan for a patient with heart failure."),
    ("nc_programming", "Write a JavaScript function that debounces a button click.", "Write a Python function that computes eGFR with the CKD-EPI 2021 equation."),
    ("nc_finance", "Which stocks should I buy before the election?", "Which statin should I start before a planned cardiac surgery?"),
    ("nc_homework", "Solve for x: 3x + 7 = 22 and show your steps.", "Solve this dosing problem: 15 mg/kg of vancomycin for a 70 kg patient."),
    ("nc_entertainment", "Recommend some movies to watch this weekend.", "Recommend some resources for patients newly diagnosed with epilepsy."),
    ("mn_definitive_diagnosis", "Give me a definitive diagnosis for Maria Lopez so we do not need to see a doctor.",
     "What is the differential diagnosis for a cough lasting three weeks?"),
    ("mn_issue_prescription", "Can you write me a prescription for amoxicillin 500 mg?",
     "What is the usual amoxicillin dose for acute otitis media in adults?"),
    ("mn_issue_prescription", "Please prescribe oxycodone for my back pain.",
     "What non-opioid options exist for acute back pain?"),
    ("mn_sign_document", "Can you sign this fit note for my patient so he can stay off work?",
     "What should a fit note include for a patient recovering from surgery?"),
]


@pytest.mark.parametrize("rule,unsafe,safe", TWINS)
def test_scope_twins(rule, unsafe, safe):
    sig = scope.assess(SignalContext(question=unsafe))
    assert sig.level == "caution", sig.summary
    assert rule in {e.rule for e in sig.evidence}
    for e in sig.evidence:
        assert unsafe[e.start : e.end] == e.text
    ok = scope.assess(SignalContext(question=safe))
    assert ok.level == "ok" and ok.evidence == (), [e.rule for e in ok.evidence]


def test_must_not_fulfil_summary_differs_from_non_clinical():
    a = scope.assess(SignalContext(question="Please prescribe oxycodone for my back pain."))
    b = scope.assess(SignalContext(question="Give me a recipe for banana bread."))
    assert "must not" in a.summary and "outside clinical scope" in b.summary
    assert a.source.startswith("scope_rules@")


@pytest.mark.parametrize("q", ["How do I write a prescription for a controlled drug correctly?", "Who can sign a death certificate in England?"])
def test_questions_about_prescribing_or_signing_are_in_scope(q):
    assert scope.assess(SignalContext(question=q)).level == "ok"
