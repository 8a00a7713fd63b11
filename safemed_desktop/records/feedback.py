"""A clinician's feedback on one answer, as the views collect it and the service records it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FeedbackDraft:
    answer_id: str
    scores: dict[str, int] = field(default_factory=dict)  # rubric criterion -> 1..5
    step_scores: dict[int, dict[str, int]] = field(default_factory=dict)  # reasoning step (from 1) -> scores
    flags: list[str] = field(default_factory=list)
    comment: str = ""
    edited_text: str | None = None  # None = no edit; otherwise a new version of the answer text

    def is_empty(self) -> bool:
        return not (self.scores or self.step_scores or self.flags or self.comment.strip()
                    or self.edited_text is not None)
