"""The answer view: live token stream, numbered reasoning steps (collapsible), final answer, badges,
guard banners (blocked question, answer collapsed behind the alert of whichever signals the guard names)."""

from __future__ import annotations

import re
import time

from PySide6.QtCore import Qt, QTimer, Signal as QtSignal
from PySide6.QtWidgets import (QFrame, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPlainTextEdit,
                               QPushButton, QTextBrowser, QToolButton, QVBoxLayout, QWidget)

from ..records.answer import AnswerRecord
from ..records.events import TokenEvent
from ..records.signal import Signal
from .badges import BadgeRow, signal_title
from .evidence_dialog import EvidenceDialog

_TAG = re.compile(r"</?(think|answer)>")
_PARTIAL_TAG = re.compile(r"<(/?[a-z]{0,6})?$")
FLUSH_MS = 40  # tokens are painted in batches: at most ~25 repaints a second


def strip_tags(text: str) -> str:
    """Remove <think>/<answer> tags (and a tag still being streamed at the end) for display."""
    return _PARTIAL_TAG.sub("", _TAG.sub("", text))


class AnswerView(QWidget):
    step_selected = QtSignal(int)  # 0-based reasoning step index (for per-step scores)
    acknowledge_requested = QtSignal(object)  # the AnswerRecord whose collapsing alerts are acknowledged
    tokens_per_second = QtSignal(float)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.record: AnswerRecord | None = None
        self.question = ""
        self._raw = {"reasoning": "", "answer": ""}
        self._pending: list[TokenEvent] = []
        self.n_tokens = 0
        self._t_first: float | None = None
        self.evidence_dialog: EvidenceDialog | None = None
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(FLUSH_MS)
        self._flush_timer.timeout.connect(self.flush)

        lay = QVBoxLayout(self)
        self.status = QLabel("Ask a question to begin.")
        self.status.setAccessibleName("Answer status")
        self.status.setWordWrap(True)
        lay.addWidget(self.status)

        self.block_banner = QLabel()
        self.block_banner.setObjectName("block_banner")
        self.block_banner.setWordWrap(True)
        self.block_banner.setAccessibleName("Question blocked")
        self.block_banner.hide()
        lay.addWidget(self.block_banner)

        self.badges = BadgeRow()
        self.badges.badge_activated.connect(self.open_evidence)
        lay.addWidget(self.badges)

        self.reasoning_toggle = QToolButton()
        self.reasoning_toggle.setText("Reasoning")
        self.reasoning_toggle.setCheckable(True)
        self.reasoning_toggle.setChecked(True)
        self.reasoning_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.reasoning_toggle.setArrowType(Qt.ArrowType.DownArrow)
        self.reasoning_toggle.setAccessibleName("Show or hide reasoning steps")
        self.reasoning_toggle.toggled.connect(self._toggle_reasoning)
        lay.addWidget(self.reasoning_toggle)

        self.live_reasoning = QPlainTextEdit()
        self.live_reasoning.setReadOnly(True)
        self.live_reasoning.setAccessibleName("Reasoning as it streams")
        self.live_reasoning.setMaximumBlockCount(0)
        lay.addWidget(self.live_reasoning, 1)
        self.steps = QListWidget()
        self.steps.setAccessibleName("Reasoning steps (select one to score it)")
        self.steps.setWordWrap(True)
        self.steps.itemActivated.connect(self._step_item)
        self.steps.itemClicked.connect(self._step_item)
        self.steps.hide()
        lay.addWidget(self.steps, 1)

        title = QLabel("Answer")
        title.setObjectName("section_title")
        lay.addWidget(title)
        self.collapse_frame = QFrame()
        self.collapse_frame.setObjectName("collapse_frame")
        cf = QHBoxLayout(self.collapse_frame)
        self.collapse_label = QLabel()
        self.collapse_label.setWordWrap(True)
        cf.addWidget(self.collapse_label, 1)
        self.ack_button = QPushButton("&Acknowledge alert and show answer")
        self.ack_button.setObjectName("danger")
        self.ack_button.setAccessibleName("Acknowledge the medication alert and show the answer")
        self.ack_button.clicked.connect(self._ack)
        cf.addWidget(self.ack_button)
        self.collapse_frame.hide()
        lay.addWidget(self.collapse_frame)
        self.answer = QTextBrowser()
        self.answer.setAccessibleName("Answer text")
        lay.addWidget(self.answer, 2)
        self.live_reasoning.hide()
        self.reasoning_toggle.hide()

    # --- streaming -------------------------------------------------------------------------------
    def begin(self, question: str) -> None:
        self.clear()
        self.question = question
        self.status.setText("Generating... (Esc stops)")

    def clear(self) -> None:
        self._flush_timer.stop()
        self.record = None
        self._raw = {"reasoning": "", "answer": ""}
        self._pending.clear()
        self.n_tokens = 0
        self._t_first = None
        self.block_banner.hide()
        self.collapse_frame.hide()
        self.badges.set_signals([])
        self.live_reasoning.clear()
        self.live_reasoning.hide()  # shown when reasoning tokens arrive (plain-format models have none)
        self.reasoning_toggle.hide()
        self.steps.clear()
        self.steps.hide()
        self.answer.clear()
        self.answer.show()
        self.reasoning_toggle.setText("Reasoning")

    def add_token(self, ev: TokenEvent) -> None:
        if self._t_first is None:
            self._t_first = time.perf_counter()
        self.n_tokens += 1
        self._pending.append(ev)
        if not self._flush_timer.isActive():
            self._flush_timer.start()

    def flush(self) -> None:
        if not self._pending:
            return
        changed = set()
        for ev in self._pending:
            self._raw[ev.phase] += ev.text
            changed.add(ev.phase)
        self._pending.clear()
        if "reasoning" in changed:
            if self.reasoning_toggle.isHidden():
                self.reasoning_toggle.show()
                self.live_reasoning.setVisible(self.reasoning_toggle.isChecked())
            self.live_reasoning.setPlainText(strip_tags(self._raw["reasoning"]))
            self.live_reasoning.moveCursor(self.live_reasoning.textCursor().MoveOperation.End)
        if "answer" in changed:
            self.answer.setPlainText(strip_tags(self._raw["answer"]).strip())
            self.answer.moveCursor(self.answer.textCursor().MoveOperation.End)
        if self._t_first is not None and self.n_tokens > 1:
            dt = time.perf_counter() - self._t_first
            if dt > 0:
                rate = (self.n_tokens - 1) / dt
                self.status.setText(f"Generating... {self.n_tokens} tokens, {rate:.1f} tokens/s (Esc stops)")
                self.tokens_per_second.emit(rate)

    def streamed_text(self) -> str:
        return self._raw["reasoning"] + self._raw["answer"]

    # --- final record ----------------------------------------------------------------------------
    def show_record(self, record: AnswerRecord, acknowledged: bool = False) -> None:
        """Show a finished (or reopened) answer with its steps, badges and guard state."""
        self._flush_timer.stop()
        self._pending.clear()
        self.record = record
        self.question = record.question
        self.live_reasoning.hide()
        self.steps.clear()
        for i, step in enumerate(record.reasoning_steps):
            item = QListWidgetItem(f"{i + 1}. {step}")
            item.setData(Qt.ItemDataRole.UserRole, i)
            item.setToolTip("Select to score this step in the feedback panel")
            self.steps.addItem(item)
        n = len(record.reasoning_steps)
        self.reasoning_toggle.setText(f"Reasoning ({n} step{'s' if n != 1 else ''})")
        self.reasoning_toggle.setVisible(n > 0)
        self.steps.setVisible(self.reasoning_toggle.isChecked() and n > 0)
        self.badges.set_signals(list(record.signals))
        if record.blocked:
            self.block_banner.setText(f"Question blocked by site policy: {record.block_reason or 'no reason given'}")
            self.block_banner.show()
            self.answer.setPlainText("")
            self.answer.hide()
        else:
            self.block_banner.hide()
            self.answer.show()
            self.answer.setPlainText(record.answer)
        self.set_collapsed(record.answer_collapsed and not record.blocked and not acknowledged)
        t = record.timings
        parts = [f"Finished: {record.finish_reason}"]
        if t is not None:
            parts.append(f"{t.completion_tokens} tokens, {t.tokens_per_s:.1f} tokens/s, first token {t.ttft_ms:.0f} ms")
        if record.finish_reason == "cancelled":
            parts.append("stopped by you - the answer is incomplete")
        self.status.setText("; ".join(parts))

    def set_collapsed(self, collapsed: bool) -> None:
        rec = self.record
        if collapsed and rec is not None:
            lines = []
            for name in rec.guard.collapsed_by or ("medication_safety",):
                sig = rec.signal(name)
                lines.append(f"{signal_title(name)} alert: {sig.summary if sig is not None else 'alert'}")
            several = len(lines) > 1
            self.collapse_label.setText("\n".join(lines) + "\nThe answer is hidden until you acknowledge "
                                        + ("these alerts." if several else "this alert."))
            self.ack_button.setAccessibleName("Acknowledge the alert" + ("s" if several else "")
                                              + " and show the answer")
            self.collapse_frame.show()
            self.answer.hide()
        else:
            self.collapse_frame.hide()
            if rec is None or not rec.blocked:
                self.answer.show()

    @property
    def collapsed(self) -> bool:
        return not self.collapse_frame.isHidden()

    def _ack(self) -> None:
        if self.record is not None:
            self.acknowledge_requested.emit(self.record)

    def _toggle_reasoning(self, on: bool) -> None:
        self.reasoning_toggle.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
        if self.record is None:
            self.live_reasoning.setVisible(on)
        else:
            self.steps.setVisible(on and self.steps.count() > 0)

    def _step_item(self, item: QListWidgetItem) -> None:
        self.step_selected.emit(int(item.data(Qt.ItemDataRole.UserRole)))

    def open_evidence(self, sig: Signal) -> EvidenceDialog:
        answer = self.record.answer if self.record is not None else strip_tags(self._raw["answer"])
        if self.evidence_dialog is not None:
            self.evidence_dialog.close()
        self.evidence_dialog = EvidenceDialog(sig, self.question, answer, self)
        self.evidence_dialog.setWindowTitle(f"Evidence - {signal_title(sig.name)}")
        self.evidence_dialog.show()
        return self.evidence_dialog
