"""Conversations below the window: the encrypted store's turns, the service's follow-up prompt (earlier turns,
the oldest dropped with a note when they do not fit), the streaming safety check, copy and Markdown export."""

from __future__ import annotations

import threading

import pytest

from safemed_desktop.errors import InputError
from safemed_desktop.inference.prompt import DROPPED_NOTE, build_conversation_messages
from safemed_desktop.records import AnswerRecord, ModelIdentity, PatientContext, Signal
from safemed_desktop.service import SafeMedService

from .fake_engine import DEFAULT_TEXT, FakeEngine

WARFARIN_PATIENT = PatientContext(age=78, egfr=25, medications=("warfarin",))
MODEL = ModelIdentity(id="demo", sha256="ab" * 32, approved=True, demo=True, chat_format="plain")


def _record(question: str, patient: PatientContext, answer: str = "An answer.", **kw) -> AnswerRecord:
    return AnswerRecord(question=question, patient=patient, model=MODEL, answer=answer,
                        signals=[Signal("medication_safety", "ok", "No medication problem found.", "formulary@1")], **kw)


@pytest.fixture
def store(safemed_home, tmp_path):
    from safemed_desktop.store import KdfParams, Store

    s = Store.create(tmp_path / "conv.db", "conversation passphrase", "site", kdf_params=KdfParams.fast_for_tests())
    s.test_pid = s.add_profile("Dr Jane Tester", "site_admin", "1234-5678-pin")
    s.authenticate(s.test_pid, "1234-5678-pin")
    yield s
    s.close()


def test_turns_keep_their_own_question_and_patient_snapshot_encrypted(store, tmp_path):
    svc = SafeMedService()
    pid = store.test_pid  # the signed-in clinician
    first = _record("Insulin dose for type 1 diabetes?", PatientContext(age=30, weight_kg=70), "Weight-based dosing.")
    cid, prov = svc.record_turn(store, None, first, pid)
    assert [h["text"] for h in prov["edit_history"]] == [first.answer]  # the stored answer's provenance
    second = _record("And for hypertension?", WARFARIN_PATIENT, "Start an ACE inhibitor.")
    cid2, _ = svc.record_turn(store, cid, second, pid)
    other = _record("Unrelated question about asthma", PatientContext(), "Use an inhaler.")
    other_cid, _ = svc.record_turn(store, None, other, pid)
    assert cid2 == cid and other_cid != cid

    conv = svc.open_conversation(store, cid)
    assert conv.title == "Insulin dose for type 1 diabetes?"
    assert [t.id for t in conv.turns] == [first.id, second.id]
    assert [t.question for t in conv.turns] == [first.question, second.question]
    assert conv.turns[0].patient == PatientContext(age=30, weight_kg=70)  # its own snapshot, not the latest
    assert conv.turns[1].patient == WARFARIN_PATIENT and conv.patient == WARFARIN_PATIENT
    assert conv.history() == ((first.question, first.answer), (second.question, second.answer))
    assert svc.conversation_of(store, second.id) == cid

    listed = svc.list_conversations(store)
    assert [c["id"] for c in listed] == [other_cid, cid]  # newest activity first
    assert listed[1]["n_turns"] == 2 and listed[1]["title"] == first.question
    assert [c["id"] for c in svc.list_conversations(store, "ACE INHIBITOR")] == [cid]  # searches turns too
    assert svc.list_conversations(store, "no such words") == []
    assert store.verify().ok
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("conv.db*"))
    for secret in (b"Insulin dose", b"hypertension", b"warfarin"):
        assert secret not in raw
    with pytest.raises(InputError, match="no conversation"):
        svc.record_turn(store, "missing-conversation", _record("q?", PatientContext()), pid)
    with pytest.raises(InputError, match="already stored"):
        svc.record_turn(store, cid, second, pid)  # nothing half-written
    assert len(svc.open_conversation(store, cid).turns) == 2


def test_follow_up_prompt_carries_earlier_turns_and_says_when_some_were_dropped():
    history = [(f"question {i} about paracetamol", f"answer {i} " + "word " * 40) for i in range(6)]
    msgs, dropped = build_conversation_messages("and in renal failure?", WARFARIN_PATIENT, "plain", history)
    assert dropped == 0 and [m["role"] for m in msgs] == ["system"] + ["user", "assistant"] * 6 + ["user"]
    assert "eGFR 25" in msgs[-1]["content"] and msgs[-1]["content"].endswith("and in renal failure?")
    count = lambda text: len(text.split())  # noqa: E731
    msgs, dropped = build_conversation_messages("and in renal failure?", None, "plain", history,
                                                budget_tokens=200, count_tokens=count)
    assert 0 < dropped < 6
    assert sum(count(m["content"]) + 4 for m in msgs) <= 200
    assert msgs[1]["content"].startswith(DROPPED_NOTE)
    assert msgs[2]["content"].startswith(f"answer {dropped} ")  # the newest turns are the ones kept


def test_service_ask_with_history_reaches_the_engine_and_reports_screening(safemed_home):
    seen = []

    class Recording(FakeEngine):
        def stream_chat(self, messages, **kw):
            seen.append(messages)
            return super().stream_chat(messages, **kw)

    Recording.text = DEFAULT_TEXT
    Recording.hold_at = None
    Recording.release = threading.Event()
    svc = SafeMedService(engine_factory=Recording)
    svc.load_model()
    screened = []
    rec = svc.ask_to_end("What about in renal failure?", WARFARIN_PATIENT,
                         history=[("Paracetamol dose?", "500 mg to 1 g.")],
                         on_screened=lambda sigs, dropped: screened.append(([s.name for s in sigs], dropped)))
    assert [m["role"] for m in seen[0]] == ["system", "user", "assistant", "user"]
    assert seen[0][1]["content"] == "Paracetamol dose?" and seen[0][2]["content"] == "500 mg to 1 g."
    assert len(screened) == 1 and screened[0][1] == 0 and screened[0][0]
    assert rec.question == "What about in renal failure?" and rec.patient == WARFARIN_PATIENT


def test_live_safety_finds_the_alert_before_the_answer_ends():
    svc = SafeMedService()
    live = svc.live_safety("Can I give ibuprofen?", WARFARIN_PATIENT)
    text = "Give ibuprofen 400 mg three times daily. It is fine without any contraindications. More text follows"
    first_alert_at = None
    pos = 0
    for i, word in enumerate(text.split(" ")):
        piece = word if i == 0 else " " + word
        pos += len(piece)
        got = live.feed(piece)
        if got and first_alert_at is None and any(s.level == "alert" for s in got if s.name == "medication_safety"):
            first_alert_at = pos
    assert first_alert_at is not None and first_alert_at < len(text)  # found mid-stream
    final = {s.name: s for s in live.finish()}
    assert final["medication_safety"].level == "alert"


def test_copy_and_markdown_export_carry_signals_provenance_and_banner(store):
    svc = SafeMedService()
    rec = _record("Ibuprofen for *this* patient?", WARFARIN_PATIENT, "Avoid NSAIDs.")
    rec.signals = [Signal("medication_safety", "alert", "Ibuprofen with warfarin: bleeding risk.", "formulary@1"),
                   Signal("adversarial_input", "ok", "Nothing unusual.", "rules@1")]
    copied = svc.clinician_text(rec)
    assert "Avoid NSAIDs." in copied and "Medication safety: ALERT - Ibuprofen with warfarin" in copied
    assert "adversarial_input" not in copied and "Demo model" in copied
    cid, prov = svc.record_turn(store, None, rec)
    md = svc.conversation_markdown(svc.open_conversation(store, cid), {rec.id: prov})
    assert md.startswith("# Ibuprofen for \\*this\\* patient?")
    for part in ("Demo model - not clinically validated", "**Patient:** age 78", "eGFR 25", "Avoid NSAIDs.",
                 "Medication safety ALERT", "Question manipulation check: OK", "sha256 " + "ab" * 8, rec.id):
        assert part in md, part
