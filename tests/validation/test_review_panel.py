"""The review mode (pytest-qt, offscreen) on a real store with scripted answers: keyboard scoring, anchors,
progress, final reviews, and nothing that reveals the source. Store calls run on the real store worker
(``StoreOps``), as in the window."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QApplication, QLabel  # noqa: E402

from safemed_desktop.gui.ops import StoreOps  # noqa: E402
from safemed_desktop.gui.review_panel import ReviewPanel, load_study  # noqa: E402
from safemed_desktop.gui.workers import StoreExecutor  # noqa: E402

from .conftest import CASES12, as_, link_scripted_answers  # noqa: E402

pytestmark = pytest.mark.gui


@pytest.fixture
def panel(qtbot, service, store, people):
    as_(store, people["lead"])
    service.create_study(store, "gui", str(CASES12), criteria=["medical_correctness", "clinical_utility"])
    link_scripted_answers(store, "gui", lambda c: f"<answer>The **model** view of {c['case_id']}.</answer>")
    as_(store, people["r1"])
    executor = StoreExecutor()
    p = ReviewPanel(service, store, "gui", *load_study(service, store, "gui"), run=StoreOps(executor).run)
    qtbot.addWidget(p)
    p.resize(1100, 800)
    p.show()
    qtbot.waitExposed(p)
    p.activateWindow()
    qtbot.waitUntil(p.isActiveWindow, timeout=5000)
    qtbot.waitUntil(lambda: p.case is not None, timeout=10000)
    yield p
    executor.shutdown()


def shown(qtbot, panel, case_id: str):
    return qtbot.waitSignal(panel.case_shown, timeout=10000, check_params_cb=lambda cid: cid == case_id)


def score_with_keyboard(qtbot, panel, values: list[int]) -> None:
    """Type one digit per score cell, moving with Tab, starting from the first cell."""
    panel.order[0].setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is panel.order[0], timeout=3000)
    for cell, v in zip(panel.order, values):
        assert QApplication.focusWidget() is cell
        qtbot.keyClick(cell, getattr(Qt.Key, f"Key_{v}"))
        qtbot.keyClick(cell, Qt.Key.Key_Tab)


def test_keyboard_review_flow(qtbot, panel, service, store, people):
    assert panel.progress.maximum() == 12 and panel.progress.value() == 0
    assert panel.case.case_id == "c01" and not panel.submit_button.isEnabled()
    for key, label in panel.anchor_labels.items():  # the anchors are on screen, not only in tooltips
        crit = panel.rubric.criterion(key)
        assert label.isVisible() and crit.anchors[1][:30] in label.text() and crit.anchors[5][:30] in label.text()
    # what the reviewer can read: no label, title or tooltip says which answer is the model's
    visible = " ".join(w.text() for w in panel.findChildren(QLabel)) + panel.title.text()
    assert "model" not in visible.lower()
    assert "The model view of c01." in (panel.answer_a.toPlainText(), panel.answer_b.toPlainText())
    score_with_keyboard(qtbot, panel, [4, 3, 2, 5])
    assert panel.scores("A") == {"medical_correctness": 4, "clinical_utility": 2}
    assert panel.scores("B") == {"medical_correctness": 3, "clinical_utility": 5}
    qtbot.keyClick(panel.order[0], Qt.Key.Key_Up)  # arrows step a score
    assert panel.scores("A")["medical_correctness"] == 5
    panel.comment.setPlainText("clear")
    with qtbot.waitSignal(panel.submitted, timeout=10000) as sig, shown(qtbot, panel, "c02"):
        qtbot.keyClick(QApplication.focusWidget() or panel, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert sig.args == ["c01"]
    assert panel.progress.value() == 1 and panel.case.case_id == "c02"  # moves on to the next case
    (mine,) = service.my_reviews(store, "gui")
    assert mine["scores_a"] == {"medical_correctness": 5, "clinical_utility": 2} and mine["comment"] == "clear"
    # Ctrl+PgUp goes back: the submitted review is shown read-only (final)
    with shown(qtbot, panel, "c01"):
        qtbot.keyClick(panel, Qt.Key.Key_PageUp, Qt.KeyboardModifier.ControlModifier)
    assert panel.case.case_id == "c01" and panel.case.reviewed
    assert not any(c.isEnabled() for c in panel.cells.values()) and not panel.submit_button.isEnabled()
    assert panel.scores("B") == {"medical_correctness": 3, "clinical_utility": 5}
    assert panel.queue.item(0).text().startswith("✓")
    with shown(qtbot, panel, "c02"):
        qtbot.keyClick(panel, Qt.Key.Key_PageDown, Qt.KeyboardModifier.ControlModifier)
    # incomplete scores cannot be submitted
    score_with_keyboard(qtbot, panel, [4, 3])
    assert not panel.submit_button.isEnabled() and not panel.submit()
    assert "Score every criterion" in panel.error.text()


def test_reviewer_sees_only_own_scores_in_the_panel(qtbot, service, store, people, panel):
    as_(store, people["r2"])
    service.submit_review(store, "gui", "c01", {"medical_correctness": 1, "clinical_utility": 1},
                          {"medical_correctness": 1, "clinical_utility": 1})
    as_(store, people["r1"])
    with shown(qtbot, panel, "c01"):
        panel.refresh()
    assert panel.progress.value() == 0 and panel.case.case_id == "c01" and not panel.case.reviewed
    assert all(c.value is None for c in panel.cells.values())  # reviewer 2's ones are nowhere


def test_open_review_from_the_menu_path(qtbot, service, store, people, monkeypatch):
    from PySide6.QtWidgets import QInputDialog, QWidget

    from safemed_desktop.gui.review_dialog import open_review

    as_(store, people["lead"])
    service.create_study(store, "menu", str(CASES12), criteria=["clinical_utility"])
    link_scripted_answers(store, "menu")
    as_(store, people["r1"])
    asked = []
    monkeypatch.setattr(QInputDialog, "getItem", lambda *a, **k: (asked.append(a[3]) or "menu", True))
    parent = QWidget()
    qtbot.addWidget(parent)
    executor = StoreExecutor()
    opened = []
    open_review(parent, service, store, StoreOps(executor).run, on_open=opened.append)
    qtbot.waitUntil(lambda: bool(opened), timeout=10000)
    dlg = opened[0]
    qtbot.addWidget(dlg)
    assert asked == [["menu"]] and dlg.windowTitle() == "Blinded review: menu"
    qtbot.waitUntil(lambda: dlg.panel.case is not None, timeout=10000)
    assert list(dlg.panel.anchor_labels) == ["clinical_utility"] and dlg.panel.case.case_id == "c01"
    executor.shutdown()
