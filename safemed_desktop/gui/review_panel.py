"""Review mode: a reviewer scores a blinded study, case by case, with the keyboard.

The panel shows the signed-in reviewer's queue, the vignette, answers A and B side by side (both in the
neutral format the service gives; nothing here knows or shows which is the model's), one row of 1-5 scores
per rubric criterion and answer with the criterion's anchors visible, a comment, and the progress.

Keyboard: Tab / Shift+Tab move between score cells, 1-5 score the focused cell (arrow keys step it),
Ctrl+Enter submits and opens the next case, Ctrl+PgDown / Ctrl+PgUp move to the next / previous case.
A submitted review is final (read-only when revisited). The panel never receives another reviewer's scores.

Every store call runs through ``run(fn, *args, on_done=..., on_error=...)``: the window's ``StoreOps.run``
(the store worker thread; callbacks on the GUI thread), so the GUI thread never waits on the store.
``case_shown`` is emitted once a case is on screen.
"""

from __future__ import annotations

import html
from typing import Any, Callable

from PySide6.QtCore import Qt, Signal as QtSignal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QButtonGroup, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QListWidget,
                               QListWidgetItem, QPlainTextEdit, QProgressBar, QPushButton, QScrollArea, QSplitter,
                               QTextBrowser, QToolButton, QVBoxLayout, QWidget)

from ..errors import SafeMedError


class ScoreCell(QWidget):
    """Five toggle buttons 1-5 for one criterion of one answer; keys 1-5 (and arrows) set it when focused."""

    changed = QtSignal()

    def __init__(self, label: str, anchors: dict[int, str], parent: QWidget | None = None):
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAccessibleName(label)
        self.setObjectName("scoreCell")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet(self._STYLE)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(2, 0, 2, 0)
        lay.setSpacing(2)
        self.group = QButtonGroup(self)
        self.group.setExclusive(True)
        self.buttons: dict[int, QToolButton] = {}
        for n in range(1, 6):
            b = QToolButton()
            b.setText(str(n))
            b.setCheckable(True)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            b.setToolTip(f"{n}: {anchors.get(n, '')}")
            self.group.addButton(b, n)
            self.buttons[n] = b
            lay.addWidget(b)
        self.group.idClicked.connect(lambda _: self.changed.emit())

    @property
    def value(self) -> int | None:
        v = self.group.checkedId()
        return v if v > 0 else None

    def set_value(self, value: int | None) -> None:
        if value is None:
            self.group.setExclusive(False)
            for b in self.buttons.values():
                b.setChecked(False)
            self.group.setExclusive(True)
        else:
            self.buttons[value].setChecked(True)
        self.changed.emit()

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt)
        key = event.key()
        if Qt.Key.Key_1 <= key <= Qt.Key.Key_5 and self.isEnabled():
            self.set_value(key - Qt.Key.Key_0)
            return
        if key in (Qt.Key.Key_Right, Qt.Key.Key_Up) and self.isEnabled():
            self.set_value(min(5, (self.value or 0) + 1))
            return
        if key in (Qt.Key.Key_Left, Qt.Key.Key_Down) and self.isEnabled():
            self.set_value(max(1, (self.value or 2) - 1))
            return
        super().keyPressEvent(event)

    _STYLE = ("#scoreCell { border: 2px solid transparent; border-radius: 4px; } "
              "QToolButton:checked { background: #4472c4; color: white; font-weight: bold; }")
    _FOCUSED = _STYLE.replace("transparent", "#4472c4")

    def focusInEvent(self, event) -> None:  # noqa: N802
        self.setStyleSheet(self._FOCUSED)
        super().focusInEvent(event)

    def focusOutEvent(self, event) -> None:  # noqa: N802
        self.setStyleSheet(self._STYLE)
        super().focusOutEvent(event)


def run_now(fn: Callable[..., Any], *args: Any, on_done: Callable[[Any], None] | None = None,
            on_error: Callable[[BaseException], None] | None = None, **_: Any) -> None:
    """A ``StoreOps.run`` stand-in that runs on the calling thread (scripts; tests use the real one)."""
    try:
        result = fn(*args)
    except SafeMedError as exc:
        if on_error is None:
            raise
        on_error(exc)
        return
    if on_done is not None:
        on_done(result)


def load_study(service: Any, store: Any, study: str) -> tuple[list[str], Any]:
    """The study's criteria and rubric (run it on the store worker before building a panel)."""
    status = service.study_status(store, study)
    return list(status["criteria"]), service.load_rubric(status["rubric"])


class ReviewPanel(QWidget):
    """Blinded review of one study by the store's signed-in reviewer (see the module docstring)."""

    submitted = QtSignal(str)  # case id
    case_shown = QtSignal(str)  # case id
    failed = QtSignal(str)  # a one-line error

    def __init__(self, service: Any, store: Any, study: str, criteria: list[str], rubric: Any,
                 run: Callable[..., None] | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.service, self.store, self.study, self.rubric = service, store, study, rubric
        self.run = run or run_now
        self.case = None
        self.cases: list[str] = []
        self.done: set[str] = set()
        self._sending = False
        self.error = QLabel()
        self.error.setStyleSheet("color: #c62828")
        self.error.setWordWrap(True)

        root = QVBoxLayout(self)
        top = QHBoxLayout()
        self.title = QLabel(f"Study <b>{html.escape(study)}</b>: blinded review")
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m scored")
        top.addWidget(self.title, 1)
        top.addWidget(self.progress, 1)
        root.addLayout(top)
        root.addWidget(self.error)

        split = QSplitter(Qt.Orientation.Horizontal)
        self.queue = QListWidget()
        self.queue.setAccessibleName("Review queue")
        self.queue.setMaximumWidth(160)
        self.queue.currentRowChanged.connect(self._row_changed)
        split.addWidget(self.queue)

        right = QWidget()
        rl = QVBoxLayout(right)
        self.case_label = QLabel()
        rl.addWidget(self.case_label)
        self.vignette = QTextBrowser()
        self.vignette.setAccessibleName("Vignette")
        self.vignette.setMaximumHeight(120)
        rl.addWidget(self.vignette)
        answers = QHBoxLayout()
        self.answer_a, self.answer_b = QTextBrowser(), QTextBrowser()
        for side, box in (("A", self.answer_a), ("B", self.answer_b)):
            g = QGroupBox(f"Answer {side}")
            gl = QVBoxLayout(g)
            box.setAccessibleName(f"Answer {side}")
            box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            gl.addWidget(box)
            answers.addWidget(g)
        rl.addLayout(answers, 2)

        grid_host = QWidget()
        grid = QGridLayout(grid_host)
        grid.addWidget(QLabel("<b>Criterion</b>"), 0, 0)
        grid.addWidget(QLabel("<b>Answer A</b>"), 0, 1)
        grid.addWidget(QLabel("<b>Answer B</b>"), 0, 2)
        self.cells: dict[tuple[str, str], ScoreCell] = {}
        self.anchor_labels: dict[str, QLabel] = {}
        row = 1
        for key in criteria:
            crit = rubric.criterion(key)
            grid.addWidget(QLabel(f"<b>{html.escape(crit.title)}</b>"), row, 0)
            for col, side in ((1, "A"), (2, "B")):
                cell = ScoreCell(f"{crit.title}, answer {side}", crit.anchors)
                cell.changed.connect(self._update_submit)
                self.cells[(key, side)] = cell
                grid.addWidget(cell, row, col)
            anchors = QLabel(" · ".join(f"<b>{n}</b> {html.escape(t)}" for n, t in sorted(crit.anchors.items())))
            anchors.setWordWrap(True)
            anchors.setStyleSheet("color: #555; font-size: 11px")
            self.anchor_labels[key] = anchors
            grid.addWidget(anchors, row + 1, 0, 1, 3)
            row += 2
        # Tab order: A then B for each criterion, top to bottom, then the comment
        self.order: list[ScoreCell] = [self.cells[(key, side)] for key in criteria for side in ("A", "B")]
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(grid_host)
        rl.addWidget(scroll, 3)
        self.comment = QPlainTextEdit()
        self.comment.setPlaceholderText("Comment (optional)")
        self.comment.setTabChangesFocus(True)
        self.comment.setMaximumHeight(60)
        rl.addWidget(self.comment)
        buttons = QHBoxLayout()
        self.prev_button = QPushButton("◀ Previous")
        self.next_button = QPushButton("Next ▶")
        self.submit_button = QPushButton("Submit scores (Ctrl+Enter)")
        self.prev_button.clicked.connect(lambda: self.move(-1))
        self.next_button.clicked.connect(lambda: self.move(+1))
        self.submit_button.clicked.connect(self.submit)
        buttons.addWidget(self.prev_button)
        buttons.addWidget(self.next_button)
        buttons.addStretch(1)
        buttons.addWidget(self.submit_button)
        rl.addLayout(buttons)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        root.addWidget(split, 1)

        for a, b in zip(self.order, self.order[1:] + [self.comment]):
            QWidget.setTabOrder(a, b)
        for seq in ("Ctrl+Return", "Ctrl+Enter"):
            QShortcut(QKeySequence(seq), self, activated=self.submit)
        QShortcut(QKeySequence("Ctrl+PgDown"), self, activated=lambda: self.move(+1))
        QShortcut(QKeySequence("Ctrl+PgUp"), self, activated=lambda: self.move(-1))
        self._update_submit()
        self.refresh()

    # ---------------------------------------------------------------- loading (store work on the worker)
    def refresh(self, select: str | None = None) -> None:
        """Reload the queue (after a submission) and show ``select`` or the first unscored case."""
        self.run(self.service.review_queue, self.store, self.study,
                 on_done=lambda q: self._queue_loaded(q, select), on_error=self._fail)

    def _queue_loaded(self, q: Any, select: str | None) -> None:
        self.done = set(q.done)
        self.cases = list(q.cases)
        self.progress.setRange(0, q.n_cases)
        self.progress.setValue(len(q.done))
        self.queue.blockSignals(True)
        self.queue.clear()
        for cid in self.cases:
            QListWidgetItem(("✓ " if cid in self.done else "• ") + cid, self.queue)
        target = select if select in self.cases else next((c for c in self.cases if c not in self.done), None)
        if target is None and self.cases:
            target = self.cases[0]
        if target is not None:
            self.queue.setCurrentRow(self.cases.index(target))
        self.queue.blockSignals(False)
        if target is not None:
            self.show_case(target)

    def _row_changed(self, row: int) -> None:
        if 0 <= row < len(self.cases):
            self.show_case(self.cases[row])

    def show_case(self, case_id: str) -> None:
        service, store, study = self.service, self.store, self.study

        def load() -> tuple[Any, dict[str, Any] | None]:
            case = service.blinded_case(store, study, case_id)
            mine = next((r for r in service.my_reviews(store, study) if r["case_id"] == case_id), None) \
                if case.reviewed else None
            return case, mine

        self.run(load, on_done=self._display, on_error=self._fail)

    def _display(self, loaded: tuple[Any, dict[str, Any] | None]) -> None:
        case, mine = loaded
        self.case = case
        self.error.clear()
        self.case_label.setText(f"Case <b>{html.escape(case.case_id)}</b> ({case.position + 1} of {case.n_cases})"
                                + (" · <i>already scored (final)</i>" if case.reviewed else ""))
        self.vignette.setPlainText(case.vignette + (f"\n\nPatient: {case.patient_summary}"
                                                     if case.patient_summary else ""))
        self.answer_a.setPlainText(case.answer_a)
        self.answer_b.setPlainText(case.answer_b)
        for (key, side), cell in self.cells.items():
            cell.set_value(mine[f"scores_{side.lower()}"].get(key) if mine else None)
            cell.setEnabled(not case.reviewed)
        self.comment.setPlainText((mine or {}).get("comment") or "")
        self.comment.setReadOnly(case.reviewed)
        self._update_submit()
        if not case.reviewed and self.order:
            self.order[0].setFocus()
        self.case_shown.emit(case.case_id)

    def _update_submit(self) -> None:
        ready = (self.case is not None and not self.case.reviewed and not self._sending
                 and all(c.value for c in self.cells.values()))
        self.submit_button.setEnabled(bool(ready))

    def scores(self, side: str) -> dict[str, int]:
        return {key: cell.value for (key, s), cell in self.cells.items() if s == side and cell.value}

    # ---------------------------------------------------------------- actions
    def submit(self) -> bool:
        """Send the scores (on the store worker); False when they are incomplete or a case is final."""
        if self.case is None or not self.submit_button.isEnabled():
            if self.case is not None and not self.case.reviewed and not self._sending:
                self.error.setText("Score every criterion for both answers first.")
            return False
        cid = self.case.case_id
        self._sending = True
        self._update_submit()

        def sent(_: Any) -> None:
            self._sending = False
            self.submitted.emit(cid)
            self.refresh()

        def failed(exc: BaseException) -> None:
            self._sending = False
            self._fail(exc)
            self._update_submit()

        self.run(self.service.submit_review, self.store, self.study, cid, self.scores("A"), self.scores("B"),
                 self.comment.toPlainText().strip() or None, on_done=sent, on_error=failed)
        return True

    def move(self, step: int) -> None:
        if not self.cases:
            return
        row = max(0, min(len(self.cases) - 1, self.queue.currentRow() + step))
        self.queue.setCurrentRow(row)

    def _fail(self, exc: BaseException) -> None:
        text = str(exc) if isinstance(exc, SafeMedError) else f"unexpected error: {exc}"
        self.error.setText(text)
        self.failed.emit(text)
