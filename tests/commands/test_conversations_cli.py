"""``safemed conversations list|show|rename|archive`` on a real encrypted store, acting as a signed-in profile
like every store command; and, on the real demo model, a two-turn ``ask --conversation`` that prints the same
model banner as a plain ``ask``, stores the follow-up as turn 2, and screens the drugless follow-up for the
earlier question's NSAID."""

from __future__ import annotations

import json

import pytest

from safemed_desktop.cli import main
from safemed_desktop.records import AnswerRecord, ModelIdentity, PatientContext, Signal

PASS, PIN = "cli conversations passphrase", "cli-pin-1357"
PATIENT = PatientContext(age=78, egfr=25, medications=("warfarin",))
MODEL = ModelIdentity(id="demo", sha256="ab" * 32, approved=False, demo=True, chat_format="plain")


def _record(question: str, answer: str, level: str = "ok") -> AnswerRecord:
    return AnswerRecord(question=question, patient=PATIENT, model=MODEL, answer=answer,
                        signals=[Signal("medication_safety", level, f"medication {level}", "formulary@1")])


@pytest.fixture
def two_conversations(cli_store):
    svc = cli_store
    store = svc.unlock_store(PASS)
    try:
        svc.authenticate(store, "Dr Admin", PIN)
        knee, _ = svc.record_turn(store, None, _record("Ibuprofen for knee pain?", "Avoid NSAIDs here.", "alert"))
        svc.record_turn(store, knee, _record("And what dose?", "Paracetamol 1 g four times daily."))
        asthma, _ = svc.record_turn(store, None, _record("Asthma inhaler technique?", "Use a spacer."))
    finally:
        store.close()
    return knee, asthma


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_list_show_rename_archive_round_trip(two_conversations, capsys):
    knee, asthma = two_conversations
    rc, out, _ = _run(capsys, "conversations", "list", "--json")
    rows = json.loads(out)
    assert rc == 0 and [r["id"] for r in rows] == [asthma, knee]
    assert rows[1]["title"] == "Ibuprofen for knee pain?" and rows[1]["n_turns"] == 2 and rows[1]["worst_level"] == "alert"
    rc, out, _ = _run(capsys, "conversations", "list", "--search", "spacer")
    assert rc == 0 and asthma in out and knee not in out

    rc, out, _ = _run(capsys, "conversations", "show", knee)
    assert rc == 0
    assert "== Turn 1" in out and "== Turn 2" in out and "And what dose?" in out
    assert "Patient: age 78; eGFR 25 mL/min/1.73m2; current medications: warfarin" in out
    assert "Paracetamol 1 g four times daily." in out and "Medication safety" in out and "ALERT" in out
    assert "[Demo model - not clinically validated" in out
    rc, out, _ = _run(capsys, "conversations", "show", knee, "--json")
    shown = json.loads(out)
    assert [t["turn"] for t in shown["turns"]] == [1, 2] and shown["archived"] is False
    assert shown["turns"][1]["question"] == "And what dose?" and shown["turns"][1]["patient"]["egfr"] == 25
    assert [s["level"] for s in shown["turns"][0]["signals"]] == ["alert"]

    rc, out, err = _run(capsys, "conversations", "rename", knee, "Mrs K knee pain")
    assert rc == 0 and "renamed: Mrs K knee pain" in out and "visible to other local users" in err
    rc, out, _ = _run(capsys, "conversations", "archive", knee)
    assert rc == 0 and "archived" in out and "--undo" in out
    rc, out, _ = _run(capsys, "conversations", "list")
    assert knee not in out and asthma in out
    rc, out, _ = _run(capsys, "conversations", "list", "--archived")
    line = next(ln for ln in out.splitlines() if ln.startswith(knee))
    assert "Mrs K knee pain" in line and "archived" in line
    rc, out, _ = _run(capsys, "conversations", "archive", knee, "--undo")
    assert rc == 0 and "un-archived" in out
    rc, out, _ = _run(capsys, "conversations", "list")
    assert knee in out and "archived" not in out


def test_rename_reads_the_title_from_standard_input(two_conversations, capsys, monkeypatch):
    import io
    import sys

    knee, _ = two_conversations
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("Private title\n".encode())))
    rc, out, err = _run(capsys, "conversations", "rename", knee, "-")
    assert rc == 0 and "Private title" in out and "visible" not in err
    rc, out, _ = _run(capsys, "conversations", "show", knee, "--json")
    assert json.loads(out)["title"] == "Private title"


@pytest.mark.parametrize("argv, message", [
    (("conversations", "show", "nope"), "no conversation with id nope"),
    (("conversations", "rename", "nope", "A title"), "no conversation with id nope"),
    (("conversations", "archive", "nope"), "no conversation with id nope"),
])
def test_errors_are_one_line(two_conversations, capsys, argv, message):
    rc, _out, err = _run(capsys, *argv)
    assert rc != 0 and message in err
    assert len([ln for ln in err.strip().splitlines() if "visible to other local users" not in ln]) == 1


def test_a_bad_title_and_a_wrong_pin_are_refused(two_conversations, capsys, monkeypatch):
    import io
    import sys

    knee, _ = two_conversations
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"  \n")))
    rc, _out, err = _run(capsys, "conversations", "rename", knee, "-")
    assert rc != 0 and "a conversation title cannot be empty" in err
    rc, _out, err = _run(capsys, "conversations", "archive", knee, "--undo")
    assert rc != 0 and "is not archived" in err
    monkeypatch.setenv("SAFEMED_PROFILE_PIN", "wrong-pin-0000")
    rc, _out, err = _run(capsys, "conversations", "list")
    assert rc != 0 and len(err.strip().splitlines()) == 1


def _banner(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if ln.startswith("[") and "MODEL" in ln]


def test_two_turn_ask_conversation_on_the_real_model(cli_store, capsys, tmp_path, demo_model_path):
    patient = tmp_path / "patient.json"
    patient.write_text(json.dumps({"age": 78, "egfr": 25, "medications": ["warfarin"]}), encoding="utf-8")
    q1, q2 = tmp_path / "q1.txt", tmp_path / "q2.txt"
    q1.write_text("Can I give her ibuprofen for her knee pain?", encoding="utf-8")
    q2.write_text("And what dose would you use for her?", encoding="utf-8")

    rc, _out, plain_err = _run(capsys, "ask", "--file", str(q1), "--no-store", "--max-tokens", "8")
    assert rc == 0 and _banner(plain_err)  # the demo model is announced on a plain ask

    rc, out, err = _run(capsys, "ask", "--file", str(q1), "--patient", str(patient), "--conversation", "new", "--json")
    first = json.loads(out.strip().splitlines()[-1])
    cid = first["conversation"]["id"]
    assert rc == 0 and first["conversation"]["turn"] == 1 and first["model"]["demo"] is True

    rc, out, err = _run(capsys, "ask", "--file", str(q2), "--conversation", cid)
    assert rc == 0
    assert _banner(err) == _banner(plain_err)  # the same banner as a plain ask
    assert f"[stored as turn 2 of conversation {cid}]" in err

    rc, out, _ = _run(capsys, "conversations", "show", cid, "--json")
    shown = json.loads(out)
    assert [t["turn"] for t in shown["turns"]] == [1, 2]
    assert [t["question"] for t in shown["turns"]] == [q1.read_text(), q2.read_text()]
    second = shown["turns"][1]
    assert second["patient"]["egfr"] == 25  # the conversation's patient, snapshotted into turn 2
    med = next(s for s in second["signals"] if s["name"] == "medication_safety")
    inherited = [e for e in med["evidence"] if e["target"] == "question"]
    # the drugless follow-up is screened for the earlier question's NSAID, whatever the model answered
    assert {e["rule"] for e in inherited} >= {"question_renal", "question_interaction_patient"}
    assert all("from the earlier question in this conversation" in e["detail"] for e in inherited)
