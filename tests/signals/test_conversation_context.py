"""Signals assess a turn with its conversation: a follow-up that names no drug ("And what dose would you use for
her?") is screened for the drugs of the most recent earlier question that named one, and its evidence says so;
a follow-up naming its own drug uses only that drug; outside a conversation nothing changes. Unsafe and safe
twins: ibuprofen vs paracetamol for a 78-year-old with eGFR 25 on warfarin."""

from __future__ import annotations

import pytest

from safemed_desktop.records import PatientContext, SignalContext
from safemed_desktop.service import SafeMedService
from safemed_desktop.signals import medication_safety
from safemed_desktop.signals.incremental import IncrementalRules
from safemed_desktop.signals.medication_safety import FROM_EARLIER, screen_question
from safemed_desktop.signals.pipeline import assess_one, assess_question

PATIENT = PatientContext(age=78, egfr=25, medications=("warfarin",))
FOLLOW_UP = "And what dose would you use for her?"
IBUPROFEN_Q = "Can I give her ibuprofen for her knee pain?"
PARACETAMOL_Q = "Can I give her paracetamol for her knee pain?"
NSAID_RULES = {"renal", "interaction_patient"}


def _history(*questions: str) -> tuple[tuple[str, str], ...]:
    return tuple((q, "An earlier answer.") for q in questions)


def test_unsafe_twin_follow_up_is_screened_for_the_earlier_nsaid():
    sig = screen_question(FOLLOW_UP, PATIENT, _history(IBUPROFEN_Q))
    assert sig is not None and sig.name == "medication_safety" and sig.level == "alert"
    assert sig.summary.startswith("Follow-up to the earlier question in this conversation, which proposes ibuprofen")
    assert {e.rule for e in sig.evidence} == NSAID_RULES
    for e in sig.evidence:
        # the drug is not in this question: zero-width evidence on it, naming the earlier question's words
        assert (e.target, e.start, e.end, e.text) == ("question", 0, 0, "")
        assert e.detail.endswith(f'("ibuprofen", {FROM_EARLIER})')
    assert any("warfarin" in e.detail for e in sig.evidence)


def test_safe_twin_paracetamol_follow_up_has_no_nsaid_finding():
    sig = screen_question(FOLLOW_UP, PATIENT, _history(PARACETAMOL_Q))
    assert sig is not None and sig.level == "ok"
    assert "paracetamol" in sig.summary and "earlier question in this conversation" in sig.summary
    assert not {e.rule for e in sig.evidence} & NSAID_RULES


def test_outside_a_conversation_a_drugless_question_is_not_screened_as_before():
    assert screen_question(FOLLOW_UP, PATIENT) is None
    assert screen_question(FOLLOW_UP, PATIENT, ()) is None
    # no earlier question named a drug: nothing to inherit
    assert screen_question(FOLLOW_UP, PATIENT, _history("Is her knee pain osteoarthritis?")) is None
    # a question that names its drug gives the same signal with or without (an unrelated) history
    alone = screen_question(IBUPROFEN_Q, PATIENT)
    assert alone is not None and alone.level == "alert"
    assert screen_question(IBUPROFEN_Q, PATIENT, _history(PARACETAMOL_Q)) == alone
    assert assess_question(IBUPROFEN_Q, PATIENT, ()) == assess_question(IBUPROFEN_Q, PATIENT)


def test_a_follow_up_naming_its_own_drug_uses_only_that_drug():
    own = screen_question("What about paracetamol instead?", PATIENT, _history(IBUPROFEN_Q))
    assert own is not None and own.level == "ok" and own.summary.startswith("Question proposes paracetamol")
    assert "ibuprofen" not in own.summary and not own.evidence
    nsaid = screen_question("Would naproxen be better?", PATIENT, _history(PARACETAMOL_Q))
    assert nsaid.level == "alert" and {e.text for e in nsaid.evidence} == {"naproxen"}  # spans in this question
    assert all(FROM_EARLIER not in e.detail for e in nsaid.evidence)


def test_the_most_recent_earlier_question_that_named_a_drug_is_the_one_followed_up():
    # oldest first: ibuprofen, then paracetamol, then a question without a drug -> paracetamol is followed up
    h = _history(IBUPROFEN_Q, PARACETAMOL_Q, "How long will her pain last?")
    assert screen_question(FOLLOW_UP, PATIENT, h).level == "ok"
    h = _history(PARACETAMOL_Q, IBUPROFEN_Q, "How long will her pain last?")
    assert screen_question(FOLLOW_UP, PATIENT, h).level == "alert"


def test_facts_stated_in_the_earlier_question_count_and_this_question_s_win():
    h = _history("Can I give ibuprofen to a 40-year-old with eGFR 20?")
    sig = screen_question(FOLLOW_UP, PatientContext(), h)
    assert sig.level == "alert" and "renal" in {e.rule for e in sig.evidence}
    # the follow-up states a normal eGFR: its own facts complete the context first
    sig = screen_question("Her eGFR is 90 now; what dose then?", PatientContext(), h)
    assert sig is not None and "renal" not in {e.rule for e in sig.evidence}


def test_question_screening_in_the_pipeline_passes_the_conversation():
    sigs = {s.name: s for s in assess_question(FOLLOW_UP, PATIENT, _history(IBUPROFEN_Q))}
    assert sigs["medication_safety"].level == "alert"
    assert "medication_safety" not in {s.name for s in assess_question(FOLLOW_UP, PATIENT)}


@pytest.mark.parametrize("earlier, expect_nsaid", [(IBUPROFEN_Q, True), (PARACETAMOL_Q, False)])
def test_the_answer_s_assessment_lists_the_inherited_question_findings(earlier, expect_nsaid):
    answer = "Use 500 mg every 6 hours, no more than 3 g a day."  # names no drug itself
    ctx = SignalContext(question=FOLLOW_UP, answer=answer, patient=PATIENT, history=_history(earlier))
    sig = assess_one("medication_safety", ctx)
    rules = {e.rule for e in sig.evidence if e.target == "question"}
    assert bool(rules & {"question_renal", "question_interaction_patient"}) is expect_nsaid
    if expect_nsaid:
        assert all(FROM_EARLIER in e.detail for e in sig.evidence if e.target == "question")
    # without the conversation the same turn lists no question finding
    plain = assess_one("medication_safety", SignalContext(question=FOLLOW_UP, answer=answer, patient=PATIENT))
    assert not [e for e in plain.evidence if e.target == "question"]


def test_streaming_check_with_the_conversation_equals_the_full_assessment():
    h = _history(IBUPROFEN_Q)
    answer = "Ibuprofen 400 mg three times daily is fine. Give it with food. Review in a week."
    pieces = [answer[i:i + 7] for i in range(0, len(answer), 7)]
    live = SafeMedService.live_safety(FOLLOW_UP, PATIENT, h)
    provisional = None
    for p in pieces:
        got = live.feed(p)
        if got is not None and provisional is None:
            provisional = {s.name: s for s in got}
    assert provisional is not None and any(FROM_EARLIER in e.detail for e in provisional["medication_safety"].evidence)
    final = live.finish()
    ctx = SignalContext(question=FOLLOW_UP, answer=answer, patient=PATIENT, history=h)
    assert final[0] == assess_one("medication_safety", ctx)
    assert IncrementalRules.run(FOLLOW_UP, PATIENT, pieces, h) == final
    # without the conversation the streaming check lists no inherited finding
    alone = IncrementalRules.run(FOLLOW_UP, PATIENT, pieces)
    assert not any(FROM_EARLIER in e.detail for e in alone[0].evidence)


def test_malformed_history_entries_are_skipped_not_fatal():
    h = (("",), (None, "x"), (IBUPROFEN_Q, "An answer."), ())
    assert screen_question(FOLLOW_UP, PATIENT, h).level == "alert"
    assert medication_safety.FROM_EARLIER == "from the earlier question in this conversation"
