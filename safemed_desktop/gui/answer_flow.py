"""The answer-flow controller: conversations (ask, follow up, stream, record each turn), acknowledge,
feedback, reopen a conversation or an answer from the history, per-profile drafts.

A conversation's turns are shown one at a time, each from its own record (question, patient snapshot,
answer, signals): reopening never pairs an answer with another turn's question or patient. The question
box and the patient panel hold the draft of the *next* turn; opening a conversation puts its patient
context (the latest turn's snapshot) in the panel for the follow-up.

Every rule lives in the service (what is stored, how feedback is validated, which signals an
acknowledgement names); this controller only moves work to the right thread and results to the
views. Inference runs on the model worker; store writes run as operations (``ops``) that report
what changed, and the window's one listener refreshes the panels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Signal

from ..errors import InputError
from ..records import AnswerRecord, FeedbackDraft, PatientContext, TokenEvent
from .ops import Changes, WindowController

if TYPE_CHECKING:
    from ..service import Conversation, OpenedAnswer, Rubric, SubmittedFeedback
    from .main_window import MainWindow


@dataclass
class ProfileDrafts:
    """What one clinician left in the window when it locked (kept in memory, restored only to them)."""

    question: str = ""
    patient: PatientContext | None = None
    conversation_id: str | None = None
    shown_answer_id: str | None = None
    feedback: FeedbackDraft | None = None
    question_drafts: dict[str, str] = field(default_factory=dict)  # per conversation
    thread: list[AnswerRecord] = field(default_factory=list)
    title: str = ""
    conversation: Any = None
    holder: dict = field(default_factory=lambda: {"id": None})


class AnswerFlow(WindowController):
    token_received = Signal(object)  # TokenEvent, after the view got it
    answer_finished = Signal(object)  # AnswerRecord, shown
    answer_saved = Signal(str)  # answer id
    feedback_saved = Signal(str)  # answer id
    acknowledged = Signal(str)  # answer id

    def __init__(self, window: "MainWindow"):
        super().__init__(window)
        self.pending_saves: list[tuple[dict, AnswerRecord, str | None]] = []  # (conversation holder, record, who)
        self.acknowledged_answers: set[str] = set()
        self.rubric: Rubric | None = None
        self.conversation: Conversation | None = None  # the open conversation as last read from the store
        # the open conversation's id, resolved on the store worker: a new conversation gets its id when its first
        # turn is saved, and a follow-up saved right after uses it (store operations run in order)
        self.holder: dict[str, str | None] = {"id": None}
        self.live_turn: AnswerRecord | None = None  # a finished turn not yet read back from the store
        self.thread: list[AnswerRecord] = []  # the open conversation's turns as this window knows them (oldest first)
        self.drafts: dict[str, ProfileDrafts] = {}
        self.view_owner: str | None = None  # the clinician whose work the widgets hold
        self._stashed = False  # the view was cleared and its drafts kept for view_owner
        self._qdrafts: dict[str, str] = {}

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
        history = tuple((t.question, t.answer) for t in self.thread if not t.blocked and t.answer.strip())
        n = len(self.thread) + 1
        title = f"Turn {n}: follow-up question" if n > 1 else "Turn 1"
        w.answer_view.begin(question, patient, title)
        w.feedback_panel.setEnabled(False)
        w.feedback_panel.header.setText("Feedback: available when this answer is finished")
        w.provenance_panel.clear()
        w.ask_panel.set_busy(True)
        w.tps_label.setText("")
        w.controller.ask(question, patient, history=history)

    def on_screened(self, signals: list, turns_dropped: int) -> None:
        self.window.answer_view.show_screening(signals, turns_dropped)

    def on_provisional(self, signals: list) -> None:
        cfg = self.window.config
        block = {s.name for s in signals if cfg.guard_action(s.name) == "block"}
        self.window.answer_view.show_provisional(signals, block)

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
        self.live_turn = record
        self.thread.append(record)
        w.turn_strip.set_turns(w.turn_strip.title.text(), self.thread, record.id)
        self.show_answer(record)
        if record.timings is not None:
            w.tps_label.setText(f"{record.timings.tokens_per_s:.1f} tokens/s")
        if not record.blocked and record.finish_reason != "cancelled":
            w.ask_panel.set_text("")  # asked and answered: the box is ready for a follow-up
        self.answer_finished.emit(record)
        self.save_answer(record)

    def on_failed(self, exc: BaseException) -> None:
        w = self.window
        w.ask_panel.set_busy(False)
        w.answer_view.flush()
        w.answer_view.status.setText(f"Failed: {exc}")
        w.show_error("The question could not be answered", exc)

    def turn_title(self, record: AnswerRecord) -> str:
        ids = [t.id for t in self.thread]
        if record.id in ids:
            i = ids.index(record.id) + 1
            return f"Turn {i} of {len(ids)}" + (" (read-only)" if i < len(ids) else "")
        return "Answer (read-only)"

    def show_answer(self, record: AnswerRecord, prov: dict[str, Any] | None = None) -> None:
        w = self.window
        w.answer_view.show_record(record, acknowledged=record.id in self.acknowledged_answers,
                                  turn_title=self.turn_title(record))
        w.turn_strip.mark(record.id)
        w.provenance_panel.show_record(record)
        if prov is not None:
            w.provenance_panel.show_provenance(prov)
        if self.rubric is not None and not record.blocked:
            w.feedback_panel.set_answer(record.id, record.answer, len(record.reasoning_steps))
        else:
            w.feedback_panel.setEnabled(False)
            w.feedback_panel.header.setText("Feedback: a blocked question has no answer to score"
                                            if record.blocked else "Feedback")

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
    def save_answer(self, record: AnswerRecord, holder: dict | None = None, who: str | None = None) -> None:
        """Record the answer as the next turn of its conversation (blocked attempts too: the service's rule);
        kept and retried while locked."""
        service, store = self.service, self.session.store
        holder = self.holder if holder is None else holder
        who = self.session.clinician_id if who is None else who
        if service is None or not self.session.is_unlocked:
            self.pending_saves.append((holder, record, who))
            return

        def work() -> tuple[str, dict[str, Any]]:
            cid, prov = service.record_turn(store, holder["id"], record, who)
            holder["id"] = cid
            return cid, prov

        def done(result: tuple[str, dict[str, Any]]) -> None:
            cid, prov = result
            self.answer_saved.emit(record.id)
            self._show_provenance_if_current(record.id, prov)
            if holder is self.holder:
                self.window.conversation_list.select(cid)
                self.reload_conversation(cid, show=None)

        def failed(exc: BaseException) -> None:
            self.pending_saves.append((holder, record, who))  # kept; retried after the next unlock
            self.window.show_error("The answer could not be saved", exc)

        self.ops.run(work, on_done=done, on_error=failed, changes=Changes(history=True))

    def flush_pending_saves(self) -> None:
        who = self.session.clinician_id
        keep = [p for p in self.pending_saves if p[2] is not None and p[2] != who]  # another clinician's
        pending = [p for p in self.pending_saves if p not in keep]
        self.pending_saves = keep
        for holder, rec, by in pending:
            self.save_answer(rec, holder, by)

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
        """Open a stored answer from the history: within its conversation when it is a turn of one."""
        service, store = self.service, self.session.store
        if service is None or store is None or self.window.controller.busy:
            return

        def work() -> tuple["OpenedAnswer", "Conversation | None"]:
            opened = service.open_answer(store, answer_id)
            cid = service.conversation_of(store, answer_id)
            return opened, (service.open_conversation(store, cid) if cid else None)

        def done(result: tuple["OpenedAnswer", "Conversation | None"]) -> None:
            opened, conv = result
            if opened.acknowledged:
                self.acknowledged_answers.add(opened.record.id)
            self._enter_conversation(conv, opened.record)
            self.show_answer(opened.record, opened.provenance)
            self.window.provenance_updated.emit(answer_id)

        self.ops.run(work, on_done=done, error_title="Cannot open the answer")

    # ------------------------------------------------------------------ conversations
    def open_conversation(self, conversation_id: str, answer_id: str | None = None) -> None:
        """Open a conversation at its latest turn (or ``answer_id``); its patient goes to the panel for a follow-up."""
        service, store = self.service, self.session.store
        if service is None or store is None or self.window.controller.busy:
            return

        def done(conv: "Conversation") -> None:
            turn = conv.turn(answer_id) if answer_id else (conv.turns[-1] if conv.turns else None)
            self._enter_conversation(conv, turn)
            if turn is not None:
                self.show_turn(turn.id)

        self.ops.run(service.open_conversation, store, conversation_id, on_done=done,
                     error_title="Cannot open the conversation")

    def _enter_conversation(self, conv: "Conversation | None", shown: AnswerRecord | None) -> None:
        w = self.window
        new_id = conv.id if conv is not None else None
        if new_id != self.holder["id"] or conv is None:
            self._stash_question()
            self.holder = {"id": new_id}
            w.ask_panel.set_text(self._question_drafts.get(new_id or "", ""))
            if conv is not None:
                w.patient_panel.set_patient(conv.patient)  # this conversation's patient, for the follow-up
            elif shown is not None:
                w.patient_panel.set_patient(shown.patient)
        self.conversation = conv
        self.live_turn = None
        self.thread = list(conv.turns) if conv is not None else []
        if conv is not None:
            w.turn_strip.set_turns(conv.title, conv.turns, shown.id if shown else None)
            w.conversation_list.select(conv.id)
        else:
            w.turn_strip.set_turns("A single answer (not part of a conversation; a question starts a new one)",
                                   [], None)
            w.conversation_list.select(None)

    @property
    def _question_drafts(self) -> dict[str, str]:
        return self._qdrafts

    def _stash_question(self) -> None:
        self._question_drafts[self.holder["id"] or ""] = self.window.ask_panel.text()

    def reload_conversation(self, conversation_id: str, show: str | None = None) -> None:
        """Read the open conversation back from the store (after a turn was saved)."""
        service, store = self.service, self.session.store
        if service is None or store is None:
            return

        def done(conv: "Conversation") -> None:
            if conv.id != self.holder["id"]:
                return  # the clinician moved on to another conversation meanwhile
            self.conversation = conv
            known = {t.id for t in conv.turns}
            self.thread = list(conv.turns) + [t for t in self.thread if t.id not in known]  # + any not yet saved
            view = self.window.answer_view
            current = view.record.id if view.record is not None else None
            self.window.turn_strip.set_turns(conv.title, self.thread, show or current)
            if current is not None and conv.turn(current) is not None and not self.window.controller.busy:
                view.turn_title.setText(self.turn_title(conv.turn(current)))

        self.ops.run(service.open_conversation, store, conversation_id, on_done=done,
                     error_title="Cannot read the conversation")

    def show_turn(self, answer_id: str) -> None:
        """Show one turn of the open conversation, as it was (read-only), with its provenance."""
        if self.window.controller.busy:
            self.window.turn_strip.mark(self.window.answer_view.record.id if self.window.answer_view.record else None)
            return
        turn = next((t for t in self.thread if t.id == answer_id), None)
        if turn is None:
            return
        self.window.provenance_panel.clear()
        self.show_answer(turn)
        self.refresh_provenance(turn.id)

    def new_conversation(self) -> None:
        """A fresh conversation: nothing of the previous one shown; the patient panel starts empty."""
        w = self.window
        if w.controller.busy:
            return
        self._stash_question()
        self.holder = {"id": None}
        self.conversation = None
        self.live_turn = None
        self.thread = []
        w.answer_view.clear_all()
        w.turn_strip.set_turns("New conversation", [], None)
        w.conversation_list.select(None)
        w.patient_panel.set_patient(PatientContext())
        w.ask_panel.set_text(self._question_drafts.pop("", ""))
        w.feedback_panel.setEnabled(False)
        w.provenance_panel.clear()
        w.ask_panel.question.setFocus()

    # ------------------------------------------------------------------ people: each profile's drafts
    def stash_and_clear(self) -> None:
        """Locking: keep the current clinician's drafts (in memory, for them only) and clear the view."""
        w = self.window
        owner = self.view_owner
        if owner is not None and not self._stashed:
            fb = None
            if w.feedback_panel.isEnabled() and w.feedback_panel.answer_id is not None:
                fb = w.feedback_panel.draft()
            try:
                patient = w.patient_panel.patient()
            except InputError:
                patient = None
            rec = w.answer_view.record
            self._stash_question()
            self.drafts[owner] = ProfileDrafts(question=w.ask_panel.text(), patient=patient,
                                               conversation_id=self.holder["id"],
                                               shown_answer_id=rec.id if rec is not None else None, feedback=fb,
                                               question_drafts=dict(self._question_drafts), thread=list(self.thread),
                                               title=w.turn_strip.title.text(), conversation=self.conversation,
                                               holder=self.holder)
        self._stashed = True
        self._clear_view()

    def _clear_view(self) -> None:
        w = self.window
        self.conversation = None
        self.live_turn = None
        self.thread = []
        self.holder = {"id": None}
        self._question_drafts.clear()
        w.answer_view.clear_all()
        w.turn_strip.set_turns("New conversation", [], None)
        w.conversation_list.set_rows([])
        w.conversation_list.select(None)
        w.history_panel.set_rows([])
        w.ask_panel.set_text("")
        w.patient_panel.set_patient(PatientContext())
        w.feedback_panel.clear()
        w.provenance_panel.clear()

    def restore_for(self, clinician_id: str | None) -> None:
        """A clinician entered the workspace: their own drafts come back; nobody else's are shown."""
        w = self.window
        if clinician_id != self.view_owner:
            self.stash_and_clear()  # (a no-op stash when the lock already stashed them)
        self.view_owner = clinician_id
        self._stashed = False
        d = self.drafts.pop(clinician_id, None) if clinician_id else None
        if d is None:
            return
        self._question_drafts.update(d.question_drafts)
        self._question_drafts.pop(d.holder["id"] or "", None)
        self.holder = d.holder
        self.conversation = d.conversation
        self.thread = list(d.thread)
        w.ask_panel.set_text(d.question)
        if d.patient is not None:
            w.patient_panel.set_patient(d.patient)
        w.turn_strip.set_turns(d.title, self.thread, d.shown_answer_id)
        if self.holder["id"]:
            w.conversation_list.select(self.holder["id"])
        shown = next((t for t in self.thread if t.id == d.shown_answer_id), None)
        if shown is not None:
            self.show_answer(shown)
            self.refresh_provenance(shown.id)
        if d.feedback is not None and shown is not None and shown.id == d.feedback.answer_id and self.rubric is not None:
            w.feedback_panel.restore(d.feedback, shown.answer, len(shown.reasoning_steps))
