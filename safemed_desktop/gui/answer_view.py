"""The answer view: one turn of a conversation, read-only: its own question and patient snapshot (from the
record itself, so no answer can ever show under another turn's question or patient), the live token
stream, numbered reasoning steps (collapsible), the final answer, badges, and the safety banner.

The safety banner shows the question-stage findings as soon as the question is screened, then the
streaming safety check's alerts as they are found (sentence by sentence); under a ``block`` policy the rest
of the stream is held behind the alert. The final assessment replaces the provisional one; alerts under
``warn`` keep a banner too, not only a badge. Guard banners: blocked question, answer collapsed behind the
alert of whichever signals the guard names."""

from __future__ import annotations

import re
import time

from PySide6.QtCore import Qt, QTimer, Signal as QtSignal
from PySide6.QtWidgets import (QFrame, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPlainTextEdit,
                               QPushButton, QTextBrowser, QToolButton, QVBoxLayout, QWidget)

from ..records.answer import AnswerRecord
from ..records.events import TokenEvent
from ..records.patient import PatientContext
from ..records.signal import Signal
from ..service import finish_text
from .badges import LEVEL_TEXT, BadgeRow, signal_title
from .evidence_dialog import EvidenceDialog

_TAG = re.compile(r"</?(think|answer)>")
_PARTIAL_TAG = re.compile(r"<(/?[a-z]{0,6})?$")
FLUSH_MS = 40  # tokens are painted in batches: at most ~25 repaints a second
#: The safety banner's look per level (the text says the level too: colour is never the only cue).
_BANNER_STYLE = {
    "alert": "QLabel { background: #fde2e0; color: #7f1b15; border: 2px solid #b3261e; padding: 8px; font-weight: bold; }",
    "caution": "QLabel { background: #fff1c2; color: #5c4300; border: 2px solid #b38600; padding: 8px; }",
}
#: Signals whose caution (not only alert) shows in the safety banner.
BANNER_CAUTIONS = ("medication_safety", "red_flags")


def patient_text(p: PatientContext | None) -> str:
    """The patient snapshot in words, e.g. 'age 78; eGFR 25 mL/min/1.73m2; current medications: warfarin'."""
    return p.describe() if p is not None and not p.is_empty() else "no patient context given"


def banner_lines(signals: list[Signal]) -> tuple[str, list[str]]:
    """(level, lines) of the safety banner for ``signals``: every alert, else the cautions that matter."""
    alerts = [s for s in signals if s.level == "alert"]
    if alerts:
        return "alert", [f"{signal_title(s.name)} ALERT: {s.summary}" for s in alerts]
    cautions = [s for s in signals if s.level == "caution" and s.name in BANNER_CAUTIONS]
    return ("caution", [f"{signal_title(s.name)} caution: {s.summary}" for s in cautions]) if cautions else ("", [])


def strip_tags(text: str) -> str:
    """Remove <think>/<answer> tags (and a tag still being streamed at the end) for display."""
    return _PARTIAL_TAG.sub("", _TAG.sub("", text))


class AnswerView(QWidget):
    step_selected = QtSignal(int)  # 0-based reasoning step index (for per-step scores)
    acknowledge_requested = QtSignal(object)  # the AnswerRecord whose collapsing alerts are acknowledged
    tokens_per_second = QtSignal(float)
    banner_changed = QtSignal(str)  # the safety banner's new text (provisional or final)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.record: AnswerRecord | None = None
        self.question = ""
        self.patient: PatientContext | None = None
        self.question_signals: list[Signal] = []  # the question-stage findings of the turn in flight
        self.provisional: list[Signal] = []  # the streaming safety check's latest signals
        self.held = False  # under a block policy the rest of the stream is held behind the alert
        self.turns_dropped = 0
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
        self.turn_frame = QFrame()
        self.turn_frame.setObjectName("turn_frame")
        tf = QVBoxLayout(self.turn_frame)
        tf.setContentsMargins(6, 4, 6, 4)
        self.turn_title = QLabel("")
        self.turn_title.setObjectName("section_title")
        self.turn_title.setWordWrap(True)
        self.turn_question = QLabel("")
        self.turn_question.setWordWrap(True)
        self.turn_question.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.turn_question.setAccessibleName("Question of this turn")
        self.turn_patient = QLabel("")
        self.turn_patient.setWordWrap(True)
        self.turn_patient.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.turn_patient.setAccessibleName("Patient snapshot of this turn")
        for w in (self.turn_title, self.turn_question, self.turn_patient):
            tf.addWidget(w)
        self.turn_frame.hide()
        lay.addWidget(self.turn_frame)
        self.safety_banner = QLabel("")
        self.safety_banner.setObjectName("safety_banner")
        self.safety_banner.setWordWrap(True)
        self.safety_banner.setAccessibleName("Safety alert")
        self.safety_banner.hide()
        lay.addWidget(self.safety_banner)
        self.context_note = QLabel("")
        self.context_note.setWordWrap(True)
        self.context_note.setAccessibleName("Conversation context note")
        self.context_note.hide()
        lay.addWidget(self.context_note)
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

        self.answer_title = QLabel("Answer")
        self.answer_title.setObjectName("section_title")
        lay.addWidget(self.answer_title)
        self.held_label = QLabel("The rest of the answer is held behind this alert (site policy). It will be shown "
                                 "behind the alert when the answer is finished.")
        self.held_label.setWordWrap(True)
        self.held_label.setAccessibleName("Answer held behind the alert")
        self.held_label.hide()
        lay.addWidget(self.held_label)
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
    def begin(self, question: str, patient: PatientContext | None = None, turn_title: str = "") -> None:
        self.clear()
        self.question = question
        self.patient = patient
        self.show_turn_header(turn_title or "New question", question, patient)
        self.status.setText("Checking the question...")

    def show_turn_header(self, title: str, question: str, patient: PatientContext | None) -> None:
        self.turn_title.setText(title)
        self.turn_question.setText(f"Question: {question.strip()}")
        self.turn_patient.setText(f"Patient: {patient_text(patient)}")
        self.turn_frame.show()

    def show_screening(self, signals: list[Signal], turns_dropped: int = 0) -> None:
        """The question has been screened (before any token): its findings go into the banner at once."""
        self.question_signals = list(signals)
        self.turns_dropped = turns_dropped
        if turns_dropped:
            self.context_note.setText(f"Note: the {turns_dropped} oldest turn(s) of this conversation were left out "
                                      "of what the model read, to fit its context.")
            self.context_note.show()
        self._update_banner(provisional=True)
        if self.record is None and self.n_tokens == 0:
            self.status.setText("Generating... (Esc stops)")

    def show_provisional(self, signals: list[Signal], block_policy: set[str] | frozenset[str] = frozenset()) -> None:
        """The streaming safety check found something (or changed its mind) at a sentence end.

        ``block_policy``: the signals whose site policy is ``block``: an alert of one of them holds the rest of
        the stream behind the banner."""
        if self.record is not None:
            return  # the final assessment is in: it replaced the provisional one
        self.provisional = list(signals)
        if any(s.level == "alert" and s.name in block_policy for s in signals) and not self.held:
            self.held = True
            self.answer.setPlainText(strip_tags(self._raw["answer"]).strip())
            self.answer.hide()
            self.held_label.show()
        self._update_banner(provisional=True)

    def _update_banner(self, provisional: bool, signals: list[Signal] | None = None) -> None:
        if signals is None:  # while streaming: the question's findings, then the answer's so far
            q_level, q_lines = banner_lines(self.question_signals)
            a_level, a_lines = banner_lines(self.provisional)
            lines = [f"In the question: {ln}" for ln in q_lines] + [f"In the answer so far: {ln}" for ln in a_lines]
            level = "alert" if "alert" in (q_level, a_level) else ("caution" if lines else "")
        else:  # the final assessment; the question's own findings of this turn stay beside it
            level, lines = banner_lines(signals)
            summaries = {x.summary for x in signals}
            q_level, q_lines = banner_lines([x for x in self.question_signals if x.summary not in summaries])
            lines = lines + [f"In the question: {ln}" for ln in q_lines]
            level = "alert" if "alert" in (level, q_level) else ("caution" if lines else "")
        if not lines:
            self.safety_banner.hide()
            self.safety_banner.setText("")
            return
        head = ("While the answer streams (provisional; the full check runs at the end):" if provisional
                else "Safety check of this answer:")
        text = head + "\n" + "\n".join(lines)
        self.safety_banner.setText(text)
        self.safety_banner.setProperty("level", level)
        self.safety_banner.setStyleSheet(_BANNER_STYLE.get(level, ""))
        self.safety_banner.setAccessibleDescription(text)
        self.safety_banner.style().unpolish(self.safety_banner)
        self.safety_banner.style().polish(self.safety_banner)
        was_hidden = self.safety_banner.isHidden()
        self.safety_banner.show()
        if was_hidden:
            _announce(self.safety_banner, text)
        self.banner_changed.emit(text)

    @property
    def banner_text(self) -> str:
        return "" if self.safety_banner.isHidden() else self.safety_banner.text()

    def clear(self) -> None:
        self._flush_timer.stop()
        self.record = None
        self._raw = {"reasoning": "", "answer": ""}
        self._pending.clear()
        self.n_tokens = 0
        self._t_first = None
        self.question_signals = []
        self.provisional = []
        self.held = False
        self.turns_dropped = 0
        self.held_label.hide()
        self.safety_banner.hide()
        self.context_note.hide()
        self.answer_title.show()
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
        if "answer" in changed and not self.held:
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
    def show_record(self, record: AnswerRecord, acknowledged: bool = False, turn_title: str = "") -> None:
        """Show a finished (or reopened) turn: its own question and patient snapshot, steps, badges, guard state."""
        self._flush_timer.stop()
        self._pending.clear()
        live = self.record is None and (self.n_tokens > 0 or bool(self.question_signals))
        if not live or record.question != self.question:
            self.context_note.hide()
        self.record = record
        self.question = record.question
        self.patient = record.patient
        self.held = False
        self.held_label.hide()
        self.provisional = []
        self.show_turn_header(turn_title or self.turn_title.text() or "Answer", record.question, record.patient)
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
        if not live:
            self.question_signals = []  # a reopened turn: only what its record stored
        self._update_banner(provisional=False, signals=[] if record.blocked else list(record.signals))
        self.answer_title.setVisible(not record.blocked)
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
        parts = [finish_text(record.finish_reason)]
        if t is not None and not record.blocked:
            parts.append(f"{t.completion_tokens} tokens, {t.tokens_per_s:.1f} tokens/s, first token {t.ttft_ms:.0f} ms")
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

    def clear_all(self) -> None:
        """Nothing of any turn shown (a lock, a profile switch, a new conversation)."""
        self.clear()
        self.question = ""
        self.patient = None
        self.turn_frame.hide()
        self.status.setText("Ask a question to begin.")
        if self.evidence_dialog is not None:
            self.evidence_dialog.close()
            self.evidence_dialog = None

    def open_evidence(self, sig: Signal) -> EvidenceDialog:
        answer = self.record.answer if self.record is not None else strip_tags(self._raw["answer"])
        if self.evidence_dialog is not None:
            self.evidence_dialog.close()
        self.evidence_dialog = EvidenceDialog(sig, self.question, answer, self)
        self.evidence_dialog.setWindowTitle(f"Evidence - {signal_title(sig.name)}")
        self.evidence_dialog.show()
        return self.evidence_dialog


def _announce(widget: QWidget, text: str) -> None:
    """Tell screen readers that ``widget`` now says ``text`` (an alert)."""
    try:
        from PySide6.QtGui import QAccessible, QAccessibleEvent

        event = QAccessibleEvent(widget, QAccessible.Event.Alert)
        QAccessible.updateAccessibility(event)
    except (ImportError, AttributeError, RuntimeError):  # no accessibility bridge: the text is still on screen
        pass
