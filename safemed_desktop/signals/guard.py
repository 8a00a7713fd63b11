"""Guard policy decisions: what a site's ``guard`` table does with signals at ``alert``.

Policy per signal is ``warn`` (show the badge only) or ``block``:

- ``adversarial_input`` at alert under ``block``: the question is blocked; the model does not run;
- any other signal at alert under ``block`` (``medication_safety`` above all): the answer is
  collapsed behind the alert; the clinician must open it deliberately.

Signals below alert never block or collapse; ``warn`` never does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

from ..config import GUARD_ACTIONS
from ..errors import ConfigError
from .record import Signal

BLOCKING_SIGNALS = ("adversarial_input",)  # block the question (before generation)


@dataclass(frozen=True)
class GuardDecision:
    block: bool = False  # do not run the model (or discard the question)
    collapse_answer: bool = False  # show the answer only behind the alert
    reasons: list[str] = field(default_factory=list)


def guard_decision(signals: Iterable[Signal], guard_policy: Mapping[str, str]) -> GuardDecision:
    """The decision for ``signals`` under ``guard_policy`` (``{signal name: 'warn'|'block'}``; missing = warn)."""
    block = collapse = False
    reasons: list[str] = []
    for s in signals:
        action = guard_policy.get(s.name, "warn")
        if action not in GUARD_ACTIONS:
            raise ConfigError(f"guard.{s.name} must be 'warn' or 'block', got {action!r}")
        if action != "block" or s.level != "alert":
            continue
        if s.name in BLOCKING_SIGNALS:
            block = True
            reasons.append(f"{s.name} alert blocked the question: {s.summary}")
        else:
            collapse = True
            reasons.append(f"{s.name} alert collapsed the answer: {s.summary}")
    return GuardDecision(block=block, collapse_answer=collapse, reasons=reasons)
