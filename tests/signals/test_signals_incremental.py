"""Incremental answer rules (``signals.incremental``): sentence by sentence equals one full run."""

from __future__ import annotations

import random

import pytest

from safemed_desktop.records.patient import PatientContext
from safemed_desktop.records.signal import SignalContext
from safemed_desktop.signals.incremental import IncrementalRules, sentence_cuts
from safemed_desktop.signals.pipeline import assess_one

PATIENT = PatientContext(
    age=78, sex="female", weight_kg=61, egfr=38, allergies=("penicillin", "sulfonamides"),
    medications=("warfarin 5 mg daily", "metformin 1000 mg twice daily", "lisinopril 20 mg daily",
                 "amlodipine 5 mg daily", "atorvastatin 40 mg nightly", "sertraline 50 mg daily",
                 "omeprazole 20 mg daily", "furosemide 40 mg daily", "levothyroxine 75 mcg daily",
                 "tramadol 50 mg as needed", "unobtainium 3 mg daily"),
)
CYSTITIS = ("A 78-year-old woman with eGFR 38 has uncomplicated cystitis. Which antibiotic should be used, and do any "
            "of her medicines need changes?")
CASES = [
    (CYSTITIS, PATIENT,
     "For acute uncomplicated cystitis, nitrofurantoin 100 mg twice daily for 5 days is reasonable. Fosfomycin 3 g as "
     "a single oral dose is an alternative. Avoid trimethoprim-sulfamethoxazole because of the sulfonamide allergy. "
     "Ciprofloxacin is not recommended as first-line and also interacts with warfarin.\n\nMetformin 1000 mg twice "
     "daily should be reduced. Sertraline 50 mg daily with tramadol 50 mg as needed increases the risk of serotonin "
     "syndrome; consider paracetamol 500 mg to 1 g up to four times daily instead, not exceeding 4 g per day."),
    # a later sentence contradicts an earlier one; negation is per sentence in the full run as well
    (CYSTITIS, PATIENT, "Give ciprofloxacin 500 mg b.i.d. for 3 days. Actually, do not. Amoxicillin 500 mg t.i.d. "
                        "is fine! Is ibuprofen 800 mg q8h ok? No ibuprofen. Methotrexate 10 mg daily."),
    # dose and drug split over a sentence end: the dose belongs to no drug in either run
    ("What dose of paracetamol for a 4-year-old with fever?", PatientContext(age=4, weight_kg=16),
     "Paracetamol is the usual choice. 15 mg/kg every 6 hours, maximum 60 mg/kg per day. Give paracetamol "
     "400 mg every 4 hours.  Do not exceed. 5 doses a day.\nIbuprofen 10 mg/kg is an alternative"),
    ("Adult with community-acquired pneumonia, no comorbidities: first-line antibiotic?", None,
     "Amoxicillin 1 g three times daily for 5 days. Doxycycline is an alternative. Do not use ciprofloxacin. "
     "Potassium chloride IV push must never be given. Vincristine intrathecal is fatal."),
    ("Is penicillin safe with a penicillin allergy?", PatientContext(allergies=("penicillin",)), "No drug here. None."),
    ("Sore throat treatment in an adult?", None, ""),
]


def _full(question, patient, answer):
    ctx = SignalContext(question=question, answer=answer, patient=patient)
    return [assess_one("medication_safety", ctx), assess_one("guideline_consistency", ctx)]


def _pieces(text: str, rng: random.Random) -> list[str]:
    out, i = [], 0
    while i < len(text):
        n = rng.randint(1, 7)
        out.append(text[i:i + n])
        i += n
    return out


@pytest.mark.parametrize("case", range(len(CASES)))
def test_incremental_equals_full_run(case):
    question, patient, answer = CASES[case]
    full = _full(question, patient, answer)
    for seed in range(5):
        got = IncrementalRules.run(question, patient, _pieces(answer, random.Random(seed)))
        assert got == full
    # character by character and all at once
    assert IncrementalRules.run(question, patient, list(answer)) == full
    assert IncrementalRules.run(question, patient, [answer]) == full


def test_feed_reports_at_sentence_ends_only():
    inc = IncrementalRules(CYSTITIS, PATIENT)
    assert inc.feed("Nitrofurantoin 100 mg twice daily") is None
    assert inc.feed(" for 5 days.") is None  # the sentence end needs the white space after it
    partial = inc.feed(" Ciprofloxacin")
    assert partial is not None and inc.sentences == 1
    assert partial == _full(CYSTITIS, PATIENT, "Nitrofurantoin 100 mg twice daily for 5 days.")
    assert inc.finish() == _full(CYSTITIS, PATIENT, inc.text)


def test_sentence_cuts_skip_abbreviations_and_decimals():
    text = "Give 2.5 mg b.i.d. now. Then stop! Why? e.g.x"
    assert [text[:c][-4:] for c in sentence_cuts(text)] == ["i.d.", "now.", "top!", "Why?"]


def test_bench_answer_equals_full_run():
    from bench.bench_signals import _PARAGRAPHS, PATIENT as BENCH_PATIENT, QUESTION

    answer = "\n\n".join(_PARAGRAPHS * 2)
    full = _full(QUESTION, BENCH_PATIENT, answer)
    assert IncrementalRules.run(QUESTION, BENCH_PATIENT, _pieces(answer, random.Random(1))) == full
    assert full[0].level != "not_assessed" and full[1].level != "not_assessed"
