"""The local inference engine: a llama.cpp model behind a small streaming interface.

``Engine.stream_chat`` formats chat messages with the model's own chat template, streams one
``TokenEvent`` per completion token (text, natural-log probability, phase) and ends with exactly
one ``DoneEvent``. Log-probabilities come from the logits of the position just sampled, read
straight from llama.cpp's output buffer, so the model runs with ``logits_all=False`` (keeping all
logits makes prompt processing several times slower).

Threads: the model is used by one thread, the one iterating ``stream_chat`` (the caller's
worker). ``cancel()`` may be called from any thread: it stops the generation within one token,
and during prompt processing through llama.cpp's abort callback. After a cancel the engine is
ready for the next request.
"""

from __future__ import annotations

import codecs
import ctypes
import math
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Protocol, runtime_checkable

import numpy as np

from ..errors import ConfigError, InputError, ModelError, ModelLoadError, PromptTooLongError
from ..records.events import DoneEvent, Event, Timings, TokenEvent
from .prompt import check_text
from .reasoning import PhaseTracker

# The answer needs at least this much room in the context (or max_tokens, if smaller).
MIN_ANSWER_TOKENS = 64

# Sampling above temperature 0 (llama-cpp-python's chat defaults); the repeat penalty also
# applies at temperature 0, where it keeps small models out of loops.
TOP_K = 40
TOP_P = 0.95
MIN_P = 0.05
REPEAT_PENALTY = 1.1


@runtime_checkable
class EngineProtocol(Protocol):
    """What the application layer (``service.SafeMedService``) needs from an engine.

    ``Engine`` below is the llama.cpp implementation; tests use a scripted engine that needs no
    GGUF file (``tests/gui/fake_engine.py``). The service builds engines through its
    ``engine_factory(EngineSettings)``.
    """

    def stream_chat(self, messages: list[dict], *, max_tokens: int, temperature: float,
                    cancel: threading.Event | None = None, seed: int | None = None) -> Iterator[TokenEvent | DoneEvent]:
        """TokenEvents, then exactly one DoneEvent (``finish_reason`` "cancelled" when stopped)."""
        ...

    def cancel(self) -> None:
        """Stop the generation in progress; thread-safe, a no-op when idle."""
        ...

    def close(self) -> None:
        """Stop any generation and free the model; idempotent."""
        ...


@dataclass(frozen=True)
class EngineSettings:
    """How to load a model. ``n_threads=0`` means one thread per CPU core."""

    model_path: Path
    n_ctx: int = 2048
    n_threads: int = 0
    n_gpu_layers: int = 0
    chat_format: str = "plain"  # "plain" | "think-answer"
    seed: int = 1234

    def threads(self) -> int:
        """The thread count actually used."""
        return self.n_threads if self.n_threads > 0 else max(1, os.cpu_count() or 1)


class Engine:
    """One loaded model. See the module docstring for threading rules."""

    def __init__(self, settings: EngineSettings):
        self.settings = settings
        path = Path(settings.model_path)
        if settings.n_ctx < 128:
            raise ConfigError(f"context size must be at least 128 tokens, got {settings.n_ctx}")
        if settings.n_threads < 0:
            raise ConfigError(f"thread count must be 0 (automatic) or positive, got {settings.n_threads}")
        if not path.is_file():
            raise ModelLoadError(f"cannot load model: no file at {path}")

        import llama_cpp  # imported here so that commands without a model start fast
        from llama_cpp import llama_chat_format

        self._lc = llama_cpp
        threads = settings.threads()
        try:
            self._llm = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=settings.n_ctx,
                n_threads=threads,
                n_threads_batch=threads,
                n_gpu_layers=settings.n_gpu_layers,
                seed=settings.seed,
                logits_all=False,
                verbose=False,
            )
        except Exception as exc:  # llama-cpp-python raises ValueError/RuntimeError on load failures
            raise ModelLoadError(
                f"llama.cpp could not load model {path.name}: {exc}",
                hint="the file may be corrupt or truncated, too large for memory, or of an architecture "
                "this build does not support",
            ) from exc

        llm = self._llm
        self._vocab = llama_cpp.llama_model_get_vocab(llm.model)
        self._n_vocab = llm.n_vocab()
        self._n_ctx = llm.n_ctx()

        template = llm.metadata.get("tokenizer.chat_template")
        if template:
            eos_id, bos_id = llm.token_eos(), llm.token_bos()
            formatter = llama_chat_format.Jinja2ChatFormatter(
                template=template,
                eos_token=llm._model.token_get_text(eos_id) if eos_id != -1 else "",
                bos_token=llm._model.token_get_text(bos_id) if bos_id != -1 else "",
                stop_token_ids=[eos_id],
            )
            self.chat_template = "gguf"
        else:  # no template embedded in the file: ChatML is the common default
            formatter = llama_chat_format.format_chatml
            self.chat_template = "chatml"
        self._formatter = formatter

        # Per-token scratch, allocated once.
        self._lse_buf = np.empty(self._n_vocab, dtype=np.float32)
        self._logits_type = ctypes.c_float * self._n_vocab
        self._piece_buf = ctypes.create_string_buffer(64)
        self._pieces: dict[int, bytes] = {}

        # Cancellation: a flag read on every token and by llama.cpp's abort callback, which
        # llama.cpp polls between graph nodes inside llama_decode (so prompt processing stops too).
        self._stop = False
        self._call_cancel: threading.Event | None = None
        self._busy = threading.Lock()

        def _abort(_data: Any) -> bool:
            if self._stop:
                return True
            ev = self._call_cancel
            return ev is not None and ev.is_set()

        self._abort_cb = llama_cpp.ggml_abort_callback(_abort)  # keep a reference: C holds the pointer
        self._no_abort_cb = llama_cpp.ggml_abort_callback()  # NULL
        self._abort_installed = False

    # -- properties ---------------------------------------------------------------------------
    @property
    def n_ctx(self) -> int:
        return self._n_ctx

    @property
    def closed(self) -> bool:
        return self._llm is None

    def _require_open(self) -> Any:
        llm = self._llm
        if llm is None:
            raise ModelError("the model has been unloaded (engine closed)")
        return llm

    # -- tokens -------------------------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        """Number of tokens ``text`` takes (no BOS, special tokens not parsed)."""
        llm = self._require_open()
        check_text(text, "text")
        return len(llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def _prompt_tokens(self, messages: list[dict]) -> list[int]:
        llm = self._require_open()
        if not isinstance(messages, list) or not messages:
            raise InputError("no chat messages to send to the model")
        for m in messages:
            if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
                raise InputError("each chat message must have a text 'role' and 'content'")
            check_text(m["content"], f"{m['role']} message")
        try:
            formatted = self._formatter(messages=messages)
        except Exception as exc:  # jinja2 template errors, raise_exception() in the template
            raise InputError(f"the model's chat template rejected the messages: {exc}") from exc
        return llm.tokenize(formatted.prompt.encode("utf-8"), add_bos=not formatted.added_special, special=True)

    def count_chat_tokens(self, messages: list[dict]) -> int:
        """Number of prompt tokens ``messages`` take once formatted with the chat template."""
        return len(self._prompt_tokens(messages))

    def _piece(self, token: int) -> bytes:
        piece = self._pieces.get(token)
        if piece is None:
            buf = self._piece_buf
            n = self._lc.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, False)
            if n < 0:  # buffer too small: -n is the size needed
                buf = ctypes.create_string_buffer(-n)
                n = self._lc.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, False)
            piece = buf.raw[: max(n, 0)]
            self._pieces[token] = piece
        return piece

    def _sampled_logprob(self, token: int) -> float:
        """log softmax(logits)[token] for the position just sampled (the last output row)."""
        ptr = self._lc.llama_get_logits_ith(self._llm.ctx, -1)
        if not ptr:
            return math.nan
        logits = np.frombuffer(self._logits_type.from_address(ctypes.addressof(ptr.contents)), dtype=np.float32)
        m = logits.max()
        buf = self._lse_buf
        np.subtract(logits, m, out=buf)
        np.exp(buf, out=buf)
        return float(logits[token] - m) - math.log(float(buf.sum()))

    def reset_cache(self) -> None:
        """Forget the KV cache: the next prompt is processed from its first token.

        Not needed for correctness (a prompt sharing a prefix with the previous one reuses it);
        benchmarks use it to time full prompt processing.
        """
        llm = self._require_open()
        if not self._busy.acquire(blocking=False):
            raise ModelError("cannot reset the model's cache while it is generating")
        try:
            llm.reset()
        finally:
            self._busy.release()

    # -- log-likelihood scoring (inference/scoring.py) -----------------------------------------
    def chat_prompt_tokens(self, messages: list[dict]) -> list[int]:
        """The prompt tokens of ``messages`` (chat template applied), exactly as ``stream_chat`` processes them."""
        return self._prompt_tokens(messages)

    def text_tokens(self, text: str) -> list[int]:
        """The tokens of ``text`` (no BOS, special tokens not parsed)."""
        llm = self._require_open()
        check_text(text, "text")
        return llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)

    @contextmanager
    def exclusive_llama(self) -> Iterator[Any]:
        """The underlying ``llama_cpp.Llama``, held against generation for the block.

        ``inference/scoring.py`` drives its KV cache directly; the cache is forgotten before and
        after, so the next ``stream_chat`` processes its prompt from the first token.
        """
        llm = self._require_open()
        if not self._busy.acquire(blocking=False):
            raise ModelError("the model is busy generating; cancel it or wait for it to finish")
        try:
            llm.reset()
            llm._ctx.kv_cache_clear()
            yield llm
        finally:
            if self._llm is not None:
                self._llm.reset()
                self._llm._ctx.kv_cache_clear()
            self._busy.release()

    # -- generation ---------------------------------------------------------------------------
    def cancel(self) -> None:
        """Stop the generation in progress (thread-safe). A no-op when idle."""
        self._stop = True

    def _cancelled(self) -> bool:
        if self._stop:
            return True
        ev = self._call_cancel
        return ev is not None and ev.is_set()

    def _set_abort(self, on: bool) -> None:
        if on != self._abort_installed:
            self._lc.llama_set_abort_callback(self._llm.ctx, self._abort_cb if on else self._no_abort_cb, None)
            self._abort_installed = on

    def stream_chat(
        self,
        messages: list[dict],
        *,
        max_tokens: int,
        temperature: float,
        cancel: threading.Event | None = None,
        seed: int | None = None,
    ) -> Iterator[Event]:
        """Stream TokenEvents then one DoneEvent for ``messages`` (chat template applied).

        Runs on the iterating thread. Raises (before any event) InputError for bad arguments,
        PromptTooLongError when the prompt leaves no room for the answer, ModelError when the
        engine is closed or already generating. ``max_tokens`` is clipped to the room left.
        ``seed`` overrides the settings' sampling seed for this call (self-consistency samples).
        """
        self._require_open()
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise InputError(f"max_tokens must be a positive whole number, got {max_tokens!r}")
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not (
            0.0 <= float(temperature) <= 5.0
        ):
            raise InputError(f"temperature must be a number from 0 to 5, got {temperature!r}")
        if not self._busy.acquire(blocking=False):
            raise ModelError("the model is already generating an answer; cancel it or wait for it to finish")
        try:
            self._stop = False
            self._call_cancel = cancel
            done = yield from self._run(messages, max_tokens, float(temperature),
                                        self.settings.seed if seed is None else seed)
        finally:
            if self._llm is not None:
                self._set_abort(False)
            self._call_cancel = None
            self._stop = False
            self._busy.release()
        yield done

    def _run(self, messages: list[dict], max_tokens: int, temperature: float, seed: int) -> Iterator[TokenEvent]:
        """Yield TokenEvents; return the DoneEvent."""
        t0 = time.perf_counter()
        llm = self._llm
        prompt = self._prompt_tokens(messages)
        n_prompt = len(prompt)
        room = self._n_ctx - n_prompt
        reserve = min(max_tokens, MIN_ANSWER_TOKENS)
        if room < reserve:
            raise PromptTooLongError(
                f"prompt is {n_prompt} tokens; the model's context holds {self._n_ctx} "
                f"(with {reserve} reserved for the answer)",
                hint="shorten the question or patient context, or raise the context size",
            )
        budget = min(max_tokens, room)

        texts: list[str] = []
        logprobs: list[float] = []
        ttft: float | None = None
        finish = "length"
        if self._cancelled():
            finish = "cancelled"
        else:
            lc, vocab = self._lc, self._vocab
            is_eog = lc.llama_vocab_is_eog
            piece, logprob = self._piece, self._sampled_logprob
            decode = codecs.getincrementaldecoder("utf-8")(errors="replace").decode
            tracker = PhaseTracker()
            feed = tracker.feed
            llm.set_seed(seed)
            self._set_abort(True)  # prompt processing can be aborted from here on
            gen = llm.generate(
                prompt, top_k=TOP_K, top_p=TOP_P, min_p=MIN_P, temp=temperature, repeat_penalty=REPEAT_PENALTY
            )
            try:
                for token in gen:
                    if ttft is None:
                        # Prompt done: decode steps are short, the per-token flag suffices, and
                        # the Python abort callback (polled once per graph node) costs throughput.
                        self._set_abort(False)
                    if self._cancelled():
                        finish = "cancelled"
                        break
                    if is_eog(vocab, token):
                        finish = "stop"
                        break
                    lp = logprob(token)
                    text = decode(piece(token))
                    index = len(texts)
                    texts.append(text)
                    logprobs.append(lp)
                    if ttft is None:
                        ttft = time.perf_counter() - t0
                    yield TokenEvent(text, lp, feed(text), index)
                    if index + 1 >= budget:
                        finish = "length"
                        break
            except RuntimeError as exc:  # llama_decode returned non-zero (2 = aborted)
                if self._cancelled():
                    finish = "cancelled"
                else:
                    raise ModelError(f"llama.cpp failed while generating: {exc}") from exc
            finally:
                gen.close()
        total = time.perf_counter() - t0
        if ttft is None:
            ttft = total
        n = len(texts)
        decode_s = total - ttft
        timings = Timings(
            ttft_ms=ttft * 1000.0,
            total_ms=total * 1000.0,
            prompt_tokens=n_prompt,
            completion_tokens=n,
            tokens_per_s=(n / decode_s) if n and decode_s > 0 else 0.0,
        )
        return DoneEvent(
            text="".join(texts),
            finish_reason=finish,
            timings=timings,
            token_logprobs=tuple(logprobs),
            token_texts=tuple(texts),
        )

    # -- lifetime -----------------------------------------------------------------------------
    def close(self, timeout: float = 10.0) -> None:
        """Cancel any generation, wait for it to end, and free the model. Idempotent."""
        if self._llm is None:
            return
        self._stop = True
        if not self._busy.acquire(timeout=timeout):
            raise ModelError("cannot unload the model: a generation is still running")
        try:
            if self._llm is not None:
                self._set_abort(False)
                self._llm.close()
                self._llm = None
        finally:
            self._stop = False
            self._busy.release()

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
