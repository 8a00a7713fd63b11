"""Record rows: answers, profiles, feedback, edits and acknowledgements to and from their table rows.

Pure mapping and validation (no database access): sensitive text goes through the field
cipher (``*_enc`` columns), everything else stays clear, queryable metadata.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError
from ..records.answer import AnswerRecord, ModelIdentity
from ..records.events import Timings
from ..records.guard import BLOCKING_SIGNALS, GuardDecision
from ..records.patient import PatientContext
from ..records.signal import Signal
from ..rubric import Rubric
from .crypto import FieldCipher
from .provenance import is_strike
from .schema import ROLES


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass
class FeedbackInput:
    """One clinician's scoring of one answer (see ``Store.add_feedback``), optionally with an edit of its text."""

    answer_id: str
    clinician_id: str
    scores: dict[str, int]
    step_scores: dict[int, dict[str, int]] = field(default_factory=dict)
    flags: tuple[str, ...] | list[str] = ()
    comment: str | None = None
    edit_text: str | None = None  # a new version of the answer text, by the same clinician


def decrypt_field(cipher: FieldCipher, table: str, row: dict[str, Any], col: str) -> str | None:
    return cipher.decrypt(table, row["id"], col, row[col])


# ---------------------------------------------------------------------- profiles
def profile_row(pid: str, display_name: str, role: str, now: float, cipher: FieldCipher) -> dict[str, Any]:
    if not isinstance(display_name, str) or not display_name.strip():
        raise InputError("a clinician display name is required")
    if role not in ROLES:
        raise InputError(f"unknown role {role!r} (known: {', '.join(ROLES)})")
    return {"id": pid, "created_at": now, "role": role,
            "display_name_enc": cipher.encrypt("profiles", pid, "display_name_enc", display_name.strip())}


def profile_out(row: dict[str, Any], cipher: FieldCipher) -> dict[str, Any]:
    return {"id": row["id"], "role": row["role"], "created_at": row["created_at"],
            "display_name": decrypt_field(cipher, "profiles", row, "display_name_enc")}


# ---------------------------------------------------------------------- answers
def _level_entry(s: Signal, guard: GuardDecision) -> dict[str, Any]:
    """A signal's clear, queryable summary; ``guard`` names what it did to the answer, if anything."""
    entry: dict[str, Any] = {"name": s.name, "level": s.level, "score": s.score, "source": s.source}
    if s.name in guard.blocked_by:
        entry["guard"] = "block"
    elif s.name in guard.collapsed_by:
        entry["guard"] = "collapse"
    return entry


def _guard_from_row(row: dict[str, Any], block_reason: str | None) -> GuardDecision:
    """The guard decision stored with an answer (its clear ``signal_levels``).

    Rows written before decisions named their signals carry only ``blocked`` and
    ``answer_collapsed``: then every question signal at alert blocked, every other signal at alert
    collapsed (the only way the old guard could decide).
    """
    levels = json.loads(row["signal_levels"])
    blocked = tuple(e["name"] for e in levels if e.get("guard") == "block")
    collapsed = tuple(e["name"] for e in levels if e.get("guard") == "collapse")
    if not any("guard" in e for e in levels):
        alerts = [e["name"] for e in levels if e["level"] == "alert"]
        blocked = tuple(n for n in alerts if n in BLOCKING_SIGNALS) if row["blocked"] else ()
        collapsed = tuple(n for n in alerts if n not in BLOCKING_SIGNALS) if row["answer_collapsed"] else ()
    return GuardDecision(blocked_by=blocked, collapsed_by=collapsed, reasons=(block_reason,) if block_reason else ())


def signal_levels(row: dict[str, Any]) -> dict[str, str]:
    """Signal name -> level, from an answer row's clear ``signal_levels``."""
    return {s["name"]: s["level"] for s in json.loads(row["signal_levels"])}


def answer_row(rec: AnswerRecord, cipher: FieldCipher) -> dict[str, Any]:
    if not isinstance(rec, AnswerRecord):
        raise InputError(f"save_answer needs an AnswerRecord, got {type(rec).__name__}")
    i = rec.id
    enc = lambda col, v: cipher.encrypt("answers", i, col, v)  # noqa: E731
    return {
        "id": i, "created_at": float(rec.created_at), "model_id": rec.model.id, "model_sha256": rec.model.sha256,
        "model_approved": rec.model.approved, "model_demo": rec.model.demo, "chat_format": rec.model.chat_format,
        "prompt_template_hash": rec.prompt_template_hash, "pack_versions": _json(rec.pack_versions),
        "rubric": rec.rubric, "category": rec.category, "finish_reason": rec.finish_reason,
        "blocked": rec.blocked, "answer_collapsed": rec.answer_collapsed,
        "timings": _json(dataclasses.asdict(rec.timings)) if rec.timings else None,  # full precision
        "signal_levels": _json([_level_entry(s, rec.guard) for s in rec.signals]),
        "n_reasoning_steps": len(rec.reasoning_steps),
        "question_enc": enc("question_enc", rec.question),
        "patient_enc": enc("patient_enc", _json(rec.patient.to_dict())),
        "reasoning_enc": enc("reasoning_enc", _json(list(rec.reasoning_steps))),
        "answer_enc": enc("answer_enc", rec.answer),
        "raw_text_enc": enc("raw_text_enc", rec.raw_text),
        "block_reason_enc": enc("block_reason_enc", rec.block_reason),
        "signals_enc": enc("signals_enc", _json([{**s.to_dict(), "score": s.score} for s in rec.signals])),
        "logprobs_summary_enc": enc("logprobs_summary_enc", _json(rec.token_logprobs_summary)),
    }


def answer_record(row: dict[str, Any], cipher: FieldCipher) -> AnswerRecord:
    d = lambda col: decrypt_field(cipher, "answers", row, col)  # noqa: E731
    timings = json.loads(row["timings"]) if row["timings"] else None
    return AnswerRecord(
        id=row["id"], created_at=row["created_at"], question=d("question_enc") or "",
        patient=PatientContext.from_dict(json.loads(d("patient_enc") or "{}")),
        model=ModelIdentity(id=row["model_id"], sha256=row["model_sha256"], approved=bool(row["model_approved"]),
                            demo=bool(row["model_demo"]), chat_format=row["chat_format"]),
        reasoning_steps=list(json.loads(d("reasoning_enc") or "[]")), answer=d("answer_enc") or "",
        raw_text=d("raw_text_enc") or "", finish_reason=row["finish_reason"],
        timings=Timings(**timings) if timings else None,
        token_logprobs_summary=json.loads(d("logprobs_summary_enc") or "{}"),
        signals=[Signal.from_dict(s) for s in json.loads(d("signals_enc") or "[]")],
        blocked=bool(row["blocked"]), block_reason=d("block_reason_enc"),
        guard=_guard_from_row(row, d("block_reason_enc")), prompt_template_hash=row["prompt_template_hash"],
        pack_versions=json.loads(row["pack_versions"]), rubric=row["rubric"], category=row["category"],
    )


def answer_summary(row: dict[str, Any], question: str, answer: str, n_feedback: int, n_edits: int) -> dict[str, Any]:
    """One line of the answer list (``Store.list_answers``)."""
    return {
        "id": row["id"], "created_at": row["created_at"], "question": question,
        "answer_preview": answer[:200], "model_id": row["model_id"], "model_sha256": row["model_sha256"],
        "category": row["category"], "finish_reason": row["finish_reason"], "blocked": bool(row["blocked"]),
        "signal_levels": signal_levels(row), "n_feedback": n_feedback, "n_edits": n_edits,
    }


# ---------------------------------------------------------------------- feedback
def feedback_row(fid: str, item: FeedbackInput, rubric: Rubric, n_steps: int, role: str, now: float,
                 cipher: FieldCipher) -> dict[str, Any]:
    """Validate ``item`` against the rubric and the answer's ``n_steps`` reasoning steps; its row."""
    rubric.validate_scores(item.scores)
    steps: dict[str, dict[str, int]] = {}
    for step, s in (item.step_scores or {}).items():
        if isinstance(step, bool) or not isinstance(step, int) or not 1 <= step <= n_steps:
            raise InputError(f"reasoning step {step!r} does not exist (the answer has {n_steps} step(s), "
                             "numbered from 1)")
        rubric.validate_scores(s, step=True)
        steps[str(step)] = dict(s)
    flags = sorted(set(item.flags or ()))
    rubric.validate_flags(flags)
    if item.comment is not None and not isinstance(item.comment, str):
        raise InputError("a feedback comment must be text")
    comment = item.comment.strip() if item.comment and item.comment.strip() else None
    return {"id": fid, "answer_id": item.answer_id, "clinician_id": item.clinician_id,
            "clinician_role": role, "rubric_id": rubric.id, "rubric_version": rubric.version,
            "created_at": now, "scores": _json(item.scores), "step_scores": _json(steps),
            "flags": _json(flags), "strike": is_strike(item.scores, flags),
            "comment_enc": cipher.encrypt("feedback", fid, "comment_enc", comment)}


def feedback_out(row: dict[str, Any], cipher: FieldCipher) -> dict[str, Any]:
    return {"id": row["id"], "clinician_id": row["clinician_id"], "clinician_role": row["clinician_role"],
            "rubric": f"{row['rubric_id']}@{row['rubric_version']}", "created_at": row["created_at"],
            "scores": json.loads(row["scores"]),
            "step_scores": {int(k): v for k, v in json.loads(row["step_scores"]).items()},
            "flags": json.loads(row["flags"]), "strike": bool(row["strike"]),
            "comment": decrypt_field(cipher, "feedback", row, "comment_enc")}


# ---------------------------------------------------------------------- edits
def check_edit_text(text: Any) -> None:
    if not isinstance(text, str) or not text.strip():
        raise InputError("an edited answer text must not be empty")


def edit_row(eid: str, answer_id: str, version: int, author_id: str, text: str, now: float,
             cipher: FieldCipher) -> dict[str, Any]:
    return {"id": eid, "answer_id": answer_id, "version": version, "parent_version": version - 1,
            "author_id": author_id, "created_at": now, "text_enc": cipher.encrypt("edits", eid, "text_enc", text)}


def original_version(answer: dict[str, Any], cipher: FieldCipher) -> dict[str, Any]:
    """Version 0 of an answer's text: the model's own answer."""
    return {"version": 0, "id": None, "parent_version": None, "author_id": None, "author_role": "model",
            "created_at": answer["created_at"],
            "text": decrypt_field(cipher, "answers", answer, "answer_enc") or ""}


def edit_out(row: dict[str, Any], role: str, cipher: FieldCipher) -> dict[str, Any]:
    return {"version": row["version"], "id": row["id"], "parent_version": row["parent_version"],
            "author_id": row["author_id"], "author_role": role, "created_at": row["created_at"],
            "text": decrypt_field(cipher, "edits", row, "text_enc")}


# ---------------------------------------------------------------------- acknowledgements
def acknowledgement_row(aid: str, answer: dict[str, Any], clinician_id: str, signal_name: str,
                        now: float) -> dict[str, Any]:
    """``answer``: the answer row's ``id`` and ``signal_levels``; the signal must be one of its own."""
    levels = signal_levels(answer)
    if signal_name not in levels:
        raise InputError(f"answer {answer['id']} has no signal {signal_name!r}")
    return {"id": aid, "answer_id": answer["id"], "clinician_id": clinician_id, "signal_name": signal_name,
            "signal_level": levels[signal_name], "created_at": now}
