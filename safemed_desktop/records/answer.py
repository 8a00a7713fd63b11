"""The answer record: one question, the model's output, its signals, guard decision and identity.

The contract between the engine, the signals, the store and the views (CLI and GUI)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from .events import Timings
from .guard import GuardDecision
from .patient import PatientContext
from .signal import Signal


def new_id() -> str:
    """Record ids are random UUIDs, so records from many workstations merge without collisions."""
    return str(uuid.uuid4())


@dataclass(frozen=True)
class ModelIdentity:
    id: str  # manifest id, or "unapproved:<file name>"
    sha256: str
    approved: bool
    demo: bool
    chat_format: str  # "plain" | "think-answer"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "sha256": self.sha256, "approved": self.approved, "demo": self.demo,
                "chat_format": self.chat_format}


@dataclass
class AnswerRecord:
    question: str
    patient: PatientContext
    model: ModelIdentity
    reasoning_steps: list[str] = field(default_factory=list)
    answer: str = ""
    raw_text: str = ""
    finish_reason: str = "stop"  # stop | length | cancelled | blocked
    timings: Timings | None = None
    token_logprobs_summary: dict[str, Any] = field(default_factory=dict)
    signals: list[Signal] = field(default_factory=list)
    blocked: bool = False
    block_reason: str | None = None
    guard: GuardDecision = field(default_factory=GuardDecision)  # which signals blocked or collapsed it
    prompt_template_hash: str = ""
    pack_versions: dict[str, str] = field(default_factory=dict)
    rubric: str = ""  # e.g. "safemed-cts@1"
    category: str = "general"  # question category for the provenance track record
    id: str = field(default_factory=new_id)
    created_at: float = field(default_factory=time.time)

    @property
    def answer_collapsed(self) -> bool:
        """The answer is shown only behind the alert of the signals in ``guard.collapsed_by``."""
        return self.guard.collapse_answer

    def signal(self, name: str) -> Signal | None:
        return next((s for s in self.signals if s.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "question": self.question,
            "patient": self.patient.to_dict(),
            "reasoning_steps": list(self.reasoning_steps),
            "answer": self.answer,
            "finish_reason": self.finish_reason,
            "blocked": self.blocked,
            "block_reason": self.block_reason,
            "answer_collapsed": self.answer_collapsed,
            "guard": self.guard.to_dict(),
            "model": self.model.to_dict(),
            "timings": self.timings.to_dict() if self.timings else None,
            "token_logprobs_summary": self.token_logprobs_summary,
            "signals": [s.to_dict() for s in self.signals],
            "prompt_template_hash": self.prompt_template_hash,
            "pack_versions": dict(self.pack_versions),
            "rubric": self.rubric,
            "category": self.category,
            "created_at": self.created_at,
        }
