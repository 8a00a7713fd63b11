"""The engine seam: the llama.cpp Engine and the scripted test engine both fit EngineProtocol,
the interface the application layer (service/) programs against."""

from __future__ import annotations

import importlib.util
import inspect
import threading
from pathlib import Path

import pytest

from safemed_desktop.inference.engine import Engine, EngineProtocol, EngineSettings
from safemed_desktop.records.events import DoneEvent, TokenEvent

_spec = importlib.util.spec_from_file_location("scripted_engine", Path(__file__).parents[1] / "gui" / "fake_engine.py")
_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_mod)
FakeEngine = _mod.FakeEngine

STREAM_KEYWORDS = {"max_tokens": inspect.Parameter.empty, "temperature": inspect.Parameter.empty,
                   "cancel": None, "seed": None}


def _check_signatures(cls: type) -> None:
    """Names, kinds and defaults the service relies on (isinstance only checks that the methods exist)."""
    params = list(inspect.signature(cls.stream_chat).parameters.values())
    assert [p.name for p in params[:2]] == ["self", "messages"], cls
    assert params[1].kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    keywords = {p.name: p.default for p in params[2:]}
    assert keywords == STREAM_KEYWORDS, cls
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params[2:]), cls
    for name in ("cancel", "close"):  # callable with no arguments
        inspect.signature(getattr(cls, name)).bind(object())


def test_protocol_declares_what_the_service_calls():
    _check_signatures(EngineProtocol)
    assert {"stream_chat", "cancel", "close"} <= set(dir(EngineProtocol))


@pytest.mark.parametrize("cls", [Engine, FakeEngine], ids=["Engine", "FakeEngine"])
def test_engines_fit_the_protocol_structurally(cls):
    assert issubclass(cls, EngineProtocol)
    _check_signatures(cls)


def test_scripted_engine_needs_no_model_file(tmp_path):
    engine = FakeEngine(EngineSettings(tmp_path / "no-such-model.gguf", n_ctx=256))
    assert isinstance(engine, EngineProtocol)
    events = list(engine.stream_chat([{"role": "user", "content": "dose?"}], max_tokens=5, temperature=0.0,
                                     cancel=threading.Event(), seed=7))
    assert all(isinstance(e, TokenEvent) for e in events[:-1]) and len(events) == 6
    assert isinstance(events[-1], DoneEvent) and events[-1].finish_reason == "length"
    engine.cancel()
    engine.close()
    assert engine.closed


def test_an_object_missing_a_method_does_not_fit():
    class NoClose:
        def stream_chat(self, messages, *, max_tokens, temperature, cancel=None, seed=None):
            yield from ()

        def cancel(self) -> None:
            pass

    assert not isinstance(NoClose(), EngineProtocol)


@pytest.mark.model
def test_loaded_engine_is_an_instance(demo_model_path):
    with Engine(EngineSettings(demo_model_path, n_ctx=256, n_threads=2)) as engine:
        assert isinstance(engine, EngineProtocol)
