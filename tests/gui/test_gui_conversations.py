"""The clinician's window with conversations (real widgets, the scripted engine for determinism): a three-turn
conversation with follow-ups the model reads; an old turn reopened shows its own question and patient; the
provisional medication banner before the stream ends (and the stream held under ``block``); people and
settings (locking clears the view, each profile's drafts are its own, settings refused while locked, a failed
model switch keeps the running model and saves nothing); copy and export."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from safemed_desktop.config import load_config, write_config_file
from safemed_desktop.records import PatientContext

from .conftest import ADMIN_PIN, PASSPHRASE, PIN, ask_question as ask, open_workspace
from .fake_engine import DEFAULT_TEXT, FakeEngine

pytestmark = pytest.mark.gui

WARFARIN = PatientContext(age=78, egfr=25, medications=("warfarin",))
DIABETIC = PatientContext(age=30, weight_kg=70)
IBUPROFEN_TEXT = ("<answer>Give ibuprofen 400 mg three times daily. It is safe without any contraindications. "
                  "Take it with food and review in a week.</answer>")


class Recording(FakeEngine):
    """The scripted engine, keeping the messages of every request (what the model read)."""

    seen: list[list[dict]] = []

    def stream_chat(self, messages, **kw):
        Recording.seen.append(messages)
        return super().stream_chat(messages, **kw)


@pytest.fixture
def engine():
    Recording.text = DEFAULT_TEXT
    Recording.hold_at = None
    Recording.release = threading.Event()
    Recording.instances = []
    Recording.seen = []
    yield Recording
    Recording.release.set()
    Recording.hold_at = None


def _window(qtbot, make_window, config, engine):
    win = make_window(config.with_overrides({"max_tokens": 200}, source="test"), engine_factory=engine,
                      idle_check_ms=50)
    open_workspace(qtbot, win)
    qtbot.waitUntil(lambda: win.loaded is not None, timeout=30000)
    qtbot.waitUntil(lambda: win.rubric is not None, timeout=10000)
    return win


@pytest.fixture
def win(qtbot, make_window, gui_config, engine):
    return _window(qtbot, make_window, gui_config, engine)


def test_three_turn_conversation_follow_ups_and_reopening_an_old_turn(qtbot, win, engine):
    win.patient_panel.set_patient(DIABETIC)
    first = ask(qtbot, win, "Insulin starting dose for type 1 diabetes?")
    assert win.ask_panel.text() == ""  # answered: the box is ready for the follow-up
    qtbot.waitUntil(lambda: win.turn_strip.list.count() == 1, timeout=10000)
    second = ask(qtbot, win, "And how often should glucose be checked?")
    win.patient_panel.set_patient(WARFARIN)  # the conversation's patient changes before the third turn
    third = ask(qtbot, win, "What about hypertension treatment?")
    qtbot.waitUntil(lambda: win.turn_strip.list.count() == 3, timeout=10000)

    # the model read the earlier turns, oldest first, each follow-up after them
    assert [m["role"] for m in engine.seen[1]] == ["system", "user", "assistant", "user"]
    assert engine.seen[1][1]["content"] == "Insulin starting dose for type 1 diabetes?"
    assert [m["role"] for m in engine.seen[2]] == ["system"] + ["user", "assistant"] * 2 + ["user"]
    assert "eGFR 25" in engine.seen[2][-1]["content"]  # this turn's patient snapshot

    # one conversation, newest first, titled from the first question
    qtbot.waitUntil(lambda: len(win.conversation_list.rows) == 1 and win.conversation_list.rows[0]["n_turns"] == 3,
                    timeout=10000)
    assert win.conversation_list.rows[0]["title"] == "Insulin starting dose for type 1 diabetes?"
    assert win.turn_strip.list.item(0).text().startswith("Turn 1: Insulin")

    # reopen turn 1: its own question and patient, never the current ones
    view = win.answer_view
    win.turn_strip.list.itemClicked.emit(win.turn_strip.list.item(0))
    assert view.record.id == first and view.record.question.startswith("Insulin")
    assert "Insulin starting dose" in view.turn_question.text()
    assert "age 30" in view.turn_patient.text() and "warfarin" not in view.turn_patient.text()
    assert "Turn 1 of 3" in view.turn_title.text() and "read-only" in view.turn_title.text()
    assert view.answer.isReadOnly()
    win.turn_strip.list.itemClicked.emit(win.turn_strip.list.item(2))
    assert view.record.id == third and "warfarin" in view.turn_patient.text() and "hypertension" in view.turn_question.text()

    # a new conversation starts empty; reopening the old one from the history restores turn 2 as it was
    win.flow.new_conversation()
    assert view.record is None and view.turn_frame.isHidden() and win.patient_panel.patient().is_empty()
    win.ask_panel.set_text("draft for the new conversation")
    win.side_tabs.setCurrentWidget(win.history_panel)
    qtbot.waitUntil(lambda: len(win.history_panel.rows) == 3, timeout=10000)
    row = next(i for i, r in enumerate(win.history_panel.rows) if r["id"] == second)
    win.history_panel.table.setCurrentCell(row, 1)
    win.history_panel.open_button.click()
    qtbot.waitUntil(lambda: view.record is not None and view.record.id == second, timeout=10000)
    assert view.record.id == second and "glucose" in view.turn_question.text() and "age 30" in view.turn_patient.text()
    assert win.turn_strip.list.count() == 3 and win.turn_strip.list.currentRow() == 1
    assert win.patient_panel.patient() == WARFARIN  # the conversation's patient, ready for the next follow-up
    assert win.ask_panel.text() == ""  # the other conversation's draft stays with it
    win.flow.new_conversation()
    assert win.ask_panel.text() == "draft for the new conversation"

    # copy with the signals' summaries; export Markdown and PDF (Qt's printing), files 0600
    assert win.turn_strip.list.count() == 0  # a new conversation has no turns yet
    win.conversation_list.list.itemClicked.emit(win.conversation_list.list.item(0))
    qtbot.waitUntil(lambda: view.record is not None and view.record.id == third, timeout=10000)
    copied = win.copy_answer()
    assert QApplication.clipboard().text() == copied and "Clinical trust signals:" in copied
    assert "Medication safety:" in copied and "Demo model" in copied
    out = win.service.config.paths.data_dir / "exports"
    for fmt in ("md", "pdf"):
        path = out / f"conversation.{fmt}"
        with qtbot.waitSignal(win.exported, timeout=20000):
            win.export_conversation(fmt, str(path))
        assert path.stat().st_mode & 0o777 == 0o600
    md = (out / "conversation.md").read_text(encoding="utf-8")
    assert md.count("## Turn ") == 3 and "Demo model - not clinically validated" in md and "sha256" in md
    assert (out / "conversation.pdf").read_bytes().startswith(b"%PDF")


def test_provisional_medication_banner_appears_before_the_stream_ends(qtbot, win, engine):
    engine.text = IBUPROFEN_TEXT
    n_first_sentence = len(engine.tokens("<answer>Give ibuprofen 400 mg three times daily. It"))
    engine.hold_at = n_first_sentence  # the engine waits here, mid-answer, until released
    win.patient_panel.set_patient(WARFARIN)
    win.ask_panel.set_text("What dose of ibuprofen for this patient?")
    win.ask_panel.ask_button.click()
    view = win.answer_view
    qtbot.waitUntil(lambda: "In the answer so far: Medication safety ALERT" in view.banner_text, timeout=20000)
    assert view.record is None and win.controller.busy  # still streaming
    assert "provisional" in view.banner_text and view.safety_banner.property("level") == "alert"
    # the question's own findings (screened before any token) stay in the banner beside the answer's
    for s in view.question_signals:
        if s.level == "alert":
            assert "In the question:" in view.banner_text and s.summary in view.banner_text
    assert not view.held and not view.answer.isHidden()  # the default policy warns: text keeps streaming
    engine.release.set()
    qtbot.waitUntil(lambda: view.record is not None, timeout=20000)
    # the final assessment replaced the provisional one, and under "warn" the alert keeps its banner
    assert "provisional" not in view.banner_text and "Medication safety ALERT" in view.banner_text


def test_block_policy_holds_the_rest_of_the_stream_behind_the_alert(qtbot, make_window, gui_home, engine):
    cfg = load_config()
    write_config_file(cfg.paths.site_config_file, {"guard": {"medication_safety": "block"}})
    win = _window(qtbot, make_window, load_config(), engine)
    engine.text = IBUPROFEN_TEXT
    engine.hold_at = len(engine.tokens("<answer>Give ibuprofen 400 mg three times daily. It is"))
    win.patient_panel.set_patient(WARFARIN)
    win.ask_panel.set_text("What dose of ibuprofen for this patient?")
    win.ask_panel.ask_button.click()
    view = win.answer_view
    qtbot.waitUntil(lambda: view.held, timeout=20000)
    assert view.answer.isHidden() and view.held_label.isVisible() and "ALERT" in view.banner_text
    engine.release.set()
    qtbot.waitUntil(lambda: view.record is not None, timeout=20000)
    assert "contraindications" not in view.answer.toPlainText() or view.answer.isHidden()
    assert view.collapsed and not view.held  # the guard's collapse takes over at the end


def _sign_in_new_profile(qtbot, win, name: str, pin: str) -> None:
    """An administrator (selected, with their PIN) adds a profile, which then signs in."""
    ls = win.lock_screen
    admin_row = next(i for i in range(ls.profiles.count()) if ls.profiles.item(i).text().startswith("admin"))
    ls.profiles.setCurrentRow(admin_row)
    ls.pin.setText(ADMIN_PIN)
    ls.new_name.setText(name)
    ls.new_role.setCurrentText("attending")
    ls.new_pin.setText(pin)
    with qtbot.waitSignal(win.workspace_entered, timeout=30000):
        ls.create_profile_button.click()


def _unlock(qtbot, win) -> None:
    win.lock_screen.passphrase.setText(PASSPHRASE)
    with qtbot.waitSignal(win.unlocked, timeout=20000):
        win.lock_screen.unlock_button.click()


def test_locking_clears_the_view_and_each_profiles_drafts_are_its_own(qtbot, win):
    first = ask(qtbot, win, "Paracetamol dose for fever in an adult?")
    win.ask_panel.set_text("half-written follow-up of the first clinician")
    win.patient_panel.set_patient(WARFARIN)
    with qtbot.waitSignal(win.locked, timeout=10000):
        win.session.lock_now()
    # locked: nothing of the clinician's work is left in the widgets
    assert win.answer_view.record is None and win.ask_panel.text() == "" and win.patient_panel.patient().is_empty()
    assert win.conversation_list.rows == [] and win.history_panel.rows == []
    assert win.open_settings() is None and win.settings_dialog is None  # settings need an unlocked session

    _unlock(qtbot, win)
    _sign_in_new_profile(qtbot, win, "Dr Second", "second-pin-99")
    assert win.ask_panel.text() == "" and win.patient_panel.patient().is_empty() and win.answer_view.record is None
    qtbot.waitUntil(lambda: win.conversation_list.count_label.text() != "", timeout=10000)
    assert win.conversation_list.rows == []  # the first clinician's conversations are theirs
    win.ask_panel.set_text("second clinician's own draft")

    with qtbot.waitSignal(win.locked, timeout=10000):
        win.session.lock_now()
    _unlock(qtbot, win)
    ls = win.lock_screen
    row = next(i for i in range(ls.profiles.count()) if ls.profiles.item(i).text().startswith("Dr Test"))
    ls.profiles.setCurrentRow(row)
    ls.pin.setText(PIN)
    with qtbot.waitSignal(win.workspace_entered, timeout=20000):
        ls.continue_button.click()
    assert win.ask_panel.text() == "half-written follow-up of the first clinician"
    assert win.patient_panel.patient() == WARFARIN
    assert win.answer_view.record is not None and win.answer_view.record.id == first
    assert "Paracetamol dose" in win.answer_view.turn_question.text()


def test_failed_model_switch_keeps_the_running_model_and_saves_nothing(qtbot, win, tmp_path):
    running = win.loaded
    user_file = win.config.paths.user_config_file
    before = user_file.read_bytes()
    dlg = win.open_settings()
    assert dlg is not None and dlg.isVisible()
    dlg.model.setEditText(str(tmp_path / "no-such-model.gguf"))
    dlg.idle.setValue(7)
    with qtbot.waitSignal(win.model_failed, timeout=30000):
        dlg.buttons.button(dlg.buttons.StandardButton.Save).click()
    assert dlg.isVisible() and dlg.model_error.isVisible() and "current model" in dlg.model_error.text()
    assert user_file.read_bytes() == before  # nothing saved
    assert win.loaded is running and not running.engine.closed and win.config.idle_lock_minutes != 7
    if win.last_error_box is not None:
        win.last_error_box.close()
    dlg.reject()
    answer_id = ask(qtbot, win, "Paracetamol dose?")  # still answering on the running model
    assert win.answer_view.record.id == answer_id


def test_question_stage_finding_shows_before_any_token_and_stays_whatever_the_answer(qtbot, win, engine):
    """'No, do not give it' with no reasons: the question itself proposes a drug the patient is allergic to, and
    the banner says so from the screening on (before any token), and at the end."""
    engine.text = "<answer>No, do not give it.</answer>"
    engine.hold_at = 0  # the engine waits before its first token
    win.patient_panel.set_patient(PatientContext(age=40, allergies=("penicillin",)))
    win.ask_panel.set_text("Can I give amoxicillin 500 mg three times daily for otitis media?")
    win.ask_panel.ask_button.click()
    view = win.answer_view
    qtbot.waitUntil(lambda: "In the question: Medication safety ALERT" in view.banner_text, timeout=20000)
    assert view.n_tokens == 0 and view.record is None  # nothing streamed yet
    engine.release.set()
    qtbot.waitUntil(lambda: view.record is not None, timeout=20000)
    assert view.record.answer == "No, do not give it."
    assert "Medication safety ALERT" in view.banner_text and not view.safety_banner.isHidden()
    assert "provisional" not in view.banner_text
