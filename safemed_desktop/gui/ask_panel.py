"""The question box: Ctrl+Enter asks, Esc stops."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal as QtSignal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget


class AskPanel(QWidget):
    ask_requested = QtSignal(str)
    stop_requested = QtSignal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lab = QLabel("&Question (Ctrl+Enter to ask, Esc to stop):")
        lay.addWidget(lab)
        self.question = QPlainTextEdit()
        self.question.setAccessibleName("Clinical question")
        self.question.setPlaceholderText("e.g. Maximum daily dose of paracetamol for a 60 kg adult with eGFR 25?")
        self.question.setTabChangesFocus(True)
        lab.setBuddy(self.question)
        lay.addWidget(self.question, 1)
        row = QHBoxLayout()
        self.ask_button = QPushButton("&Ask")
        self.ask_button.setObjectName("primary")
        self.ask_button.setAccessibleName("Ask the question")
        self.ask_button.setToolTip("Ask (Ctrl+Enter)")
        self.stop_button = QPushButton("&Stop")
        self.stop_button.setAccessibleName("Stop the answer")
        self.stop_button.setToolTip("Stop generating (Esc)")
        self.stop_button.setEnabled(False)
        row.addWidget(self.ask_button)
        row.addWidget(self.stop_button)
        row.addStretch(1)
        lay.addLayout(row)
        self.ask_button.clicked.connect(self._ask)
        self.stop_button.clicked.connect(self.stop_requested)
        ctx = Qt.ShortcutContext.WindowShortcut
        for seq in ("Ctrl+Return", "Ctrl+Enter"):
            QShortcut(QKeySequence(seq), self, activated=self._ask, context=ctx)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, activated=self._stop, context=ctx)
        self._model_ready = False
        self._busy = False
        self._refresh()

    def text(self) -> str:
        return self.question.toPlainText()

    def set_text(self, text: str) -> None:
        self.question.setPlainText(text)

    def set_model_ready(self, ready: bool) -> None:
        self._model_ready = ready
        self._refresh()

    def set_busy(self, busy: bool) -> None:
        self._busy = busy
        self._refresh()

    def _refresh(self) -> None:
        self.ask_button.setEnabled(self._model_ready and not self._busy)
        self.stop_button.setEnabled(self._busy)
        self.ask_button.setToolTip("Ask (Ctrl+Enter)" if self._model_ready else "Waiting for the model to load")

    def _ask(self) -> None:
        if self.ask_button.isEnabled() and self.isVisible():
            self.ask_requested.emit(self.text())

    def _stop(self) -> None:
        if self._busy:
            self.stop_requested.emit()
