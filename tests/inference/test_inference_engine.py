"""The engine on the real demo model through llama.cpp: streaming, log-probs, cancel, limits."""

from __future__ import annotations

import math
import threading
import time

import pytest

from safemed_desktop.errors import InputError, ModelError, ModelLoadError, PromptTooLongError
from safemed_desktop.inference.engine import REPEAT_PENALTY, Engine, EngineSettings
from safemed_desktop.records.events import DoneEvent, TokenEvent
from safemed_desktop.inference.prompt import build_messages
from safemed_desktop.inference.reasoning import PhaseTracker

pytestmark = pytest.mark.model

# A question the demo model answers at some length (checked by the tests that rely on it).
LONG_QUESTION = "Explain the stepwise management of newly diagnosed type 2 diabetes in adults."


def _run(engine, messages, **kw):
    kw.setdefault("max_tokens", 48)
    kw.setdefault("temperature", 0.0)
    events = list(engine.stream_chat(messages, **kw))
    assert events and isinstance(events[-1], DoneEvent)
    assert sum(isinstance(e, DoneEvent) for e in events) == 1
    tokens = [e for e in events if isinstance(e, TokenEvent)]
    assert len(tokens) == len(events) - 1
    return tokens, events[-1]


def test_stream_tokens_concatenate_to_done_text(engine):
    messages = build_messages("What is the usual adult dose of paracetamol?", None, "plain")
    tokens, done = _run(engine, messages, max_tokens=40)
    assert tokens, "the model produced no tokens"
    assert "".join(t.text for t in tokens) == done.text
    assert [t.index for t in tokens] == list(range(len(tokens)))
    assert done.token_texts == tuple(t.text for t in tokens)
    assert done.token_logprobs == tuple(t.logprob for t in tokens)
    assert all(math.isfinite(lp) and lp <= 0.0 for lp in done.token_logprobs)
    assert any(lp < 0.0 for lp in done.token_logprobs)
    assert done.finish_reason in ("stop", "length")
    t = done.timings
    assert t.completion_tokens == len(tokens)
    assert t.prompt_tokens == engine.count_chat_tokens(messages)
    assert 0 < t.ttft_ms <= t.total_ms
    assert t.tokens_per_s > 0


def test_logprobs_match_llama_cpp_logits_all_reference(engine, demo_model_path):
    """Same tokens and log-probs as llama-cpp-python computes with logits_all=True."""
    import llama_cpp

    messages = build_messages("Name two side effects of metformin.", None, "plain")
    tokens, done = _run(engine, messages, max_tokens=16)
    ref = llama_cpp.Llama(str(demo_model_path), n_ctx=512, n_threads=2, logits_all=True, verbose=False)
    try:
        out = ref.create_chat_completion(
            messages, max_tokens=16, temperature=0.0, repeat_penalty=REPEAT_PENALTY, logprobs=True, top_logprobs=1
        )
    finally:
        ref.close()
    content = out["choices"][0]["logprobs"]["content"]
    assert out["choices"][0]["message"]["content"] == done.text
    assert [c["token"] for c in content] == list(done.token_texts)
    for mine, theirs in zip(done.token_logprobs, (c["logprob"] for c in content)):
        assert mine == pytest.approx(theirs, abs=1e-3)


def test_temperature_zero_is_deterministic(engine):
    messages = build_messages("How is hypokalaemia treated?", None, "plain")
    _, first = _run(engine, messages)
    engine.reset_cache()  # the second run processes the prompt from scratch
    _, second = _run(engine, messages)
    assert first.text == second.text and first.text
    assert first.token_logprobs == pytest.approx(second.token_logprobs, abs=1e-4)


def test_sampling_above_zero_temperature(engine):
    messages = build_messages("List three causes of chest pain.", None, "plain")
    tokens, done = _run(engine, messages, max_tokens=24, temperature=0.8)
    assert tokens and all(math.isfinite(t.logprob) and t.logprob <= 0 for t in tokens)
    assert "".join(t.text for t in tokens) == done.text


def test_max_tokens_ends_with_length(engine):
    tokens, done = _run(engine, build_messages(LONG_QUESTION, None, "plain"), max_tokens=5)
    assert len(tokens) == 5 and done.finish_reason == "length"


def test_phases_follow_the_phase_tracker(engine):
    messages = build_messages("What is the antidote for heparin?", None, "think-answer")
    tokens, done = _run(engine, messages, max_tokens=48)
    tracker = PhaseTracker()
    assert [t.phase for t in tokens] == [tracker.feed(t.text) for t in tokens]
    if "<think>" not in done.text.lower():
        assert all(t.phase == "answer" for t in tokens)


def _reference(engine, messages, n=64):
    engine.reset_cache()
    _, ref = _run(engine, messages, max_tokens=n)
    assert ref.timings.completion_tokens >= 20, "test needs a longer reference answer"
    return ref


def test_cancel_during_generation_then_engine_still_works(engine):
    messages = build_messages(LONG_QUESTION, None, "plain")
    ref = _reference(engine, messages)

    third = threading.Event()
    canceller = threading.Thread(target=lambda: (third.wait(30), engine.cancel()))
    canceller.start()
    events = []
    for ev in engine.stream_chat(messages, max_tokens=64, temperature=0.0):
        events.append(ev)
        if isinstance(ev, TokenEvent) and ev.index == 2:
            third.set()
    canceller.join()
    done = events[-1]
    assert done.finish_reason == "cancelled"
    n = done.timings.completion_tokens
    assert 3 <= n < ref.timings.completion_tokens
    assert n <= 3 + 2  # stopped within about a token of the request, allowing for thread scheduling
    assert ref.text.startswith(done.text) and done.text
    assert "".join(e.text for e in events[:-1]) == done.text

    # the next generation is unaffected: same text as before the cancel
    _, again = _run(engine, messages, max_tokens=64)
    assert again.finish_reason != "cancelled"
    assert again.text == ref.text


def test_cancel_event_argument(engine):
    messages = build_messages(LONG_QUESTION, None, "plain")
    stop = threading.Event()
    events = []
    for ev in engine.stream_chat(messages, max_tokens=64, temperature=0.0, cancel=stop):
        events.append(ev)
        if isinstance(ev, TokenEvent) and ev.index == 1:
            stop.set()
    assert events[-1].finish_reason == "cancelled"
    assert len(events) - 1 == 2  # set between tokens: the very next token is not emitted
    # an Event set before the call cancels before any token
    _, done = _run(engine, messages, cancel=stop)
    assert done.finish_reason == "cancelled" and done.text == ""


def _long_messages(engine, target_tokens):
    lines = []
    i = 0
    while True:
        lines.append(f"Day {i}: blood pressure {120 + i % 30}/{70 + i % 20} mmHg, heart rate {60 + i % 40}, "
                     f"creatinine {80 + i % 50} umol/L, potassium {3.5 + (i % 15) / 10:.1f} mmol/L.")
        i += 1
        msgs = build_messages("\n".join(lines) + "\nSummarise the trend.", None, "plain")
        if engine.count_chat_tokens(msgs) >= target_tokens:
            return msgs


def test_cancel_during_prompt_processing(engine):
    messages = _long_messages(engine, 1500)
    n_prompt = engine.count_chat_tokens(messages)
    assert 1500 <= n_prompt < 1700
    engine.reset_cache()

    timer = threading.Timer(0.005, engine.cancel)
    t0 = time.perf_counter()
    timer.start()
    tokens, done = _run(engine, messages, max_tokens=8)
    cancelled_s = time.perf_counter() - t0
    timer.join()
    assert done.finish_reason == "cancelled"
    assert tokens == [] and done.text == ""
    assert engine._llm.n_tokens < n_prompt  # the prompt was not fully processed

    # Baseline in the same run: the same prompt processed in full (also shows the engine recovered).
    tokens, full = _run(engine, messages, max_tokens=2)
    assert full.finish_reason != "cancelled" and tokens
    assert cancelled_s * 1000.0 < full.timings.ttft_ms / 3


def test_prompt_too_long(small_engine):
    messages = build_messages("Summarise: " + "blood pressure stable, " * 200, None, "plain")
    n = small_engine.count_chat_tokens(messages)
    assert n > small_engine.n_ctx
    with pytest.raises(PromptTooLongError) as err:
        list(small_engine.stream_chat(messages, max_tokens=64, temperature=0.0))
    msg = str(err.value)
    assert f"prompt is {n} tokens" in msg and f"holds {small_engine.n_ctx}" in msg and "64 reserved" in msg
    # still usable afterwards
    tokens, done = _run(small_engine, build_messages("Dose of aspirin?", None, "plain"), max_tokens=4)
    assert tokens and done.finish_reason in ("stop", "length")


def test_prompt_leaving_too_little_room(small_engine):
    # fits the context, but not with the 64 tokens reserved for the answer
    for words in range(10, 200, 5):
        messages = build_messages("Summarise: " + "stable " * words, None, "plain")
        n = small_engine.count_chat_tokens(messages)
        if small_engine.n_ctx - 64 < n < small_engine.n_ctx:
            break
    else:
        pytest.fail("could not build a prompt of the wanted size")
    with pytest.raises(PromptTooLongError, match="64 reserved"):
        list(small_engine.stream_chat(messages, max_tokens=500, temperature=0.0))
    # with a small max_tokens the reserve shrinks and the answer is clipped to the room left
    room = small_engine.n_ctx - n
    tokens, done = _run(small_engine, messages, max_tokens=room)
    assert len(tokens) <= room


def test_max_tokens_clipped_to_context(small_engine):
    messages = build_messages("Summarise: " + "stable " * 120, None, "plain")
    n = small_engine.count_chat_tokens(messages)
    room = small_engine.n_ctx - n
    assert 64 <= room < 150
    tokens, done = _run(small_engine, messages, max_tokens=10_000, temperature=0.0)
    assert len(tokens) <= room
    assert done.finish_reason in ("stop", "length")


@pytest.mark.parametrize("kw", [{"max_tokens": 0}, {"max_tokens": -3}, {"max_tokens": 1.5}, {"temperature": -0.1},
                                {"temperature": float("nan")}])
def test_bad_generation_arguments(small_engine, kw):
    args = {"max_tokens": 8, "temperature": 0.0, **kw}
    with pytest.raises(InputError):
        list(small_engine.stream_chat(build_messages("Dose?", None, "plain"), **args))


def test_bad_messages(small_engine):
    with pytest.raises(InputError):
        list(small_engine.stream_chat([], max_tokens=4, temperature=0.0))
    with pytest.raises(InputError, match="invalid characters"):
        list(small_engine.stream_chat([{"role": "user", "content": "a\udc80"}], max_tokens=4, temperature=0.0))


def test_engine_busy_while_generating(small_engine):
    messages = build_messages("Dose of aspirin?", None, "plain")
    first = small_engine.stream_chat(messages, max_tokens=8, temperature=0.0)
    assert isinstance(next(first), TokenEvent)
    with pytest.raises(ModelError, match="already generating"):
        next(small_engine.stream_chat(messages, max_tokens=8, temperature=0.0))
    first.close()  # abandoning a stream frees the engine
    tokens, done = _run(small_engine, messages, max_tokens=4)
    assert tokens


def test_count_tokens(small_engine):
    short = small_engine.count_tokens("aspirin")
    longer = small_engine.count_tokens("aspirin 75 mg once daily with food")
    assert 0 < short < longer
    assert small_engine.count_tokens("") == 0
    with pytest.raises(InputError):
        small_engine.count_tokens("\ud800")


def test_close_is_idempotent_and_final(demo_model_path):
    eng = Engine(EngineSettings(demo_model_path, n_ctx=256, n_threads=2))
    eng.close()
    eng.close()
    assert eng.closed
    with pytest.raises(ModelError, match="unloaded"):
        list(eng.stream_chat(build_messages("Dose?", None, "plain"), max_tokens=4, temperature=0.0))


def test_load_failures(tmp_path):
    with pytest.raises(ModelLoadError, match="no file"):
        Engine(EngineSettings(tmp_path / "missing.gguf", n_threads=2))
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 4096)
    with pytest.raises(ModelLoadError, match="junk.gguf"):
        Engine(EngineSettings(junk, n_threads=2))
    notgguf = tmp_path / "notes.gguf"
    notgguf.write_text("not a model")
    with pytest.raises(ModelLoadError):
        Engine(EngineSettings(notgguf, n_threads=2))
