"""A deterministic engine satisfying inference.engine.EngineProtocol, with no GGUF file (GUI and service tests).

It streams a fixed ``<think>...</think><answer>...</answer>`` text token by token. ``hold_at``
makes it wait (on an Event, not a sleep) after that many tokens until cancelled or released,
so "stop mid-answer" is deterministic.
"""

from __future__ import annotations

import re
import threading
import time
from typing import TYPE_CHECKING, Iterator

from safemed_desktop.errors import ModelError
from safemed_desktop.records.events import DoneEvent, Event, Timings, TokenEvent
from safemed_desktop.inference.reasoning import PhaseTracker

if TYPE_CHECKING:
    from safemed_desktop.inference.engine import EngineProtocol, EngineSettings

DEFAULT_TEXT = ("<think>1. The patient has a fever and asks about paracetamol.\n"
                "2. Usual adult dosing is weight based with a daily maximum.\n"
                "3. Reduced renal function calls for caution.</think>"
                "<answer>Paracetamol 500 mg to 1 g every 4 to 6 hours, at most 4 g per day.</answer>")


class FakeEngine:
    text = DEFAULT_TEXT
    hold_at: int | None = None  # tokens streamed before waiting for cancel/release
    release = threading.Event()
    instances: list["FakeEngine"] = []

    def __init__(self, settings: EngineSettings):
        self.settings = settings
        self._stop = False
        self._closed = False
        self.held = threading.Event()
        FakeEngine.instances.append(self)

    @property
    def n_ctx(self) -> int:
        return self.settings.n_ctx

    @property
    def closed(self) -> bool:
        return self._closed

    def count_tokens(self, text: str) -> int:
        return len(self.tokens(text))

    @staticmethod
    def tokens(text: str) -> list[str]:
        return re.findall(r"<[^>]*>|\s*[^\s<]+|\s+", text)

    def cancel(self) -> None:
        self._stop = True

    def stream_chat(self, messages: list[dict], *, max_tokens: int, temperature: float,
                    cancel: threading.Event | None = None, seed: int | None = None) -> Iterator[Event]:
        if self._closed:
            raise ModelError("the engine is closed")
        self._stop = False
        t0 = time.perf_counter()
        tracker = PhaseTracker()
        texts: list[str] = []
        finish = "stop"
        for i, tok in enumerate(self.tokens(self.text)):
            if i >= max_tokens:
                finish = "length"
                break
            if self.hold_at is not None and i == self.hold_at:
                self.held.set()
                while not (self._stop or (cancel is not None and cancel.is_set()) or self.release.is_set()):
                    self.release.wait(0.01)
            if self._stop or (cancel is not None and cancel.is_set()):
                finish = "cancelled"
                break
            texts.append(tok)
            yield TokenEvent(tok, -0.05, tracker.feed(tok), i)
        total = (time.perf_counter() - t0) * 1000
        n = len(texts)
        yield DoneEvent("".join(texts), finish, Timings(1.0, total, 20, n, n / max(total / 1000, 1e-6)),
                        tuple(-0.05 for _ in texts), tuple(texts))
        self._stop = False

    def close(self) -> None:
        self._closed = True


if TYPE_CHECKING:  # a type checker verifies the fit; tests/inference/test_engine_protocol.py checks it at run time
    _fits: type[EngineProtocol] = FakeEngine
