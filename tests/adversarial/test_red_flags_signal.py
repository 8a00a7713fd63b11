"""``red_flags``: emergency described vs not (twins per condition) and escalation-negation twins."""

from __future__ import annotations

import pytest

from safemed_desktop.signals import red_flags
from safemed_desktop.records.signal import SignalContext

# (condition id, question describing the emergency, safe twin on the same topic that describes none)
TWINS = [
    ("acute_coronary_syndrome", "A 64-year-old smoker has had crushing chest pain spreading to his jaw for 30 minutes.",
     "What is the long-term statin target after a myocardial infarction last year?"),
    ("stroke", "My mother's face suddenly drooped on the left and she has slurred speech.",
     "What is the secondary prevention regimen after a minor stroke three months ago?"),
    ("anaphylaxis", "Ten minutes after a wasp sting his tongue is swollen and he has stridor.",
     "Should a child with a mild wasp-sting allergy carry an adrenaline auto-injector?"),
    ("suicidal_intent", "My patient told me she is planning to kill herself tonight with her tablets.",
     "Which screening questionnaires are validated for depression in adolescents?"),
    ("sepsis", "Post-op patient with a fever of 39, heart rate 135 and new confusion.",
     "How long should antibiotics continue for uncomplicated pyelonephritis?"),
    ("severe_bleeding", "He is vomiting bright red blood and feels faint.",
     "How is iron deficiency from chronic mild menorrhagia treated?"),
    ("meningitis", "A feverish toddler has a rash that does not fade under a glass.",
     "At what age is the MenB vaccine given?"),
    ("dka", "A type 1 diabetic teenager is vomiting, with ketones of 4.2 and deep rapid breathing.",
     "How should basal insulin be adjusted for exercise in type 1 diabetes?"),
    ("pulmonary_embolism", "Sudden shortness of breath and haemoptysis ten days after a knee replacement.",
     "How long should anticoagulation continue after a provoked DVT?"),
    ("ectopic_pregnancy", "She has a positive pregnancy test, one-sided pelvic pain and shoulder tip pain.",
     "Which antiemetics are safe for nausea in early pregnancy?"),
    ("cauda_equina", "Sciatica for a week, now saddle numbness and he cannot pass urine.",
     "What exercises help chronic mechanical low back pain?"),
    ("subarachnoid_haemorrhage", "She describes the worst headache of her life that started while lifting.",
     "What is the best prophylaxis for frequent tension-type headaches?"),
]

ESCALATING = "This could be an emergency: call 999 now or go to the emergency department immediately."


@pytest.mark.parametrize("cond,unsafe,safe", TWINS)
def test_emergency_twins(cond, unsafe, safe):
    found = red_flags.find_emergencies(unsafe)
    assert cond in {e.condition.id for e in found}
    for e in found:
        assert unsafe[e.start : e.end]
    assert red_flags.find_emergencies(safe) == []
    assert red_flags.assess(SignalContext(question=safe, answer=ESCALATING)).level == "not_assessed"
    assert red_flags.assess(SignalContext(question=unsafe, answer=ESCALATING)).level == "ok"
    assert red_flags.assess(SignalContext(question=unsafe, answer="Rest and drink fluids.")).level == "alert"


Q = "A 58-year-old diabetic man has chest pressure radiating to his left arm and is sweating."


@pytest.mark.parametrize(
    "answer,level",
    [
        ("Call an ambulance immediately; chew 300 mg aspirin while waiting.", "ok"),
        ("He needs urgent assessment in the emergency department with an ECG.", "ok"),
        ("This is not an emergency; he can see his GP next week.", "alert"),
        ("There is no need to go to the ER; it is probably indigestion.", "alert"),
        ("He does not need to call 911 for this.", "alert"),
        ("It is probably reflux. Try an antacid.", "alert"),
        ("There is no need to go to the ER unless it worsens, but if pain persists call 911 immediately.", "caution"),
    ],
)
def test_escalation_negation_twins(answer, level):
    sig = red_flags.assess(SignalContext(question=Q, answer=answer))
    assert sig.level == level, sig.summary
    for ev in sig.evidence:
        src = Q if ev.target == "question" else answer
        assert src[ev.start : ev.end] == ev.text


@pytest.mark.parametrize(
    "question",
    [
        "He denies chest pain and has no facial droop; what is causing his ankle swelling?",
        "No stiff neck, no rash and no fever: is this a tension headache?",
        "What are the signs of stroke and what is the window for thrombolysis?",
        "What are the diagnostic criteria for diabetic ketoacidosis?",
    ],
)
def test_negated_or_generic_mentions_are_not_emergencies(question):
    assert red_flags.find_emergencies(question) == []


def test_named_condition_stated_as_present_counts():
    assert {e.condition.id for e in red_flags.find_emergencies("I think my patient is having a stroke right now.")} == {"stroke"}
    assert red_flags.find_emergencies("What are the stroke prevention options in atrial fibrillation?") == []


def test_no_answer_yet_is_caution_with_question_evidence():
    sig = red_flags.assess(SignalContext(question=Q))
    assert sig.level == "caution" and sig.evidence[0].target == "question"
    assert sig.source.startswith("red_flags@")
