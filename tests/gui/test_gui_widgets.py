"""Widget-level tests: badges, evidence, answer view, patient, feedback, settings, theme, accessibility."""

from __future__ import annotations

import json
import tomllib

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractButton, QApplication, QComboBox, QLineEdit, QPlainTextEdit, QWidget

from safemed_desktop.records.answer import AnswerRecord, ModelIdentity
from safemed_desktop.config import load_config
from safemed_desktop.errors import InputError
from safemed_desktop.gui.answer_view import AnswerView, strip_tags
from safemed_desktop.gui.badges import BadgeRow
from safemed_desktop.gui.evidence_dialog import EvidenceDialog
from safemed_desktop.gui.feedback_panel import FeedbackPanel
from safemed_desktop.gui.patient_panel import PatientPanel
from safemed_desktop.gui.settings_dialog import SettingsDialog
from safemed_desktop.gui.theme import apply_theme, qss_path
from safemed_desktop.records.events import TokenEvent
from safemed_desktop.records.guard import GuardDecision
from safemed_desktop.records.patient import PatientContext
from safemed_desktop.rubric import load_rubric
from safemed_desktop.records.signal import Evidence, Signal

pytestmark = pytest.mark.gui

QUESTION = "Max dose of paracetamol for a patient on warfarin?"
ANSWER = "Give paracetamol 6 g daily with warfarin."


def _signals() -> list[Signal]:
    s = ANSWER.index("6 g")
    return [
        Signal("confidence", "caution", "Many low-probability tokens.", "model-logprobs", 0.4),
        Signal("medication_safety", "alert", "Dose above the daily maximum.", "formulary@2026.11.0", None,
               (Evidence("answer", s, s + 3, "6 g", "max_daily_dose", "6 g/day exceeds 4 g/day"),
                Evidence("question", QUESTION.index("warfarin"), QUESTION.index("warfarin") + 8, "warfarin",
                         "interaction", "warfarin + paracetamol: INR rise"))),
        Signal("scope", "ok", "Clinical question.", "scope@1"),
        Signal("red_flags", "not_assessed", "No patient context.", "red-flags@1"),
    ]


def _record(**kw) -> AnswerRecord:
    base = dict(question=QUESTION, patient=PatientContext(), answer=ANSWER,
                model=ModelIdentity("m", "ab" * 32, True, True, "think-answer"),
                reasoning_steps=["Check the dose.", "Check interactions."], signals=_signals())
    base.update(kw)
    return AnswerRecord(**base)


def test_badges_show_level_by_icon_text_and_tooltip(qtbot):
    row = BadgeRow()
    qtbot.addWidget(row)
    row.set_signals(_signals())
    assert [b.sig.name for b in row.badges] == ["confidence", "medication_safety", "scope", "red_flags"]
    med = row.badge("medication_safety")
    assert med.text() == "Medication safety: ALERT"  # text, not colour alone
    assert not med.icon().isNull()
    assert med.property("level") == "alert"
    assert "Dose above the daily maximum." in med.toolTip() and "formulary@2026.11.0" in med.toolTip()
    assert row.badge("red_flags").text() == "Red flags (urgent symptoms): Not assessed"  # clinician-facing names
    with qtbot.waitSignal(row.badge_activated) as blocker:
        qtbot.mouseClick(med, Qt.MouseButton.LeftButton)
    assert blocker.args[0].name == "medication_safety"


def test_evidence_dialog_highlights_spans_in_question_and_answer(qtbot):
    sig = _signals()[1]
    dlg = EvidenceDialog(sig, QUESTION, ANSWER)
    qtbot.addWidget(dlg)
    assert "formulary@2026.11.0" in dlg.source.text()
    assert dlg.list.count() == 2 and "max_daily_dose" in dlg.list.item(0).text()
    assert ("answer", ANSWER.index("6 g"), ANSWER.index("6 g") + 3, "6 g") in dlg.highlighted
    assert any(h[0] == "question" and h[3] == "warfarin" for h in dlg.highlighted)
    dlg.list.setCurrentRow(1)  # selecting an item selects its span
    assert dlg.question_view.textCursor().selectedText() == "warfarin"


def test_answer_view_streams_then_shows_steps_badges_and_collapse(qtbot):
    view = AnswerView()
    qtbot.addWidget(view)
    view.show()
    view.begin(QUESTION)
    toks = [("<think>", "reasoning"), ("1. Check", "reasoning"), (" dose", "reasoning"), ("</think>", "answer"),
            ("<answer>", "answer"), ("Give", "answer"), (" 6 g", "answer")]
    for i, (t, ph) in enumerate(toks):
        view.add_token(TokenEvent(t, -0.1, ph, i))
    qtbot.waitUntil(lambda: "Give 6 g" in view.answer.toPlainText(), timeout=2000)
    assert "1. Check dose" in view.live_reasoning.toPlainText()
    assert "<think>" not in view.live_reasoning.toPlainText()
    rec = _record(guard=GuardDecision(collapsed_by=("medication_safety",)))
    view.show_record(rec)
    assert view.steps.count() == 2 and view.steps.item(1).text() == "2. Check interactions."
    assert len(view.badges.badges) == 4
    assert view.collapsed and view.answer.isHidden()
    with qtbot.waitSignal(view.acknowledge_requested) as ack:
        view.ack_button.click()
    assert ack.args == [rec] and ack.args[0].guard.collapsed_by == ("medication_safety",)
    assert "Medication safety alert" in view.collapse_label.text()
    view.set_collapsed(False)
    assert not view.collapsed and view.answer.isVisible()
    with qtbot.waitSignal(view.step_selected) as step:
        view.steps.itemClicked.emit(view.steps.item(1))
    assert step.args == [1]
    view.reasoning_toggle.click()  # collapsible
    assert view.steps.isHidden()
    dlg = view.open_evidence(rec.signals[1])
    assert dlg.isVisible()


def test_answer_view_blocked_question_says_why(qtbot):
    view = AnswerView()
    qtbot.addWidget(view)
    view.show()
    rec = _record(blocked=True, block_reason="adversarial_input: prompt injection attempt", answer="",
                  reasoning_steps=[], finish_reason="blocked")
    view.show_record(rec)
    assert view.block_banner.isVisible()
    assert "prompt injection attempt" in view.block_banner.text()
    assert view.answer.isHidden() and not view.collapsed


def test_strip_tags_hides_partial_tags():
    assert strip_tags("<think>a</think><answer>b</ans") == "ab"
    assert strip_tags("x <") == "x "


def test_patient_panel_round_trip_and_file_errors(qtbot, tmp_path):
    panel = PatientPanel()
    qtbot.addWidget(panel)
    assert panel.patient().is_empty()
    p = PatientContext(age=72, sex="female", weight_kg=60.5, pregnant=False, egfr=25,
                       allergies=("penicillin",), medications=("warfarin", "metformin"))
    panel.set_patient(p)
    assert panel.patient() == p
    panel.medications.entry.setText("aspirin, ibuprofen")
    panel.medications.add_current()
    assert panel.patient().medications == ("warfarin", "metformin", "aspirin", "ibuprofen")
    good = tmp_path / "p.json"
    good.write_text(json.dumps({"age": 30, "pregnant": True, "allergies": ["latex"]}))
    assert panel.load_file(good)
    assert panel.patient() == PatientContext(age=30, pregnant=True, allergies=("latex",))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"age": "old"}))
    assert not panel.load_file(bad)
    assert panel.last_error_box is not None and "age must be a number" in panel.last_error_box.text()
    assert panel.patient().age == 30  # what was entered is kept
    assert not panel.load_file(tmp_path / "missing.json")
    assert "not found" in panel.last_error_box.text()


def test_feedback_panel_scores_steps_flags_and_edit(qtbot):
    rubric = load_rubric()
    panel = FeedbackPanel()
    qtbot.addWidget(panel)
    panel.set_rubric(rubric)
    assert set(panel.groups) == set(rubric.keys)
    assert {"unsafe", "hallucination", "outdated_guideline"} <= set(panel.flag_boxes)
    panel.set_answer("a1", ANSWER, 2)
    crit = rubric.criteria[0]
    panel.groups[crit.key].button(2).click()
    assert panel.anchor_labels[crit.key].text() == f"2: {crit.anchors[2]}"
    step_key = next(iter(panel.step_combos))
    panel.select_step(1)
    combo = panel.step_combos[step_key]
    combo.setCurrentIndex(combo.findData(4))
    panel.flag_boxes["hallucination"].setChecked(True)
    panel.comment.setPlainText("dose is wrong")
    dlg = panel.open_editor()
    dlg.editor.setPlainText("Give paracetamol at most 4 g daily; check INR with warfarin.")
    diff = dlg.diff.toPlainText()
    assert "Before: Give paracetamol 6 g daily" in diff and "After: Give paracetamol at most 4 g daily" in diff
    assert "---" not in diff and "+++" not in diff and "@@" not in diff  # readable, not a unified diff
    dlg.accept()
    assert panel.edited_text.startswith("Give paracetamol at most 4 g")
    with qtbot.waitSignal(panel.submitted) as sub:
        panel.submit_button.click()
    d = sub.args[0]
    assert d.answer_id == "a1" and d.scores == {crit.key: 2}
    assert d.step_scores == {2: {step_key: 4}}  # steps numbered from 1, as the store wants
    assert d.flags == ["hallucination"] and d.comment == "dose is wrong"
    panel.set_answer("a2", ANSWER, 0)  # a fresh draft per answer
    assert panel.draft().scores == {} and panel.draft().edited_text is None and not panel.step_box.isEnabled()


def test_settings_dialog_writes_user_config(qtbot, safemed_home):
    cfg = load_config()
    dlg = SettingsDialog(cfg, [])
    qtbot.addWidget(dlg)
    dlg.gpu_auto.setChecked(False)
    dlg.gpu_layers.setValue(7)
    dlg.context.setValue(4096)
    dlg.threads.setValue(2)
    dlg.temperature.setValue(0.5)
    dlg.idle.setValue(3)
    dlg.accept()
    data = tomllib.loads(cfg.paths.user_config_file.read_text())
    assert data["gpu_layers"] == 7 and data["context_size"] == 4096 and data["idle_lock_minutes"] == 3
    assert dlg.new_config.idle_lock_minutes == 3 and dlg.new_config.sources["threads"].startswith("user:")


def test_settings_dialog_rejects_bad_model_value(qtbot, safemed_home):
    cfg = load_config()
    dlg = SettingsDialog(cfg, [])
    qtbot.addWidget(dlg)
    dlg.model.setEditText("   ")
    dlg.accept()
    assert "model" in dlg.error.text() and not cfg.paths.user_config_file.exists()


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("scale", [1.25, 2.0])
def test_theme_applies_and_scales_fonts(qtbot, theme, scale):
    app = QApplication.instance()
    old_font, old_sheet = app.font(), app.styleSheet()
    try:
        apply_theme(app, theme, scale)
        assert app.styleSheet() == qss_path(theme).read_text()
        assert app.font().pointSizeF() == pytest.approx(10.0 * scale)
        row = BadgeRow()
        qtbot.addWidget(row)
        row.resize(300, 50)
        row.set_signals(_signals())
        row.show()
        # at large scales the badges wrap instead of being cut off
        assert row.layout().heightForWidth(300) >= max(b.sizeHint().height() for b in row.badges)
    finally:
        app.setFont(old_font)
        app.setStyleSheet(old_sheet)
    with pytest.raises(ValueError):
        apply_theme(app, "neon", 1.0)


def test_every_interactive_control_has_an_accessible_name(make_window, gui_config):
    win = make_window(gui_config, autostart=False)
    missing = []
    for w in win.findChildren(QWidget):
        if isinstance(w, (QAbstractButton, QLineEdit, QPlainTextEdit, QComboBox)):
            if w.objectName().startswith("qt_"):
                continue  # Qt's own internals (table corner button, menu-bar extension)
            if isinstance(w, QLineEdit) and isinstance(w.parent(), (QComboBox,)):
                continue  # an editable combo box's line edit is named by the combo
            if type(w).__name__ in ("QRadioButton", "QCheckBox") and w.text():
                continue  # their own text is the accessible name
            if w.parent() is not None and type(w.parent()).__name__ in ("QSpinBox", "QDoubleSpinBox", "QTabBar",
                                                                       "QScrollBar"):
                continue
            if not w.accessibleName() and not (isinstance(w, QAbstractButton) and w.text()):
                missing.append(f"{type(w).__name__}:{w.objectName()}")
    assert not missing, missing


def test_patient_panel_invalid_values_raise_input_error(qtbot):
    panel = PatientPanel()
    qtbot.addWidget(panel)
    panel.allergies.set_items(["  "])
    assert panel.patient().allergies == ()  # blank entries dropped
    with pytest.raises(InputError):
        PatientContext.from_dict({"sex": "robot"})


def test_lock_screen_first_run_validation_and_profiles(qtbot):
    from safemed_desktop.gui.lock_screen import ROLES, LockScreen

    ls = LockScreen()
    qtbot.addWidget(ls)
    ls.show()
    assert not ls.unlock_button.isEnabled()  # starting: the service is not ready yet
    ls.set_mode("create")
    assert ls.passphrase2.isVisible()
    ls.passphrase.setText("short")
    ls.passphrase2.setText("short")
    ls.unlock_button.click()
    assert "at least 8" in ls.message.text()
    ls.passphrase.setText("long enough 1")
    ls.passphrase2.setText("long enough 2")
    ls.unlock_button.click()
    assert "differ" in ls.message.text() and ls.passphrase2.text() == ""
    ls.passphrase2.setText("long enough 1")
    ls.admin_pin.setText("1357-admin")  # the store is created with its site administrator (name and PIN)
    with qtbot.waitSignal(ls.create_requested) as created:
        qtbot.keyClick(ls.passphrase2, Qt.Key.Key_Return)
    assert created.args == ["long enough 1"]
    ls.set_mode("unlock")
    assert ls.passphrase2.isHidden() and ls.passphrase.text() == ""
    with qtbot.waitSignal(ls.unlock_requested) as unlock:
        ls.passphrase.setText("pp-123456")
        ls.unlock_button.click()
    assert unlock.args == ["pp-123456"]
    ls.set_mode("profile")
    ls.set_profiles([{"id": "a", "display_name": "Dr A", "role": "nurse"},
                     {"id": "b", "display_name": "Dr B", "role": "pharmacist"}], select="b")
    assert ls.profiles.currentItem().text() == "Dr B (pharmacist)"
    with qtbot.waitSignal(ls.profile_chosen) as chosen:
        ls.continue_button.click()
    assert chosen.args == ["b"]
    from safemed_desktop.store import ROLES as STORE_ROLES

    assert tuple(ls.new_role.itemText(i) for i in range(ls.new_role.count())) == ROLES == STORE_ROLES
    ls.create_profile_button.click()
    assert "name" in ls.message.text()


def test_patient_panel_loads_fhir_with_sources_and_notes_off_the_gui_thread(qtbot, tmp_path, safemed_home):
    from pathlib import Path

    maria = Path(__file__).parents[1] / "fhir" / "data" / "synthea_maria.json"
    panel = PatientPanel()
    qtbot.addWidget(panel)
    panel.set_patient(PatientContext(age=30, allergies=("latex",)))
    with qtbot.waitSignal(panel.load_finished, timeout=20000) as done:
        panel.start_load(maria)
        assert panel.loading and not panel.load_button.isEnabled()
    assert done.args == [True] and not panel.loading and panel.load_button.isEnabled()
    p = panel.patient()
    assert (p.age, p.sex, p.weight_kg, p.egfr) == (74, "female", 61.5, 25)
    assert p.allergies == ("Penicillin V", "iodinated contrast media")
    assert "warfarin 5 mg once daily" in p.medications
    assert panel.egfr.toolTip() == "From Observation/obs-egfr-2026 (LOINC 98979-8, 2026-10-02)"
    assert panel.medications.list.item(0).toolTip().startswith("From MedicationRequest/medreq-warfarin")
    info = panel.import_info.toPlainText()
    assert not panel.import_info.isHidden()
    assert "eGFR: Observation/obs-egfr-2026" in info and "Creatinine 168 umol/L (1.9 mg/dL)" in info
    assert "! 'Amoxicillin 250 MG Oral Capsule' (MedicationRequest/medreq-amoxicillin-stopped) is stopped" in info
    # a file that cannot be used changes nothing: not half-applied
    two = json.loads(maria.read_text())
    other = json.loads(json.dumps(two["entry"][0]))
    other["resource"]["id"] = "other"
    two["entry"].append(other)
    bad = tmp_path / "two.json"
    bad.write_text(json.dumps(two))
    with qtbot.waitSignal(panel.load_finished, timeout=20000) as done:
        panel.start_load(bad)
    assert done.args == [False] and "holds 2 patients" in panel.last_error_box.text()
    assert panel.patient() == p and "Amoxicillin" in panel.import_info.toPlainText()
    panel.clear_button.click()
    assert panel.patient().is_empty() and panel.import_info.isHidden() and panel.egfr.toolTip() == ""
