"""The service API: the one door through which the CLI and the GUI reach the core.

A question flows one way: question -> inference -> trust signals -> (store) -> view.

Threading: a ``SafeMedService`` owns at most one loaded model. ``load_model`` and ``ask``
must be called from one thread (the GUI's model worker, or the CLI's main thread);
``cancel`` may be called from any thread.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
from dataclasses import dataclass
from typing import Callable, Iterator

from .answer import AnswerRecord, ModelIdentity
from .category import categorize_question
from .config import Config, load_config
from .errors import InputError, ModelLoadError, SafeMedError, StoreError
from .inference.events import DoneEvent, TokenEvent
from .patient import PatientContext
from .signals.record import Signal, SignalContext

log = logging.getLogger(__name__)

ProgressFn = Callable[[str, float], None]

#: A token with probability below this counts as "low probability" in the summary.
LOW_PROB = 0.1


@dataclass
class LoadedModel:
    resolved: object  # model_registry.ResolvedModel
    plan: object  # inference.offload.OffloadPlan
    engine: object  # inference.engine.Engine (or a test double with the same interface)
    identity: ModelIdentity
    load_note: str  # how it was loaded, e.g. "CPU, 2 threads (this llama.cpp build has no GPU backend)"


def summarize_logprobs(logprobs: list[float] | tuple[float, ...]) -> dict:
    """Mean/min log-probability and the share of low-probability tokens of a token span."""
    finite = [lp for lp in logprobs if math.isfinite(lp)]
    if not finite:
        return {"n_tokens": 0}
    mean_lp = sum(finite) / len(finite)
    return {
        "n_tokens": len(finite),
        "mean_logprob": round(mean_lp, 4),
        "min_logprob": round(min(finite), 4),
        "mean_prob": round(sum(math.exp(lp) for lp in finite) / len(finite), 4),
        "share_low_prob": round(sum(1 for lp in finite if math.exp(lp) < LOW_PROB) / len(finite), 4),
        "perplexity": round(math.exp(-mean_lp), 4),
    }


def validate_question(question: object) -> str:
    if not isinstance(question, str):
        raise InputError("the question must be text")
    try:
        question.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(f"the question contains invalid characters (at position {exc.start})") from None
    if not question.strip():
        raise InputError("the question is empty")
    return question.strip()


class SafeMedService:
    def __init__(self, config: Config | None = None, *, engine_factory: Callable | None = None):
        self.config = config or load_config()
        self._engine_factory = engine_factory
        self._loaded: LoadedModel | None = None
        self._cancel = threading.Event()

    # ------------------------------------------------------------------ model
    @property
    def loaded(self) -> LoadedModel | None:
        return self._loaded

    def _factory(self) -> Callable:
        if self._engine_factory is None:
            from .inference.engine import Engine

            self._engine_factory = Engine
        return self._engine_factory

    def load_model(self, progress: ProgressFn | None = None) -> LoadedModel:
        """Resolve, verify and load the configured model. Blocking: run it on the model worker."""
        from .inference.engine import EngineSettings
        from .inference.offload import detect_gpu, plan_for_model
        from .model_registry import identity, resolve_model

        def report(stage: str, fraction: float) -> None:
            if progress is not None:
                progress(stage, fraction)

        report("verifying model file", 0.0)
        resolved = resolve_model(
            self.config, progress=lambda done, total: report("verifying model file", 0.8 * done / max(total, 1))
        )
        gpu = detect_gpu()
        plan = plan_for_model(resolved.gguf, n_ctx=self.config.context_size, requested=self.config.gpu_layers, gpu=gpu)
        settings = EngineSettings(
            model_path=resolved.path,
            n_ctx=self.config.context_size,
            n_threads=self.config.threads,
            n_gpu_layers=plan.n_gpu_layers,
            chat_format=resolved.chat_format,
        )
        report("loading model", 0.85)
        self.unload_model()
        try:
            engine = self._factory()(settings)
            note = self._describe_plan(plan, settings.n_threads)
        except ModelLoadError as exc:
            if plan.n_gpu_layers == 0:
                raise
            log.warning("GPU load failed, falling back to CPU: %s", exc)
            settings = EngineSettings(
                model_path=resolved.path,
                n_ctx=self.config.context_size,
                n_threads=self.config.threads,
                n_gpu_layers=0,
                chat_format=resolved.chat_format,
            )
            engine = self._factory()(settings)
            plan = dataclasses.replace(
                plan, n_gpu_layers=0, device=None, needed_bytes=0,
                reason=f"loading {plan.n_gpu_layers} layers on the GPU failed ({exc}); fell back to CPU",
            )
            note = self._describe_plan(plan, settings.n_threads)
        self._loaded = LoadedModel(resolved=resolved, plan=plan, engine=engine, identity=identity(resolved), load_note=note)
        report("ready", 1.0)
        return self._loaded

    @staticmethod
    def _describe_plan(plan, n_threads: int) -> str:
        if plan.n_gpu_layers > 0:
            return f"GPU: {plan.n_gpu_layers} of {plan.n_layers} layers on {plan.device} ({plan.reason})"
        threads = n_threads or "all"
        return f"CPU, {threads} threads ({plan.reason})"

    def unload_model(self) -> None:
        if self._loaded is not None:
            self._loaded.engine.close()
            self._loaded = None

    def _require_loaded(self) -> LoadedModel:
        if self._loaded is None:
            raise ModelLoadError("no model is loaded")
        return self._loaded

    # ------------------------------------------------------------------ asking
    def cancel(self) -> None:
        """Stop the generation in flight (thread-safe; takes effect within one token)."""
        self._cancel.set()
        if self._loaded is not None:
            self._loaded.engine.cancel()

    def ask(
        self,
        question: str,
        patient: PatientContext | None = None,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[TokenEvent | AnswerRecord]:
        """Answer a question: yields TokenEvents as they stream, then the final AnswerRecord.

        If a guard policy blocks the question, the model is not run and only the blocked
        record is yielded. Nothing is stored here: the caller decides (``Store.save_answer``).
        """
        from .inference.prompt import build_messages, template_hash
        from .inference.reasoning import parse_output
        from .rubric import load_rubric
        from .signals.guard import guard_decision
        from .signals.pipeline import assess_all, assess_question, not_assessed_because, pack_versions

        question = validate_question(question)
        patient = patient or PatientContext()
        loaded = self._require_loaded()
        chat_format = loaded.identity.chat_format
        self._cancel.clear()
        record = AnswerRecord(
            question=question,
            patient=patient,
            model=loaded.identity,
            prompt_template_hash=template_hash(chat_format),
            pack_versions=pack_versions(),
            rubric=load_rubric().ref,
            category=categorize_question(question),
        )

        question_signals = assess_question(question, patient)
        decision = guard_decision(question_signals, self.config.guard)
        if decision.block:
            record.blocked = True
            record.finish_reason = "blocked"
            record.block_reason = "; ".join(decision.reasons)
            record.signals = not_assessed_because(question_signals, "the question was blocked; the model did not run")
            yield record
            return

        messages = build_messages(question, patient, chat_format)
        stop = _EitherEvent(self._cancel, cancel)
        answer_lps: list[float] = []
        answer_texts: list[str] = []
        done: DoneEvent | None = None
        for event in loaded.engine.stream_chat(
            messages,
            max_tokens=max_tokens or self.config.max_tokens,
            temperature=self.config.temperature if temperature is None else temperature,
            cancel=stop,
        ):
            if isinstance(event, TokenEvent):
                if event.phase == "answer":
                    answer_lps.append(event.logprob)
                    answer_texts.append(event.text)
                yield event
            else:
                done = event
        assert done is not None, "engine ended without a DoneEvent"

        parsed = parse_output(done.text)
        record.raw_text = done.text
        record.answer = parsed.answer
        record.reasoning_steps = list(parsed.reasoning_steps)
        record.finish_reason = done.finish_reason
        record.timings = done.timings
        record.token_logprobs_summary = summarize_logprobs(answer_lps)
        ctx = SignalContext(
            question=question,
            answer=parsed.answer,
            patient=patient,
            reasoning=parsed.reasoning,
            reasoning_steps=tuple(parsed.reasoning_steps),
            token_logprobs=tuple(answer_lps),
            token_texts=tuple(answer_texts),
            expects_reasoning=chat_format == "think-answer",
        )
        samples = None
        if self.config.self_consistency_k > 0 and done.finish_reason != "cancelled":
            samples = self._extra_samples(
                loaded, messages, self.config.self_consistency_k, max_tokens or self.config.max_tokens, stop
            )
        record.signals = assess_all(ctx, precomputed=question_signals, samples=samples)
        after = guard_decision(record.signals, self.config.guard)
        record.answer_collapsed = after.collapse_answer
        yield record

    @staticmethod
    def _extra_samples(loaded: LoadedModel, messages: list[dict], k: int, max_tokens: int, stop) -> list[str]:
        """k more answers sampled at temperature 0.8 with distinct seeds, for self-consistency."""
        from .inference.reasoning import parse_output

        answers = []
        for i in range(k):
            done = None
            for event in loaded.engine.stream_chat(messages, max_tokens=max_tokens, temperature=0.8,
                                                   cancel=stop, seed=1000 + i):
                if isinstance(event, DoneEvent):
                    done = event
            if done is None or done.finish_reason == "cancelled":
                break
            answers.append(parse_output(done.text).answer)
        return answers

    def ask_to_end(self, question: str, patient: PatientContext | None = None, **kwargs) -> AnswerRecord:
        """``ask`` without streaming: returns the final record."""
        last = None
        for item in self.ask(question, patient, **kwargs):
            last = item
        assert isinstance(last, AnswerRecord)
        return last

    # ------------------------------------------------------------------ store
    @property
    def store_path(self):
        return self.config.paths.store_file

    def store_exists(self) -> bool:
        return self.store_path.exists()

    def create_store(self, passphrase: str, *, kdf_params=None):
        """Create the encrypted store and return it unlocked. ``kdf_params``: tests only (cheaper Argon2id)."""
        from .store import Store

        if self.store_exists():
            raise StoreError(f"a store already exists at {self.store_path}")
        self.store_path.parent.mkdir(parents=True, exist_ok=True)
        return Store.create(self.store_path, passphrase, site_id=self.config.site_id, kdf_params=kdf_params,
                            idle_lock_minutes=self.config.idle_lock_minutes,
                            strike_window_days=self.config.strike_window_days)

    def open_store(self):
        """The store, locked. Raises StoreError when none exists yet."""
        from .store import open_store

        if not self.store_exists():
            raise StoreError(f"no store at {self.store_path}", hint="create one with 'safemed store init'")
        return open_store(self.config)


class _EitherEvent:
    """Looks like a ``threading.Event`` that is set when either of two events is."""

    def __init__(self, a: threading.Event, b: threading.Event | None):
        self._a, self._b = a, b

    def is_set(self) -> bool:
        return self._a.is_set() or (self._b is not None and self._b.is_set())


def assess_signals(ctx: SignalContext) -> list[Signal]:
    """Signals for a given question and answer without generating (``safemed signals``)."""
    from .signals.pipeline import assess_all

    return assess_all(ctx)


__all__ = ["SafeMedService", "LoadedModel", "summarize_logprobs", "validate_question", "assess_signals", "SafeMedError"]
