"""The real window on the real demo model (llama.cpp): unlock, ask, tokens, badges with evidence,
stop mid-answer, feedback with an edit into the encrypted store, provenance; a corrupt model file
gives a dialog while the app stays usable; ``safemed-desktop --selftest`` exits 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from safemed_desktop.config import load_config, write_config_file

from .conftest import ask_question, open_workspace

pytestmark = [pytest.mark.gui, pytest.mark.model]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def real_window(qtbot, make_window, gui_home):
    win = make_window(load_config())
    open_workspace(qtbot, win)
    qtbot.waitUntil(lambda: win.loaded is not None, timeout=60000)
    qtbot.waitUntil(lambda: win.rubric is not None, timeout=10000)
    return win


def test_real_model_ask_stop_feedback_and_corrupt_model(qtbot, real_window, tmp_path):
    win = real_window
    assert win.loaded.identity.demo and win.demo_banner.isVisible()
    assert "CPU" in win.model_label.text() and win.model_label.toolTip()  # how, and why (plan.reason)

    # ask: tokens stream in live, then the record with one badge per signal
    tokens = []
    win.token_received.connect(tokens.append)
    win.ask_panel.set_text("What is the usual adult dose of paracetamol?")
    with qtbot.waitSignal(win.answer_saved, timeout=120000) as saved:
        win.ask_panel.ask_button.click()
        qtbot.waitUntil(lambda: win.answer_view.n_tokens > 0 or win.answer_view.record is not None, timeout=60000)
    rec = win.answer_view.record
    assert rec.id == saved.args[0] and rec.finish_reason in ("stop", "length")
    assert tokens and len(tokens) == rec.timings.completion_tokens
    assert len(win.answer_view.badges.badges) == len(rec.signals) > 0
    assert win.answer_view.answer.toPlainText() == rec.answer
    with_evidence = [b for b in win.answer_view.badges.badges if b.sig.evidence]
    badge = with_evidence[0] if with_evidence else win.answer_view.badges.badges[0]
    qtbot.mouseClick(badge, Qt.MouseButton.LeftButton)
    dlg = win.answer_view.evidence_dialog
    assert dlg.isVisible() and badge.sig.source in dlg.source.text()
    assert len(dlg.highlighted) == sum(1 for e in badge.sig.evidence if e.end > e.start)
    dlg.close()

    # feedback with an edit; the provenance panel shows it at once
    fp = win.feedback_panel
    for key in fp.groups:
        fp.set_score(key, 2)
    fp.flag_boxes["hallucination"].setChecked(True)
    fp.set_edited_text("Adults: 500 mg to 1 g every 4 to 6 hours, at most 4 g in 24 hours.")
    with qtbot.waitSignal(win.feedback_saved, timeout=20000):
        fp.submit_button.click()
    assert win.provenance_panel.audit_count() == 1
    assert "1 edit" in win.provenance_panel.edits_label.text()
    fut = win.executor.submit(lambda: (win.store.provenance(rec.id), win.store.verify()))
    qtbot.waitUntil(fut.done, timeout=10000)
    prov, report = fut.result()
    assert report.ok and prov["audits"][0]["flags"] == ["hallucination"]
    assert prov["edit_history"][1]["text"].startswith("Adults: 500 mg")

    # stop mid-answer (Esc) on the real model
    win.config = win.config.with_overrides({"max_tokens": 400}, source="test")
    win.service.config = win.config

    def stop_on_first(_ev):
        win.token_received.disconnect(stop_on_first)
        qtbot.keyClick(win.ask_panel.question, Qt.Key.Key_Escape)

    win.token_received.connect(stop_on_first)
    win.ask_panel.set_text("Explain in detail the causes, symptoms, diagnosis and treatment of type 2 diabetes in adults, "
                            "step by step.")
    win.activateWindow()  # Esc is a window shortcut: it acts in the active window
    qtbot.waitUntil(win.isActiveWindow, timeout=5000)
    with qtbot.waitSignal(win.answer_finished, timeout=120000) as done:
        win.ask_panel.ask_button.click()
    stopped = done.args[0]
    assert stopped.finish_reason == "cancelled" and stopped.timings.completion_tokens < 400
    assert win.ask_panel.ask_button.isEnabled()
    win.config = win.config.with_overrides({"max_tokens": 8}, source="test")  # keep the last answer short
    win.service.config = win.config

    # a corrupt model file: a clear dialog, the loaded model keeps working
    bad = tmp_path / "corrupt.gguf"
    bad.write_bytes(b"GGUF" + os.urandom(4096))
    write_config_file(win.config.paths.user_config_file,
                      {"threads": 2, "max_tokens": 16, "context_size": 1024, "model": str(bad)})
    with qtbot.waitSignal(win.model_failed, timeout=60000) as failed:
        win.apply_config(load_config())
    assert "corrupt.gguf" in failed.args[0] or "GGUF" in failed.args[0]
    box = win.last_error_box
    assert box is not None and box.isVisible() and box.text() == failed.args[0]
    box.button(QMessageBox.StandardButton.Ok).click()  # the clinician dismisses the dialog
    assert win.ask_panel.ask_button.isEnabled() and win.loaded.identity.demo
    assert win.config is win.service.config and win.config.max_tokens == 8  # the working config is kept
    ask_question(qtbot, win, "Is ibuprofen an NSAID?", timeout=120000)
    assert win.answer_view.record.model.id == rec.model.id


def test_real_model_provisional_medication_banner_before_the_stream_ends(qtbot, real_window):
    """On the real model (greedy decoding): the streaming safety check raises the medication banner while tokens
    still arrive, then the final assessment replaces it; the conversation keeps the turn."""
    from safemed_desktop.records import PatientContext

    win = real_window
    win.config = win.config.with_overrides({"max_tokens": 80, "temperature": 0.0}, source="test")
    win.service.config = win.config
    seen: list[tuple[bool, str]] = []  # (the answer was still streaming, banner text) at each banner change
    win.answer_view.banner_changed.connect(
        lambda text: seen.append((win.answer_view.record is None and win.controller.busy, text)))
    win.patient_panel.set_patient(PatientContext(age=40, allergies=("penicillin",)))
    tokens_after: list[int] = []
    win.token_received.connect(lambda _e: tokens_after.append(1) if streaming_alert_shown() else None)

    def streaming_alert_shown() -> bool:
        return any(live and "In the answer so far: Medication safety ALERT" in t for live, t in seen)

    with qtbot.waitSignal(win.answer_saved, timeout=180000):
        win.ask_panel.set_text("Is amoxicillin 500 mg three times daily right for acute otitis media?")
        win.ask_panel.ask_button.click()
    rec = win.answer_view.record
    assert rec.signal("medication_safety").level == "alert"  # the allergy, found in the answer
    streaming_alerts = [text for live, text in seen if live and "In the answer so far: Medication safety ALERT" in text]
    assert streaming_alerts, seen  # the banner rose before the record, from the streamed text
    assert tokens_after  # and tokens kept arriving after it (the default policy warns)
    assert "provisional" not in win.answer_view.banner_text and "Medication safety ALERT" in win.answer_view.banner_text
    qtbot.waitUntil(lambda: win.turn_strip.list.count() == 1, timeout=20000)


def test_selftest_entry_point_exits_zero(safemed_home):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "safemed_desktop.gui.app", "--selftest", "--timeout", "240"],
                          capture_output=True, text=True, env=env, cwd=str(ROOT), timeout=280)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "selftest: OK" in proc.stdout


def test_selftest_failure_exits_nonzero_with_reason(safemed_home):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "safemed_desktop.gui.app", "--selftest", "--timeout", "0.001"],
                          capture_output=True, text=True, env=env, cwd=str(ROOT), timeout=120)
    assert proc.returncode != 0
    assert "selftest: FAILED: timed out" in proc.stderr
