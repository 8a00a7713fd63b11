"""Events a generation streams, in order: TokenEvent* then exactly one DoneEvent.

A cancelled generation ends with a DoneEvent whose ``finish_reason`` is ``"cancelled"``
(the text produced so far is kept); errors are raised as ``SafeMedError`` subclasses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Union

Phase = Literal["reasoning", "answer"]


@dataclass(frozen=True)
class TokenEvent:
    text: str  # decoded text of this token (may be "" for a partial UTF-8 sequence)
    logprob: float  # natural-log probability of the sampled token under the model's distribution
    phase: Phase  # "reasoning" inside <think>...</think>, else "answer"
    index: int  # 0-based index of this completion token


@dataclass(frozen=True)
class Timings:
    ttft_ms: float  # request start -> first token
    total_ms: float
    prompt_tokens: int
    completion_tokens: int
    tokens_per_s: float  # completion tokens / (total - ttft)

    def to_dict(self) -> dict:
        return {
            "ttft_ms": round(self.ttft_ms, 2),
            "total_ms": round(self.total_ms, 2),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "tokens_per_s": round(self.tokens_per_s, 2),
        }


@dataclass(frozen=True)
class DoneEvent:
    text: str  # full raw completion text
    finish_reason: str  # "stop" | "length" | "cancelled"
    timings: Timings
    token_logprobs: tuple[float, ...] = field(default=())  # one per completion token
    token_texts: tuple[str, ...] = field(default=())  # one per completion token, aligned with logprobs


Event = Union[TokenEvent, DoneEvent]
