"""Evidence of one trust signal: rule, detail, knowledge-pack version and the highlighted spans."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QLabel, QListWidget, QListWidgetItem, QTextBrowser,
                               QVBoxLayout, QWidget)

from ..records.signal import Evidence, Signal
from .badges import LEVEL_TEXT, signal_title
from .theme import icon

HIGHLIGHT = QColor("#ffd54f")


class EvidenceDialog(QDialog):
    """Non-modal dialog; selecting an evidence row selects its span in the question or the answer."""

    def __init__(self, sig: Signal, question: str, answer: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.sig = sig
        self.setWindowTitle(f"Evidence - {signal_title(sig.name)}")
        self.setAccessibleName(f"Evidence for the {signal_title(sig.name)} signal")
        self.resize(720, 620)
        lay = QVBoxLayout(self)
        head = QLabel(f"<b>{signal_title(sig.name)}: {LEVEL_TEXT[sig.level]}</b>")
        head.setAccessibleName("Signal level")
        lay.addWidget(head)
        self.summary = QLabel(sig.summary)
        self.summary.setWordWrap(True)
        lay.addWidget(self.summary)
        score = "" if sig.score is None else f"   Score: {sig.score:.2f}"
        self.source = QLabel(f"Source / pack version: {sig.source}{score}")
        self.source.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.source.setAccessibleName("Signal source and knowledge pack version")
        lay.addWidget(self.source)

        ev_label = QLabel("&Evidence (rule - what it found):")
        lay.addWidget(ev_label)
        self.list = QListWidget()
        self.list.setAccessibleName("Evidence items")
        ev_label.setBuddy(self.list)
        for ev in sig.evidence:
            item = QListWidgetItem(icon(f"level-{sig.level}"), f"[{ev.rule}] {ev.detail}  ({ev.target}: \u201c{ev.text}\u201d)")
            item.setData(Qt.ItemDataRole.UserRole, ev)
            self.list.addItem(item)
        if not sig.evidence:
            self.list.addItem("No span-level evidence for this signal.")
        lay.addWidget(self.list, 1)

        lay.addWidget(QLabel("Question:"))
        self.question_view = QTextBrowser()
        self.question_view.setAccessibleName("Question with highlighted evidence")
        self.question_view.setPlainText(question)
        lay.addWidget(self.question_view, 1)
        lay.addWidget(QLabel("Answer:"))
        self.answer_view = QTextBrowser()
        self.answer_view.setAccessibleName("Answer with highlighted evidence")
        self.answer_view.setPlainText(answer)
        lay.addWidget(self.answer_view, 2)
        self.highlighted: list[tuple[str, int, int, str]] = []
        for ev in sig.evidence:
            self._highlight(ev)
        self.list.currentItemChanged.connect(self._select)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        if sig.evidence:
            self.list.setCurrentRow(0)

    def _view(self, target: str) -> QTextBrowser:
        return self.question_view if target == "question" else self.answer_view

    def _highlight(self, ev: Evidence) -> None:
        view = self._view(ev.target)
        doc_len = view.document().characterCount() - 1
        start, end = max(0, min(ev.start, doc_len)), max(0, min(ev.end, doc_len))
        if end <= start:
            return
        cur = QTextCursor(view.document())
        cur.setPosition(start)
        cur.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
        fmt = QTextCharFormat()
        fmt.setBackground(HIGHLIGHT)
        fmt.setForeground(QColor("#000000"))
        fmt.setFontUnderline(True)  # not colour alone
        cur.mergeCharFormat(fmt)
        self.highlighted.append((ev.target, start, end, cur.selectedText()))

    def _select(self, item: QListWidgetItem | None, _prev: QListWidgetItem | None = None) -> None:
        ev = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        if not isinstance(ev, Evidence):
            return
        view = self._view(ev.target)
        cur = view.textCursor()
        cur.setPosition(ev.start)
        cur.setPosition(ev.end, QTextCursor.MoveMode.KeepAnchor)
        view.setTextCursor(cur)
        view.ensureCursorVisible()
