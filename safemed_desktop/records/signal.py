"""The signal record every trust signal produces (the CLI/GUI/store contract)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Literal

from .patient import PatientContext

#: Every trust signal, in the order the pipeline runs and the views show them.
SIGNAL_NAMES: tuple[str, ...] = (
    "confidence",
    "medication_safety",
    "adversarial_input",
    "red_flags",
    "scope",
    "guideline_consistency",
    "reasoning_consistency",
)

Level = Literal["ok", "caution", "alert", "not_assessed"]
LEVELS: tuple[str, ...] = ("ok", "caution", "alert", "not_assessed")
Target = Literal["question", "answer"]

#: Severity order of the levels: ``not_assessed`` ranks below ``ok`` (it found nothing, and says so).
LEVEL_RANK: dict[str, int] = {"not_assessed": -1, "ok": 0, "caution": 1, "alert": 2}


def worst_level(levels: Iterable[str], default: str = "ok") -> str:
    """The most severe of ``levels`` by ``LEVEL_RANK``; ``default`` when there are none."""
    return max(levels, key=LEVEL_RANK.__getitem__, default=default)


@dataclass(frozen=True)
class Evidence:
    target: Target  # which text the offsets index into
    start: int
    end: int
    text: str  # == source_text[start:end]
    rule: str  # rule id, e.g. "max_daily_dose"
    detail: str  # one line: what the rule found

    def to_dict(self) -> dict:
        return {
            "target": self.target,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "rule": self.rule,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Signal:
    name: str  # confidence | medication_safety | adversarial_input | red_flags | scope | guideline_consistency | reasoning_consistency
    level: Level
    summary: str  # one line a clinician understands
    source: str  # e.g. "formulary@2026.11.0", "model-logprobs"
    score: float | None = None  # in [0, 1] where meaningful
    evidence: tuple[Evidence, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"bad signal level {self.level!r}")
        if self.score is not None and not 0.0 <= self.score <= 1.0:
            raise ValueError(f"signal score {self.score} outside [0, 1]")

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "level": self.level,
            "score": None if self.score is None else round(self.score, 4),
            "summary": self.summary,
            "evidence": [e.to_dict() for e in self.evidence],
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Signal":
        return cls(
            name=d["name"],
            level=d["level"],
            summary=d["summary"],
            source=d["source"],
            score=d.get("score"),
            evidence=tuple(
                Evidence(e["target"], e["start"], e["end"], e["text"], e["rule"], e["detail"]) for e in d.get("evidence", [])
            ),
        )


@dataclass(frozen=True)
class SignalContext:
    """Everything a signal may look at. Every signal module exposes ``assess(ctx) -> Signal``."""

    question: str
    answer: str = ""  # final answer text ("" when only the question is assessed, e.g. before generation)
    patient: PatientContext | None = None
    reasoning: str = ""  # reasoning text (inside <think>), "" if none
    reasoning_steps: tuple[str, ...] = ()
    token_logprobs: tuple[float, ...] | None = None  # answer-span token log-probs; None when no generation ran
    token_texts: tuple[str, ...] | None = None  # aligned with token_logprobs
    expects_reasoning: bool = False  # the model's chat format is <think>/<answer> (a reasoning model)
    # the conversation's earlier turns, (question, answer) oldest first; () for a question asked on its own
    history: tuple[tuple[str, str], ...] = ()

