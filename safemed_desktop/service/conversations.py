"""Conversations: threads of turns, follow-up questions, safety while the answer streams, copy and export.

A conversation is a list of stored answers (turns), each with its own question and patient snapshot:
``record_turn`` stores a finished (or blocked, or stopped) answer as the next turn; ``open_conversation``
returns every turn as it was, so a view can never show one turn's answer beside another turn's question
or patient. A follow-up is asked with ``ask(..., history=conversation.history())``: the model reads the
earlier turns (the oldest left out, and the clinician told, when they do not fit its context).

While an answer streams, ``live_safety(question, patient, history)`` runs the rule signals (medication safety,
guidelines) at each sentence end (``signals.incremental``); the view raises its banner from what it
returns, and the final assessment replaces it. ``clinician_text`` and ``conversation_markdown`` give the
copy and export text: signals with their summaries and evidence, provenance, and the model's
demo/validation status.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from ..paths import write_file_atomic

from ..records import AnswerRecord, PatientContext, Signal
from ..records.signal import LEVEL_RANK

if TYPE_CHECKING:
    from ..config import Config
    from ..store import Store

#: Clinician-facing names of the signals (never the internal names).
SIGNAL_TITLES = {
    "confidence": "Model confidence",
    "medication_safety": "Medication safety",
    "adversarial_input": "Question manipulation check",
    "red_flags": "Red flags (urgent symptoms)",
    "scope": "Within clinical scope",
    "guideline_consistency": "Guideline agreement",
    "reasoning_consistency": "Reasoning consistency",
}
#: Clinician-facing names of the levels.
LEVEL_TEXT = {"ok": "OK", "caution": "Caution", "alert": "ALERT", "not_assessed": "Not assessed"}
#: How an answer ended, in words.
FINISH_TEXT = {"stop": "Complete", "length": "Incomplete: cut off at the length limit",
               "cancelled": "Incomplete: stopped by you", "blocked": "Question blocked by site policy"}
#: The signals the streaming check covers (``signals.incremental.SIGNALS``), named here for the views.
LIVE_SIGNALS = ("medication_safety", "guideline_consistency")


def signal_title(name: str) -> str:
    return SIGNAL_TITLES.get(name, name.replace("_", " ").capitalize())


def finish_text(reason: str) -> str:
    return FINISH_TEXT.get(reason, reason.replace("_", " ").capitalize())


def role_text(role: str | None) -> str:
    return (role or "").replace("_", " ")


@dataclass(frozen=True)
class Conversation:
    """A stored conversation: its turns oldest first, each a full answer record with its own snapshot."""

    id: str
    title: str
    created_at: float
    clinician_id: str | None
    turns: tuple[AnswerRecord, ...]
    archived: bool = False  # hidden from the list (never deleted); ``archive_conversation`` undoes it

    @property
    def patient(self) -> PatientContext:
        """The conversation's current patient context: the latest turn's snapshot."""
        return self.turns[-1].patient if self.turns else PatientContext()

    def history(self) -> tuple[tuple[str, str], ...]:
        """(question, answer) of every answered turn, oldest first (blocked turns had no answer)."""
        return tuple((t.question, t.answer) for t in self.turns if not t.blocked and t.answer.strip())

    def turn(self, answer_id: str) -> AnswerRecord | None:
        return next((t for t in self.turns if t.id == answer_id), None)


class ConversationService:
    """Conversations, the streaming safety check, copy and export."""

    config: "Config"

    # ------------------------------------------------------------------ store
    def record_turn(self, store: "Store", conversation_id: str | None, record: AnswerRecord,
                    clinician_id: str | None = None) -> tuple[str, dict[str, Any]]:
        """Store an answer (answered, stopped or blocked: every record is stored) as the next turn of
        ``conversation_id``, or of a new conversation titled from its question; returns (conversation id,
        the answer's provenance)."""
        cid, _position = store.save_turn(conversation_id, record, clinician_id)
        return cid, self.provenance(store, record.id)  # type: ignore[attr-defined]  (CoreService)

    @staticmethod
    def list_conversations(store: "Store", search: str | None = None,
                           include_archived: bool = False) -> list[dict[str, Any]]:
        """Newest first, with title, number of turns, worst signal level and whether archived; ``search`` in
        titles, questions, answers; archived conversations only with ``include_archived``."""
        return store.list_conversations(search=search or None, include_archived=bool(include_archived))

    @staticmethod
    def open_conversation(store: "Store", conversation_id: str) -> Conversation:
        d = store.get_conversation(conversation_id)
        return Conversation(id=d["id"], title=d["title"], created_at=d["created_at"], clinician_id=d["clinician_id"],
                            turns=tuple(d["turns"]), archived=bool(d.get("archived")))

    @staticmethod
    def rename_conversation(store: "Store", conversation_id: str, title: str) -> str:
        """Give the signed-in clinician's conversation a new title (one line, stored encrypted, audited; the old
        title stays on record); returns the title as stored."""
        return store.rename_conversation(conversation_id, title)

    @staticmethod
    def archive_conversation(store: "Store", conversation_id: str, archived: bool = True) -> None:
        """Archive the signed-in clinician's conversation (hidden from the list, never deleted; audited), or
        un-archive it with ``archived=False``."""
        store.archive_conversation(conversation_id, archived)

    @staticmethod
    def conversation_of(store: "Store", answer_id: str) -> str | None:
        return store.conversation_of(answer_id)

    # ------------------------------------------------------------------ safety while streaming
    @staticmethod
    def live_safety(question: str, patient: PatientContext | None,
                    history: "tuple[tuple[str, str], ...] | list[tuple[str, str]]" = ()):
        """A streaming check: ``feed(text) -> list[Signal] | None`` at each completed sentence, ``finish()``.
        ``history``: the conversation's earlier turns (the same ``ask`` reads), so the check assesses this turn
        with its conversation."""
        from ..signals.incremental import IncrementalRules

        return IncrementalRules(question, patient, tuple(history or ()))

    def guard_action(self, signal: str) -> str:
        """The site's guard policy for ``signal``: "warn" or "block"."""
        return self.config.guard_action(signal)

    # ------------------------------------------------------------------ files the views write
    @staticmethod
    def write_export(path: str | Path, data: str | bytes) -> None:
        """Write an exported conversation (clinical text): atomically, readable by this user only (0600)."""
        p = Path(path)
        if p.is_dir():
            raise InputError(f"{p} is a folder; choose a file name to export to")
        try:
            write_file_atomic(p, data)
        except OSError as exc:
            raise InputError(f"cannot write {p}: {exc.strerror or exc}") from None

    def _view_state_file(self) -> Path:
        return self.config.paths.user_config_dir / "window-state.json"

    def load_view_state(self, profile_id: str) -> dict[str, Any]:
        """The window geometry and splitter sizes this profile left (no clinical content); {} when none."""
        try:
            data = json.loads(self._view_state_file().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        state = data.get(profile_id) if isinstance(data, dict) else None
        return state if isinstance(state, dict) else {}

    def save_view_state(self, profile_id: str, state: dict[str, Any]) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", profile_id or ""):
            raise InputError("not a profile id")
        path = self._view_state_file()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            data = data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            data = {}
        data[profile_id] = state
        write_file_atomic(path, json.dumps(data, sort_keys=True))

    # ------------------------------------------------------------------ copy and export
    @staticmethod
    def clinician_text(record: AnswerRecord) -> str:
        """An answer as copied: the answer text, then each signal's level and summary."""
        lines = []
        if record.blocked:
            lines.append(f"Question blocked by site policy: {record.block_reason or 'no reason given'}")
        else:
            lines.append(record.answer.strip())
            if record.finish_reason != "stop":
                lines.append(f"[{finish_text(record.finish_reason)}]")
        lines.append("")
        lines.append("Clinical trust signals:")
        for s in record.signals:
            lines.append(f"- {signal_title(s.name)}: {LEVEL_TEXT.get(s.level, s.level)} - {s.summary}")
        if record.model.demo or not record.model.approved:
            lines.append("")
            lines.append(model_banner(record))
        return "\n".join(lines).strip() + "\n"

    @staticmethod
    def conversation_markdown(conversation: Conversation, provenance: dict[str, dict[str, Any]] | None = None) -> str:
        """The whole conversation as Markdown: banner, then per turn the patient snapshot, question,
        reasoning, answer, signals with evidence, and provenance."""
        provenance = provenance or {}
        out = [f"# {_md(conversation.title) or 'Conversation'}", ""]
        banners = sorted({model_banner(t) for t in conversation.turns if t.model.demo or not t.model.approved})
        for b in banners:
            out += [f"> **{b}**", ""]
        out += [f"Conversation {conversation.id}, started {_when(conversation.created_at)}, "
                f"{len(conversation.turns)} turn(s). Exported {_when(time.time())}.", ""]
        for i, t in enumerate(conversation.turns, 1):
            out += [f"## Turn {i}: {_md(_first_line(t.question))}", "", f"*Asked {_when(t.created_at)}*", ""]
            out += ["**Patient:** " + (_md(t.patient.describe()) if not t.patient.is_empty() else "none given"), ""]
            out += ["**Question:**", "", _quote(t.question), ""]
            alerts = [s for s in t.signals if s.level == "alert"]
            for s in alerts:
                out += [f"> **{signal_title(s.name)} ALERT:** {_md(s.summary)}", ""]
            if t.blocked:
                out += [f"**Blocked by site policy:** {_md(t.block_reason or 'no reason given')}", ""]
            else:
                if t.reasoning_steps:
                    out += ["**Reasoning:**", ""]
                    out += [f"{n}. {_md(step)}" for n, step in enumerate(t.reasoning_steps, 1)] + [""]
                out += ["**Answer:**", "", _quote(t.answer or "(no answer text)"), ""]
                if t.finish_reason != "stop":
                    out += [f"*{finish_text(t.finish_reason)}*", ""]
            out += ["**Clinical trust signals:**", ""]
            for s in t.signals:
                out.append(f"- **{signal_title(s.name)}: {LEVEL_TEXT.get(s.level, s.level)}** - {_md(s.summary)} "
                           f"(source: {_md(s.source)})")
                for e in s.evidence:
                    out.append(f"    - \"{_md(e.text)}\" ({e.target}): {_md(e.detail)}")
            out.append("")
            out += ["**Provenance:**", ""]
            out.append(f"- Model: {_md(t.model.id)}, sha256 {t.model.sha256[:16]}, "
                       f"{'approved' if t.model.approved else 'UNAPPROVED'}{', demo' if t.model.demo else ''}")
            out.append(f"- Prompt template: {t.prompt_template_hash[:16]}; knowledge packs: "
                       + (", ".join(f"{k}@{v}" for k, v in sorted(t.pack_versions.items())) or "none"))
            out.append(f"- Rubric: {t.rubric}; category: {t.category}; answer id: {t.id}")
            if t.timings is not None:
                out.append(f"- {t.timings.completion_tokens} tokens at {t.timings.tokens_per_s:.1f} tokens/s")
            prov = provenance.get(t.id)
            if prov:
                n_audits, n_edits = len(prov.get("audits", [])), max(0, len(prov.get("edit_history", [])) - 1)
                out.append(f"- Clinician reviews: {n_audits}; edits: {n_edits}; acknowledgements: "
                           f"{len(prov.get('acknowledgements', []))}")
            out.append("")
        return "\n".join(out)


def model_banner(record: AnswerRecord) -> str:
    if record.model.demo:
        return "Demo model - not clinically validated. Do not use its answers for patient care."
    if not record.model.approved:
        return "Unapproved model - no site manifest names this model file."
    return ""


def worst(signals: list[Signal]) -> str:
    return max((s.level for s in signals), key=lambda lv: LEVEL_RANK.get(lv, -1), default="not_assessed")


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def _first_line(text: str) -> str:
    line = next((ln.strip() for ln in text.strip().splitlines() if ln.strip()), "")
    return line if len(line) <= 80 else line[:79] + "\u2026"


def _md(text: str) -> str:
    """Text safe inside Markdown: characters that would start markup are escaped."""
    out = []
    for ch in str(text):
        out.append("\\" + ch if ch in "\\`*_[]<>#|" else ch)
    return "".join(out)


def _quote(text: str) -> str:
    return "\n".join("> " + _md(ln) if ln.strip() else ">" for ln in text.strip().splitlines()) or ">"


__all__ = ["ConversationService", "Conversation", "SIGNAL_TITLES", "LEVEL_TEXT", "LIVE_SIGNALS", "signal_title",
           "finish_text", "role_text", "model_banner", "worst"]
