"""Layout that fits: at 1024x700, 1920x1080 and 2560x1440 (and at 200 % text at 1024x700) no visible label,
button or editor of the workspace is cut off sideways, whichever side tab is open; panels wrap and scroll
vertically. Real widgets, filled with a realistic answer, rubric, provenance and conversation list."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import (QAbstractButton, QAbstractScrollArea, QApplication, QComboBox, QLabel, QLineEdit,
                               QPlainTextEdit, QTextEdit, QWidget)

from safemed_desktop.records import AnswerRecord, ModelIdentity, PatientContext, Signal
from safemed_desktop.records.signal import SIGNAL_NAMES

pytestmark = pytest.mark.gui

LONG_ANSWER = ("Ibuprofen is not advised for this patient: with an eGFR of 25 mL/min/1.73m2 and warfarin, an NSAID "
               "raises the risk of acute kidney injury and of bleeding. Prefer paracetamol 500 mg to 1 g every 6 hours, "
               "at most 3 g a day, and review the INR. ") * 3


def _record() -> AnswerRecord:
    sigs = [Signal(name, "alert" if name == "medication_safety" else "caution",
                   f"{name}: a summary long enough to wrap across the width of a narrow window, as real ones do.",
                   "pack@2026.11.0") for name in SIGNAL_NAMES]
    return AnswerRecord(question="Can this 78-year-old on warfarin with eGFR 25 take ibuprofen 400 mg three times a day "
                                 "for knee pain, and for how long?",
                        patient=PatientContext(age=78, sex="female", weight_kg=58, egfr=25,
                                               allergies=("penicillin",), medications=("warfarin", "metformin")),
                        model=ModelIdentity("smollm2-135m-instruct-q4_1", "ab" * 32, True, True, "plain"),
                        answer=LONG_ANSWER, signals=sigs, prompt_template_hash="cd" * 32,
                        pack_versions={"formulary": "2026.11.0", "guidelines": "2026.10.1", "red_flags": "2026.09.0"},
                        rubric="safemed-cts@1")


@pytest.fixture
def filled_window(make_window, gui_config):
    from safemed_desktop.service import SafeMedService

    win = make_window(gui_config, autostart=False)
    win.stack.setCurrentWidget(win.workspace)
    rec = _record()
    win.flow.thread = [rec]
    win.turn_strip.set_turns("Can this 78-year-old on warfarin take ibuprofen?", [rec], rec.id)
    win.answer_view.show_record(rec, turn_title="Turn 1 of 1")
    win.patient_panel.set_patient(rec.patient)
    win.ask_panel.set_text("And if she also takes aspirin 75 mg daily?")
    win.feedback_panel.set_rubric(SafeMedService.load_rubric())
    win.feedback_panel.set_answer(rec.id, rec.answer, 0)
    win.provenance_panel.show_record(rec)
    win.conversation_list.set_rows([{"id": f"c{i}", "title": "Ibuprofen for a 78-year-old on warfarin with eGFR 25 "
                                     "and knee pain", "created_at": 1.7e9, "updated_at": 1.7e9 + i, "n_turns": 3,
                                     "worst_level": "alert", "blocked": False, "incomplete": True} for i in range(12)])
    return win


def _container(w: QWidget, top: QWidget) -> QWidget:
    """The widget whose area ``w`` must fit in: the nearest scroll area's viewport, else the window."""
    p = w.parentWidget()
    while p is not None and p is not top:
        if isinstance(p, QAbstractScrollArea):
            return p.viewport()
        p = p.parentWidget()
    return top


def clipped(win) -> list[str]:
    """Visible controls cut off sideways (any container), or vertically outside a scroll area."""
    bad = []
    for w in win.workspace.findChildren(QWidget):
        if not isinstance(w, (QLabel, QAbstractButton, QLineEdit, QComboBox, QPlainTextEdit, QTextEdit)):
            continue
        if not w.isVisibleTo(win) or w.objectName().startswith("qt_"):
            continue
        box = _container(w, win)
        if box is w or isinstance(w.parentWidget(), QAbstractScrollArea):
            continue
        tl = w.mapTo(box, w.rect().topLeft())
        br = w.mapTo(box, w.rect().bottomRight())
        name = f"{type(w).__name__}:{w.accessibleName() or (w.text() if hasattr(w, 'text') else '')[:40]!r}"
        if tl.x() < -1 or br.x() > box.width() + 1:
            bad.append(f"{name} spans x {tl.x()}..{br.x()} in a {box.width()} px wide {type(box).__name__}")
        elif box is win and (tl.y() < -1 or br.y() > box.height() + 1):
            bad.append(f"{name} spans y {tl.y()}..{br.y()} in a {box.height()} px high window")
        elif isinstance(w, QLabel) and w.text() and not w.wordWrap() and w.width() + 2 < w.sizeHint().width():
            bad.append(f"{name} is {w.width()} px wide, its text needs {w.sizeHint().width()} px")
        elif isinstance(w, QAbstractButton) and w.text() and w.width() + 2 < w.minimumSizeHint().width():
            bad.append(f"{name} is {w.width()} px wide, needs {w.minimumSizeHint().width()} px")
    return bad


@pytest.mark.parametrize("size, scale", [((1024, 700), 1.0), ((1920, 1080), 1.0), ((2560, 1440), 1.0),
                                         ((1024, 700), 2.0)])
def test_nothing_is_clipped_sideways(qtbot, filled_window, size, scale):
    from safemed_desktop.gui.theme import apply_theme

    app = QApplication.instance()
    old_font, old_sheet = app.font(), app.styleSheet()
    win = filled_window
    try:
        apply_theme(app, "light", scale)
        win.resize(*size)
        for tab in range(win.side_tabs.count()):
            win.side_tabs.setCurrentIndex(tab)
            qtbot.wait(30)
            app.processEvents()
            assert (win.width(), win.height()) == size
            bad = clipped(win)
            assert not bad, f"at {size} and {scale:.0%} text, tab {win.side_tabs.tabText(tab)!r}: " + "; ".join(bad[:8])
    finally:
        app.setFont(old_font)
        app.setStyleSheet(old_sheet)


def test_default_size_fits_the_available_screen(make_window, gui_config):
    from safemed_desktop.gui.main_window import available_size, default_size

    win = make_window(gui_config, autostart=False)
    aw, ah = available_size(win)
    w, h = default_size(win)
    assert w <= max(640, aw) and h <= max(480, ah) and (w, h) <= (1360, 860)


def test_geometry_and_splitters_are_remembered_per_profile(make_window, gui_config, qtbot):
    from safemed_desktop.service import SafeMedService

    service = SafeMedService(gui_config)
    first = make_window(gui_config, autostart=False)
    first.service = service
    first.stack.setCurrentWidget(first.workspace)
    first.resize(first.minimumSizeHint().width(), 560)  # fits the offscreen screen: nothing is shrunk
    qtbot.wait(50)
    saved = {}
    for who, left in (("profile-a", [120, 320]), ("profile-b", [260, 180])):
        first.session.clinician_id = who
        first.left_splitter.setSizes(left)
        qtbot.wait(50)
        saved[who] = first.left_splitter.sizes()
        first.save_view_state()
    assert saved["profile-a"] != saved["profile-b"]
    state_file = gui_config.paths.user_config_dir / "window-state.json"
    assert state_file.stat().st_mode & 0o777 == 0o600

    for who in ("profile-a", "profile-b"):
        second = make_window(gui_config, autostart=False)
        second.service = service
        second.stack.setCurrentWidget(second.workspace)
        second.session.clinician_id = who
        second.restore_view_state()
        qtbot.wait(50)
        assert second.height() == 560
        assert all(abs(a - b) <= 2 for a, b in zip(second.left_splitter.sizes(), saved[who])), who
