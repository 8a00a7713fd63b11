"""The answer-flow controller: ask, stream, record, acknowledge, feedback, reopen from the history.

Every rule lives in the service (what is stored, how feedback is validated, which signals an
acknowledgement names); this controller only moves work to the right thread and results to the
views. Inference runs on the model worker; store writes run as operations (``ops``) that report
what changed, and the window's one listener refreshes the panels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Signal

from ..errors import InputError
from ..records import AnswerRecord, FeedbackDraft, TokenEvent
from .ops import Changes, WindowController

if TYPE_CHECKING:
    from ..service import OpenedAnswer, Rubric, SubmittedFeedback
    from .main_window import MainWindow


class AnswerFlow(WindowController):
    token_received = Signal(object)  # TokenEvent, after the view got it
    answer_finished = Signal(object)  # AnswerRecord, shown
    answer_saved = Signal(str)  # answer id
    feedback_saved = Signal(str)  # answer id
    acknowledged = Signal(str)  # answer id

    def __init__(self, window: "MainWindow"):
        super().__init__(window)
        self.pending_saves: list[AnswerRecord] = []  # finished while locked (or a save failed): retried on unlock
        self.acknowledged_answers: set[str] = set()
        self.rubric: Rubric | None = None

    @property
    def session(self):
        return self.window.session

    # ------------------------------------------------------------------ asking
    def ask(self, question: str) -> None:
        w = self.window
        if w.controller.busy:
            return
        try:
            patient = w.patient_panel.patient()
        except InputError as exc:
            w.show_error("Patient context is not valid", exc)
            return
        if not question.strip():
            w.show_error("Nothing to ask", InputError("the question is empty"))
            return
        w.answer_view.begin(question)
        w.feedback_panel.setEnabled(False)
        w.provenance_panel.clear()
        w.ask_panel.set_busy(True)
        w.tps_label.setText("")
        w.controller.ask(question, patient)

    def stop(self) -> None:
        self.window.controller.stop()
        self.window.answer_view.status.setText("Stopping...")

    def on_token(self, ev: TokenEvent) -> None:
        self.window.answer_view.add_token(ev)
        self.token_received.emit(ev)

    def on_finished(self, record: AnswerRecord) -> None:
        w = self.window
        w.ask_panel.set_busy(False)
        w.answer_view.flush()
        self.show_answer(record)
        if record.timings is not None:
            w.tps_label.setText(f"{record.timings.tokens_per_s:.1f} tokens/s")
        self.answer_finished.emit(record)
        self.save_answer(record)

    def on_failed(self, exc: BaseException) -> None:
        w = self.window
        w.ask_panel.set_busy(False)
        w.answer_view.flush()
        w.answer_view.status.setText(f"Failed: {exc}")
        w.show_error("The question could not be answered", exc)

    def show_answer(self, record: AnswerRecord, prov: dict[str, Any] | None = None) -> None:
        w = self.window
        w.answer_view.show_record(record, acknowledged=record.id in self.acknowledged_answers)
        w.provenance_panel.show_record(record)
        if prov is not None:
            w.provenance_panel.show_provenance(prov)
        if self.rubric is not None and not record.blocked:
            w.feedback_panel.set_answer(record.id, record.answer, len(record.reasoning_steps))
        else:
            w.feedback_panel.setEnabled(False)

    def set_rubric(self, rubric: Rubric) -> None:
        self.rubric = rubric
        self.window.feedback_panel.set_rubric(rubric)
        rec = self.window.answer_view.record
        if rec is not None and not rec.blocked:
            self.window.feedback_panel.set_answer(rec.id, rec.answer, len(rec.reasoning_steps))

    def load_rubric(self) -> None:
        if self.rubric is None and self.service is not None:
            self.ops.run(self.service.load_rubric, on_done=self.set_rubric, error_title="Cannot load the rubric")

    # ------------------------------------------------------------------ store writes
    def save_answer(self, record: AnswerRecord) -> None:
        """Record the answer (blocked attempts too: the service's rule); kept and retried while locked."""
        service, store = self.service, self.session.store
        if service is None or not self.session.is_unlocked:
            self.pending_saves.append(record)
            return

        def done(prov: dict[str, Any]) -> None:
            self.answer_saved.emit(record.id)
            self._show_provenance_if_current(record.id, prov)

        def failed(exc: BaseException) -> None:
            self.pending_saves.append(record)  # kept; retried after the next unlock
            self.window.show_error("The answer could not be saved", exc)

        self.ops.run(service.record_answer, store, record, on_done=done, on_error=failed,
                     changes=Changes(history=True))

    def flush_pending_saves(self) -> None:
        pending, self.pending_saves = self.pending_saves, []
        for rec in pending:
            self.save_answer(rec)

    def acknowledge(self, record: AnswerRecord) -> None:
        service, store, who = self.service, self.session.store, self.session.clinician_id
        if service is None or store is None or who is None:
            return

        def done(prov: dict[str, Any]) -> None:
            self.acknowledged_answers.add(record.id)
            view = self.window.answer_view
            if view.record is not None and view.record.id == record.id:
                view.set_collapsed(False)
            self._show_provenance_if_current(record.id, prov)
            self.acknowledged.emit(record.id)

        self.ops.run(service.acknowledge, store, who, record, on_done=done,
                     error_title="The acknowledgement was not recorded", changes=Changes(answer_id=record.id))

    def submit_feedback(self, draft: FeedbackDraft) -> None:
        w = self.window
        service, store, who = self.service, self.session.store, self.session.clinician_id
        if service is None or store is None or who is None or self.rubric is None:
            w.feedback_panel.submit_done(False, "The store is locked.")
            return

        def done(result: "SubmittedFeedback") -> None:
            w.feedback_panel.submit_done(True, "Saved to the encrypted store.")
            self._show_provenance_if_current(draft.answer_id, result.provenance)
            self.feedback_saved.emit(draft.answer_id)

        def failed(exc: BaseException) -> None:
            w.feedback_panel.submit_done(False, f"Not saved: {exc}")
            w.show_error("Feedback not saved", exc)

        self.ops.run(service.submit_feedback, store, who, draft, self.rubric, on_done=done, on_error=failed,
                     changes=Changes(answer_id=draft.answer_id, history=True))

    # ------------------------------------------------------------------ reading
    def _show_provenance_if_current(self, answer_id: str, prov: dict[str, Any]) -> None:
        view = self.window.answer_view
        if view.record is not None and view.record.id == answer_id:
            self.window.provenance_panel.show_provenance(prov)
        self.window.provenance_updated.emit(answer_id)

    def refresh_provenance(self, answer_id: str) -> None:
        service, store = self.service, self.session.store
        if service is None or store is None:
            return
        self.ops.run(service.provenance, store, answer_id,
                     on_done=lambda prov: self._show_provenance_if_current(answer_id, prov),
                     error_title="Cannot read provenance")

    def open_answer(self, answer_id: str) -> None:
        service, store = self.service, self.session.store
        if service is None or store is None or self.window.controller.busy:
            return

        def done(opened: "OpenedAnswer") -> None:
            if opened.acknowledged:
                self.acknowledged_answers.add(opened.record.id)
            self.show_answer(opened.record, opened.provenance)
            self.window.provenance_updated.emit(answer_id)

        self.ops.run(service.open_answer, store, answer_id, on_done=done, error_title="Cannot open the answer")
