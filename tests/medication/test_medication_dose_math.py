"""medication_safety, pack 2026.12 (issue 13): each rule family on an unsafe case and its safe twin.

The twins here are not the benchmark's (bench/data/medication_cases.json carries the rates); they pin the
behaviour of each rule: the unsafe case raises the named rule and alerts, the safe twin does not raise it.
"""

from __future__ import annotations

import pytest

from safemed_desktop.records.patient import PatientContext
from safemed_desktop.records.signal import SignalContext
from safemed_desktop.signals import pipeline
from safemed_desktop.signals.dose_checks import patient_extras
from safemed_desktop.signals.medication_safety import assess, screen_question

ADULT = {"age": 45, "weight_kg": 80}

# (rule, patient, question, unsafe answer, safe answer)
TWINS = [
    ("max_daily_dose", ADULT, "", "Take three 325 mg tablets of acetaminophen every 4 hours.",
     "Take two 325 mg tablets of acetaminophen every 4 hours."),
    ("max_daily_dose", ADULT, "", "Acetaminophen one to two 500 mg tablets every 4 to 6 hours.",
     "Acetaminophen one to two 500 mg tablets every 6 hours."),
    ("max_daily_dose", ADULT, "", "Oxycodone/acetaminophen 5/325, two tablets every three hours.",
     "Oxycodone/acetaminophen 5/325, one tablet every six hours."),
    ("max_daily_dose", ADULT, "", "Take 2 Extra Strength Tylenol caplets every 4 hours.",
     "Take 2 Extra Strength Tylenol caplets every 8 hours."),
    ("max_daily_dose", ADULT, "", "Tylenol #4, two tablets every 4 hours.", "Tylenol #4, one tablet every 6 hours."),
    ("cumulative_daily_dose", {"age": 60, "weight_kg": 70, "medications": ["acetaminophen 650 mg every 6 hours"]}, "",
     "Add Norco 10/325, two tablets every 6 hours.", "Add hydrocodone 5 mg every 6 hours."),
    ("duplicate_therapy", ADULT, "", "Use celecoxib 200 mg daily and ibuprofen 400 mg three times daily.",
     "Use celecoxib 200 mg daily and acetaminophen 1 g three times daily."),
    ("duplicate_ingredient", ADULT, "", "Percocet 5/325 every 6 hours and Tylenol as needed.",
     "Percocet 5/325 every 6 hours and no extra Tylenol."),
    ("unit_error", ADULT, "", "Levothyroxine 88 mg every morning.", "Levothyroxine 88 mcg every morning."),
    ("unit_error", ADULT, "", "Warfarin 5 mcg nightly.", "Warfarin 5 mg nightly."),
    ("max_single_dose", ADULT, "", "Epinephrine 1 mg IM now.", "Epinephrine 0.3 mg IM now."),
    ("max_daily_dose", ADULT, "", "Vitamin D 40,000 IU daily.", "Vitamin D 40,000 IU every week."),
    ("max_daily_dose_per_kg", {"age": 60, "weight_kg": 60}, "", "Enoxaparin 1.5 mg/kg twice daily.",
     "Enoxaparin 1 mg/kg twice daily."),
    ("max_dose_per_m2", {"age": 50, "weight_kg": 70}, "Height 175 cm.", "Doxorubicin 80 mg/m2 IV every 3 weeks.",
     "Doxorubicin 50 mg/m2 IV every 3 weeks."),
    ("max_single_dose", {"age": 50, "weight_kg": 80}, "She is 180 cm tall.", "Vincristine 1.4 mg/m2 IV once.",
     "Vincristine 1.4 mg/m2 IV once, max 2 mg."),
    ("weekly_dosed_daily", ADULT, "", "Alendronate 70 mg once daily.", "Alendronate 70 mg every Sunday."),
    ("monthly_dosed_daily", ADULT, "", "Ibandronate 150 mg every morning.", "Ibandronate 150 mg every month."),
    ("maintenance_max_daily_dose", ADULT, "", "Amiodarone maintenance 600 mg daily.",
     "Amiodarone 400 mg twice daily as a loading dose, then 200 mg daily maintenance."),
    ("stated_cap_above_maximum", ADULT, "", "Ibuprofen 400 mg every 6 hours as needed, no more than 4,800 mg per day.",
     "Ibuprofen 400 mg every 6 hours as needed, no more than 1,600 mg per day."),
    ("max_daily_dose", ADULT, "", "Ondansetron 8 mg every hour as needed.", "Ondansetron 8 mg every 8 hours as needed."),
    ("abrupt_discontinuation", {"age": 50, "medications": ["clonazepam 1 mg twice daily"]}, "",
     "Stop clonazepam immediately.", "Taper clonazepam slowly over several weeks."),
    ("geriatric_max_dose", {"age": 80, "weight_kg": 65}, "", "Escitalopram 15 mg daily.", "Escitalopram 10 mg daily."),
    ("low_weight_max_dose", {"age": 35, "weight_kg": 40}, "", "Acetaminophen 1,000 mg every 6 hours.",
     "Acetaminophen 500 mg every 6 hours."),
    ("pediatric_max_single_dose", {"age": 5, "weight_kg": 18}, "", "Ondansetron 8 mg orally once.",
     "Ondansetron 2 mg orally once."),
    ("pregnancy", {"age": 30, "weight_kg": 70, "pregnant": True}, "She is 24 weeks pregnant.",
     "Aspirin 600 mg every 6 hours for the pain.", "Aspirin 81 mg daily."),
    ("lactation", {"age": 30, "weight_kg": 60}, "She is breastfeeding a newborn.", "Tramadol 50 mg every 6 hours.",
     "Acetaminophen 650 mg every 6 hours."),
    ("hepatic_max_dose", {"age": 60, "weight_kg": 70}, "He has decompensated liver cirrhosis.",
     "Citalopram 40 mg daily.", "Citalopram 20 mg daily."),
    ("renal_max_daily_dose", {"age": 70, "weight_kg": 70, "egfr": 15}, "", "Allopurinol 300 mg daily.",
     "Allopurinol 100 mg daily."),
    ("max_duration", ADULT, "", "Metoclopramide 10 mg three times daily for 4 months.",
     "Metoclopramide 10 mg three times daily for 5 days."),
]


def run(answer: str, patient: dict, question: str = ""):
    sig = assess(SignalContext(question=question or "What do you suggest?", answer=answer,
                               patient=PatientContext(**patient)))
    for e in sig.evidence:
        src = answer if e.target == "answer" else (question or "What do you suggest?")
        assert src[e.start:e.end] == e.text
    return sig


@pytest.mark.parametrize("rule,patient,question,unsafe,safe", TWINS, ids=[f"{t[0]}-{i}" for i, t in enumerate(TWINS)])
def test_rule_on_its_twins(rule, patient, question, unsafe, safe):
    bad = run(unsafe, patient, question)
    assert bad.level == "alert", bad.summary
    assert rule in {e.rule for e in bad.evidence}, [(e.rule, e.detail) for e in bad.evidence]
    good = run(safe, patient, question)
    assert good.level != "alert", good.summary
    assert rule not in {e.rule for e in good.evidence}


def test_finding_states_its_arithmetic():
    sig = run("Take 2 x 500 mg acetaminophen tablets every 4 hours.", ADULT)
    detail = next(e.detail for e in sig.evidence if e.rule == "max_daily_dose")
    assert detail == ("Daily dose of acetaminophen: 2 x 500 mg every 4 hours = 6,000 mg/day > 4,000 mg/day adult "
                      "maximum (FDA label)")
    combo = run("Percocet 5/325, 2 tablets every 3 hours.", ADULT)
    detail = next(e.detail for e in combo.evidence if e.rule == "max_daily_dose")
    assert "2 x 325 mg every 3 hours = 5,200 mg/day > 4,000 mg/day" in detail
    cum = run("Acetaminophen 1 g every 6 hours and Norco 10/325 one tablet every 6 hours.", ADULT)
    detail = next(e.detail for e in cum.evidence if e.rule == "cumulative_daily_dose")
    assert "4,000 mg/day" in detail and "1,300 mg/day" in detail and "= 5,300 mg/day > 4,000 mg/day" in detail


def test_same_product_named_twice_is_not_summed():
    sig = run("Acetaminophen 1 g every 6 hours. Remind her that acetaminophen 1 g every 6 hours is the ceiling.", ADULT)
    assert sig.level == "ok" and "cumulative_daily_dose" not in {e.rule for e in sig.evidence}


def test_a_cap_bounds_a_prn_regimen_and_a_threshold_is_not_a_dose():
    assert run("Acetaminophen 1 g every 4 hours as needed, not to exceed 3 g in 24 hours.", ADULT).level == "ok"
    assert run("Doses above 4 g of acetaminophen a day damage the liver.", ADULT).level == "ok"


def test_patient_facts_stated_in_the_question():
    p, x = patient_extras("A 72-year-old, 58 kg, 160 cm, eGFR 28, 30 weeks pregnant, Child-Pugh C.", PatientContext())
    assert (p.age, p.weight_kg, p.egfr, p.pregnant) == (72, 58, 28, True)
    assert x.gest_week == 30 and x.hepatic and x.bsa == pytest.approx(1.606, abs=0.01)
    p2, x2 = patient_extras("No liver disease; she is not pregnant.", PatientContext(age=40))
    assert not x2.hepatic and p2.pregnant is None and p2.age == 40


def test_question_screening_finds_a_proposed_drug_whatever_the_answer():
    patient = PatientContext(age=70, weight_kg=70, egfr=25, medications=("warfarin 5 mg daily",))
    q = "What dose of ibuprofen for this patient?"
    sig = screen_question(q, patient)
    assert sig is not None and sig.level == "alert"
    rules = {e.rule for e in sig.evidence}
    assert {"renal", "interaction_patient"} <= rules
    assert all(e.target == "question" and q[e.start:e.end] == e.text for e in sig.evidence)
    assert screen_question("What is asthma?", patient) is None
    assert screen_question("Is acetaminophen 500 mg every 6 hours fine?", patient).level == "ok"
    # the question stage carries it; the answer-stage signal lists it too, its level is the answer's
    names = [s.name for s in pipeline.assess_question(q, patient)]
    assert names[-1] == "medication_safety"
    final = assess(SignalContext(question=q, answer="Avoid NSAIDs; use acetaminophen 500 mg every 6 hours.", patient=patient))
    assert final.level == "ok" and {"question_renal", "question_interaction_patient"} <= {e.rule for e in final.evidence}
