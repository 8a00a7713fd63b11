"""reasoning_consistency: answer vs the reasoning's conclusion (letters, drugs), missing reasoning."""

from __future__ import annotations

import pytest

from safemed_desktop.inference.reasoning import parse_output
from safemed_desktop.signals import reasoning_consistency as rc
from safemed_desktop.records.signal import SignalContext

MCQ = "Which drug is first-line for type 2 diabetes? A) insulin B) metformin C) glipizide D) acarbose"
CYSTITIS = "Which antibiotic for uncomplicated cystitis in a woman with eGFR 20?"
RULED_OUT = ("1. eGFR is 20 mL/min.\n2. Nitrofurantoin should be avoided at this eGFR.\n"
             "3. Therefore fosfomycin 3 g as a single dose is the best choice.")


def assess(question, answer, reasoning="", expects=False):
    return rc.assess(SignalContext(question=question, answer=answer, reasoning=reasoning, expects_reasoning=expects))


def test_option_letter_contradiction_alerts():
    s = assess(MCQ, "The answer is C) glipizide.", "Metformin is first-line per ADA. Therefore the answer is B.")
    assert s.level == "alert" and "option C" in s.summary and "concluded B" in s.summary
    e = s.evidence[0]
    assert e.rule == "option_mismatch" and e.text == "C" and "The answer is C) glipizide."[e.start:e.end] == "C"


def test_option_letter_agreement_is_ok():
    s = assess(MCQ, "B) metformin", "Insulin is not first-line. Metformin is first-line per ADA. So the answer is B.")
    assert s.level == "ok"


def test_last_conclusion_letter_counts():
    # the reasoning first considers A, then settles on B
    s = assess(MCQ, "B", "At first the answer is A? No: insulin is for later. The correct answer is B.")
    assert s.level == "ok"


def test_answer_recommends_drug_the_reasoning_ruled_out():
    s = assess(CYSTITIS, "Give nitrofurantoin 100 mg twice daily.", RULED_OUT)
    assert s.level == "alert" and "nitrofurantoin" in s.summary
    assert s.evidence[0].rule == "drug_ruled_out" and "avoided" in s.evidence[0].detail


def test_answer_follows_the_reasoning():
    s = assess(CYSTITIS, "Give fosfomycin 3 g once.", RULED_OUT)
    assert s.level == "ok"


def test_answer_warning_against_the_ruled_out_drug_is_ok():
    s = assess(CYSTITIS, "Avoid nitrofurantoin; give fosfomycin 3 g once.", RULED_OUT)
    assert s.level == "ok"


def test_answer_names_a_different_drug_than_the_conclusion():
    s = assess(CYSTITIS, "Give ciprofloxacin 250 mg twice daily.", "1. eGFR is low.\n2. Therefore fosfomycin is the best choice.")
    assert s.level == "caution" and "ciprofloxacin" in s.summary and "fosfomycin" in s.summary
    assert s.evidence[0].rule == "drug_mismatch"


def test_inn_stems_recognise_drugs_outside_the_lexicon():
    names = [n for n, _, _ in rc.drug_mentions("Start perindopril or telmisartan; metoprolol later.")]
    assert names == ["perindopril", "telmisartan", "metoprolol"]
    assert rc.drug_mentions("The patient is stable and the control group improved.") == []


def test_reasoning_model_without_reasoning_is_caution():
    s = assess(MCQ, "B", expects=True)
    assert s.level == "caution" and "no reasoning" in s.summary


def test_plain_model_without_reasoning_is_not_assessed():
    assert assess(MCQ, "B").level == "not_assessed"


def test_reasoning_without_answer_is_caution():
    assert assess(MCQ, "", "Metformin is first-line. The answer is B.", expects=True).level == "caution"


@pytest.mark.parametrize("raw,level", [
    ("<think>1. Metformin is first-line.\n2. So the answer is B.</think><answer>C) glipizide</answer>", "alert"),
    ("<think>1. Metformin is first-line.\n2. So the answer is B.</think><answer>B) metformin</answer>", "ok"),
])
def test_on_parsed_think_answer_output(raw, level):
    p = parse_output(raw)
    s = rc.assess(SignalContext(question=MCQ, answer=p.answer, reasoning=p.reasoning, reasoning_steps=p.reasoning_steps,
                                expects_reasoning=True))
    assert s.level == level


def test_brand_and_generic_names_are_the_same_drug():
    reasoning = "1. eGFR is 60.\n2. Therefore nitrofurantoin is the best choice."
    assert assess(CYSTITIS, "Macrobid 100 mg twice daily for 5 days.", reasoning).level == "ok"
    assert assess(CYSTITIS, "Cipro 250 mg twice daily.", reasoning).level == "caution"
