"""Guard policy: the actions a site may set per signal, and the decision they produce.

Policy per signal is ``warn`` (show the badge and banner only) or ``block``:

- a question signal (``adversarial_input``) at alert under ``block``: the question is blocked; the
  model does not run;
- any other signal at alert under ``block``: the answer is collapsed behind the alert; the
  clinician must open it deliberately, and the acknowledgement names that signal.

Signals below alert never block or collapse; ``warn`` never does. The decision names the signals
that blocked (``blocked_by``) or collapsed (``collapsed_by``), so that the view, the
acknowledgement and the provenance follow whichever signal it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from ..errors import ConfigError
from .signal import Signal

GUARD_ACTIONS: tuple[str, ...] = ("warn", "block")
#: Signals whose ``block`` stops the question before generation (the others collapse the answer).
BLOCKING_SIGNALS: tuple[str, ...] = ("adversarial_input",)


@dataclass(frozen=True)
class GuardDecision:
    blocked_by: tuple[str, ...] = ()  # signals that blocked the question (the model does not run)
    collapsed_by: tuple[str, ...] = ()  # signals that collapsed the answer behind their alert
    # one line per acting signal, for people; not part of the decision's identity (a stored answer keeps
    # its reasons only as the blocked record's ``block_reason``)
    reasons: tuple[str, ...] = field(default=(), compare=False)

    @property
    def block(self) -> bool:
        return bool(self.blocked_by)

    @property
    def collapse_answer(self) -> bool:
        return bool(self.collapsed_by)

    def to_dict(self) -> dict[str, Any]:
        return {"blocked_by": list(self.blocked_by), "collapsed_by": list(self.collapsed_by),
                "reasons": list(self.reasons)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> "GuardDecision":
        d = d or {}
        return cls(blocked_by=tuple(d.get("blocked_by", ())), collapsed_by=tuple(d.get("collapsed_by", ())),
                   reasons=tuple(d.get("reasons", ())))


def guard_decision(signals: Iterable[Signal], guard_policy: Mapping[str, str]) -> GuardDecision:
    """The decision for ``signals`` under ``guard_policy`` (``{signal name: 'warn'|'block'}``; missing = warn)."""
    blocked: list[str] = []
    collapsed: list[str] = []
    reasons: list[str] = []
    for s in signals:
        action = guard_policy.get(s.name, "warn")
        if action not in GUARD_ACTIONS:
            raise ConfigError(f"guard.{s.name} must be 'warn' or 'block', got {action!r}")
        if action != "block" or s.level != "alert":
            continue
        if s.name in BLOCKING_SIGNALS:
            blocked.append(s.name)
            reasons.append(f"{s.name} alert blocked the question: {s.summary}")
        else:
            collapsed.append(s.name)
            reasons.append(f"{s.name} alert collapsed the answer: {s.summary}")
    return GuardDecision(blocked_by=tuple(blocked), collapsed_by=tuple(collapsed), reasons=tuple(reasons))
