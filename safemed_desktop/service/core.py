"""The application layer: the one door through which the CLI and the GUI reach the core.

One method per use case: load a model, ask, record an answer, submit feedback (with an edit),
acknowledge an alert, open an answer with its provenance, list / verify / add models, diagnose
the workstation (``safemed doctor``), create / open / unlock the store, assess signals for a
given text. ``gui/`` and ``commands/`` import this module, ``records``, ``errors`` and ``config``,
nothing else of the core; every rule (what is stored, how feedback is validated, which signal an
acknowledgement names) lives here or below, once.

A question flows one way: question -> inference -> trust signals -> store -> view.

Threading: a ``SafeMedService`` owns at most one loaded model. ``load_model`` and ``ask`` must
be called from one thread (the GUI's model worker, or the CLI's main thread); ``cancel`` may be
called from any thread. Store calls take the store they act on (the GUI runs them on its store
worker; the store serialises them).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from .. import netguard
from ..category import categorize_question
from ..config import Config, load_config
from ..errors import InputError, ModelError, ModelLoadError, SafeMedError, StoreError
from ..jsonio import check_size, decode_json_document, decode_utf8, read_user_file
from ..paths import make_dir
from ..records import (AnswerRecord, DoneEvent, FeedbackDraft, GuardDecision, ImportedPatient, ModelIdentity, PatientContext,
                      Signal, SignalContext, TokenEvent, guard_decision)

if TYPE_CHECKING:  # types the views may name; imported lazily at run time (the store and engine are heavy)
    from ..inference.engine import EngineProtocol, EngineSettings
    from ..inference.offload import OffloadPlan
    from ..model_registry import ManifestCheck, ModelManifest, ResolvedModel
    from ..rubric import Rubric
    from ..store import Store, VerifyReport

log = logging.getLogger(__name__)

ProgressFn = Callable[[str, float], None]
#: Byte progress of hashing a model file: (bytes done, bytes total).
ByteProgress = Callable[[int, int], None]

#: A token with probability below this counts as "low probability" in the summary.
LOW_PROB = 0.1

install_network_guard = netguard.install_from_env


@dataclass
class LoadedModel:
    resolved: "ResolvedModel"
    plan: "OffloadPlan"
    engine: "EngineProtocol"
    identity: ModelIdentity
    load_note: str  # how it was loaded, e.g. "CPU, 2 threads (this llama.cpp build has no GPU backend)"

    @property
    def name(self) -> str:
        """The manifest's display name, else the model id."""
        manifest = self.resolved.manifest
        return manifest.name if manifest is not None else self.identity.id

    @property
    def label(self) -> str:
        return self.resolved.label

    @property
    def placement(self) -> str:
        """Where the layers run, e.g. 'GPU 30 of 30 layers' or 'CPU'."""
        p = self.plan
        return f"GPU {p.n_gpu_layers} of {p.n_layers} layers" if p.n_gpu_layers > 0 else "CPU"


@dataclass(frozen=True)
class OpenedAnswer:
    """A stored answer as a view shows it: the record, its provenance, and whether its alerts were acknowledged."""

    record: AnswerRecord
    provenance: dict[str, Any]
    acknowledged: bool


@dataclass(frozen=True)
class SubmittedFeedback:
    """What ``submit_feedback`` wrote: the feedback id and/or the new edit version, and the provenance after it."""

    feedback_id: str | None
    edit_version: int | None
    provenance: dict[str, Any]


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


def acknowledged_all(record: AnswerRecord, provenance: dict[str, Any]) -> bool:
    """Whether every signal that collapsed ``record`` has an acknowledgement in ``provenance``."""
    if not record.guard.collapsed_by:
        return False
    acked = {a.get("signal_name") for a in provenance.get("acknowledgements", [])}
    return set(record.guard.collapsed_by) <= acked


class CoreService:
    """Load a model, ask, record, feedback, acknowledgements, provenance, models, doctor, the store."""

    def __init__(self, config: Config | None = None, *,
                 engine_factory: Callable[["EngineSettings"], "EngineProtocol"] | None = None):
        self.config = config or load_config()
        self.load_site_pack()  # type: ignore[attr-defined]  (SyncService: the applied site pack, verified)
        self._engine_factory = engine_factory
        self._loaded: LoadedModel | None = None
        self._cancel = threading.Event()

    #: Overlap the question screen with prompt processing (see ``ask``): True, False, or None (automatic:
    #: overlap when the model runs on a GPU, where prefill and the CPU-side screen use different devices;
    #: screen first on a CPU, where both are compute-bound on the same cores and the overlap measured
    #: slower, see docs/performance.md). ``bench/bench_ttft.py`` measures both against raw llama-cpp-python.
    prefill_during_screen: bool | None = None

    def _overlap(self, loaded: LoadedModel) -> bool:
        if self.prefill_during_screen is not None:
            return bool(self.prefill_during_screen)
        return loaded.plan.n_gpu_layers > 0

    # ================================================================== models
    @property
    def loaded(self) -> LoadedModel | None:
        return self._loaded

    def _factory(self) -> Callable[["EngineSettings"], "EngineProtocol"]:
        if self._engine_factory is None:
            from ..inference.engine import Engine

            self._engine_factory = Engine
        return self._engine_factory

    def load_model(self, progress: ProgressFn | None = None) -> LoadedModel:
        """Resolve, verify and load the configured model. Blocking: run it on the model worker."""
        from ..inference.engine import EngineSettings
        from ..inference.offload import detect_gpu, plan_for_model
        from ..model_registry import identity, resolve_model

        def report(stage: str, fraction: float) -> None:
            if progress is not None:
                progress(stage, fraction)

        report("verifying model file", 0.0)
        resolved = resolve_model(
            self.config, progress=lambda done, total: report("verifying model file", 0.8 * done / max(total, 1))
        )
        plan = plan_for_model(resolved.gguf, n_ctx=self.config.context_size, requested=self.config.gpu_layers,
                              gpu=detect_gpu())

        def settings_for(n_gpu_layers: int) -> EngineSettings:
            return EngineSettings(model_path=resolved.path, n_ctx=self.config.context_size,
                                  n_threads=self.config.threads, n_gpu_layers=n_gpu_layers,
                                  chat_format=resolved.chat_format)

        report("loading model", 0.85)
        self.unload_model()
        settings = settings_for(plan.n_gpu_layers)
        try:
            engine = self._factory()(settings)
        except ModelLoadError as exc:
            if plan.n_gpu_layers == 0:
                raise
            log.warning("GPU load failed, falling back to CPU: %s", exc)
            settings = settings_for(0)
            engine = self._factory()(settings)
            plan = dataclasses.replace(
                plan, n_gpu_layers=0, device=None, needed_bytes=0,
                reason=f"loading {plan.n_gpu_layers} layers on the GPU failed ({exc}); fell back to CPU",
            )
        self._loaded = LoadedModel(resolved=resolved, plan=plan, engine=engine, identity=identity(resolved),
                                   load_note=self._describe_plan(plan, settings.n_threads))
        report("ready", 1.0)
        return self._loaded

    @staticmethod
    def _describe_plan(plan: "OffloadPlan", n_threads: int) -> str:
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
            raise ModelLoadError("no model is loaded", hint="wait for the model to finish loading")
        return self._loaded

    def list_models(self) -> list[dict[str, Any]]:
        """Every model manifest with where its file is and whether it is the configured one."""
        from ..model_registry import find_model_file, list_manifests

        rows = []
        for m in list_manifests(self.config):
            path = find_model_file(self.config, m)
            state = "not imported" if m.sha256 is None else ("present" if path else "missing")
            rows.append({**m.to_dict(), "found_at": str(path) if path else None, "state": state,
                         "configured": m.id == self.config.model})
        return rows

    def list_manifests(self) -> list["ModelManifest"]:
        """The manifests the settings dialog offers."""
        from ..model_registry import list_manifests

        return list_manifests(self.config)

    def verify_models(self, model: str | None = None, *,
                      progress: Callable[[str], ByteProgress] | None = None) -> list["ManifestCheck"]:
        """Re-hash model files against their manifests (every manifest, or the one named ``model``)."""
        from ..model_registry import check_manifest, list_manifests

        manifests = list_manifests(self.config)
        if model is not None:
            manifests = [m for m in manifests if m.id == model]
            if not manifests:
                raise InputError(f"no manifest with id {model!r}")
        return [check_manifest(self.config, m, rehash=True, progress=progress(m.id) if progress else None)
                for m in manifests]

    def verify_model_file(self, path: str, *, progress: ByteProgress | None = None) -> "ResolvedModel":
        """Fully resolve one model file (format, hash, approval); raises with a one-line reason."""
        from ..model_registry import resolve_model

        return resolve_model(self.config, path, progress=progress)

    def add_model(self, path: str, *, model_id: str | None = None, name: str | None = None,
                  chat_format: str | None = None, progress: ByteProgress | None = None) -> "ModelManifest":
        """Approve a GGUF file: check it, hash it, write a site manifest."""
        from ..model_registry import add_model

        return add_model(self.config, path, model_id=model_id, name=name, chat_format=chat_format,
                         progress=progress)

    def diagnose(self) -> tuple[dict[str, Any], bool]:
        """What ``safemed doctor`` reports, and whether the configured model is usable."""
        from ..inference.offload import detect_gpu, llama_build_info, plan_for_model
        from ..model_registry import identity, resolve_model, status_of

        cfg = self.config
        gpu = detect_gpu()
        report: dict[str, Any] = {
            "llama_cpp": llama_build_info(),
            "gpu": gpu.to_dict(),
            "config": {"site_file": str(cfg.paths.site_config_file),
                       "site_file_exists": cfg.paths.site_config_file.is_file(),
                       "user_file": str(cfg.paths.user_config_file),
                       "user_file_exists": cfg.paths.user_config_file.is_file(),
                       "model": {"value": cfg.model, "source": cfg.sources["model"]},
                       "gpu_layers": {"value": cfg.gpu_layers, "source": cfg.sources["gpu_layers"]},
                       "context_size": {"value": cfg.context_size, "source": cfg.sources["context_size"]},
                       "allow_unapproved_models": cfg.allow_unapproved_models},
            "paths": {**cfg.paths.as_dict(), "site_models_dir": str(cfg.paths.site_models_dir),
                      "store_file": str(cfg.paths.store_file)},
        }
        model: dict[str, Any] = {"requested": cfg.model}
        usable = False
        try:
            r = resolve_model(cfg)
        except ModelError as exc:
            model.update(status=str(status_of(exc).value), error=str(exc))
            report["offload"] = None
        else:
            usable = True
            model.update(status="ok" if r.approved else "unapproved", label=r.label, path=str(r.path),
                         identity=identity(r).to_dict(), gguf=r.gguf.summary(),
                         manifest=r.manifest.manifest_path.as_posix() if r.manifest else None,
                         clinically_validated=bool(r.manifest and r.manifest.clinically_validated))
            plan = plan_for_model(r.gguf, requested=cfg.gpu_layers, n_ctx=cfg.context_size, gpu=gpu)
            report["offload"] = plan.to_dict()
        report["model"] = model
        report["site_pack"] = {"in_effect": self.site_pack_in_effect(),  # type: ignore[attr-defined]
                               "problem": self.site_pack_problem}  # type: ignore[attr-defined]
        from .qt_platform import check_qt_platform

        report["desktop"] = check_qt_platform()  # can the window start (the Qt xcb plugin's system libraries)
        report["healthy"] = usable and report["desktop"]["status"] != "missing_libraries"
        return report, usable

    # ================================================================== asking
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
        history: "tuple[tuple[str, str], ...] | list[tuple[str, str]]" = (),
        on_screened: "Callable[[list[Signal], int], None] | None" = None,
    ) -> Iterator[TokenEvent | AnswerRecord]:
        """Answer a question: yields TokenEvents as they stream, then the final AnswerRecord.

        The guard decides on the question signals before any token is yielded. If it blocks the
        question, only the blocked record is yielded: prompt processing started alongside the screen
        (``prefill_during_screen``) is aborted and its output dropped. Nothing is stored here:
        ``record_answer`` does that.

        ``history``: the conversation's earlier turns, (question, answer) oldest first; the model reads them
        (the oldest dropped when they do not fit its context). ``on_screened(question_signals, turns_dropped)``
        is called once the guard has decided on the question, before any token (the view shows the
        question-stage findings while the answer streams).
        """
        from ..inference.prompt import build_conversation_messages, build_messages, template_hash
        from ..inference.reasoning import parse_output
        from ..rubric import load_rubric
        from ..signals.pipeline import assess_all, assess_question, not_assessed_because, pack_versions

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

        # The question is screened before any token reaches the caller. With ``prefill_during_screen``
        # the engine starts on the prompt (prompt processing up to the first sampled token) on a helper
        # thread while the question signals run; that first event is held back until the guard has
        # decided, and a blocked question discards it (the generation is aborted and closed).
        discard = threading.Event()
        stop = _EitherEvent(self._cancel, cancel, discard)
        setup_error: SafeMedError | None = None
        try:
            if history:
                budget = max(256, loaded.engine.n_ctx - (max_tokens or self.config.max_tokens))
                messages, dropped = build_conversation_messages(question, patient, chat_format, history,
                                                                budget_tokens=budget,
                                                                count_tokens=loaded.engine.count_tokens)
            else:
                messages, dropped = build_messages(question, patient, chat_format), 0
            stream = loaded.engine.stream_chat(
                messages,
                max_tokens=max_tokens or self.config.max_tokens,
                temperature=self.config.temperature if temperature is None else temperature,
                cancel=stop,
            )
        except SafeMedError as exc:  # raised once the guard has let the question through
            setup_error, stream, dropped = exc, iter(()), 0
        head = _Prefill(stream) if setup_error is None and self._overlap(loaded) else None

        def drop() -> None:
            discard.set()  # aborts the prefill (llama.cpp's abort callback) or stops it at its first token
            if head is not None:
                head.discard()  # waits for it; its event (and any error) is dropped
            _close(stream)

        try:
            question_signals = assess_question(question, patient, tuple(history or ()))
            decision = guard_decision(question_signals, self.config.guard)
            if on_screened is not None:
                on_screened(list(question_signals), dropped)
        except BaseException:
            drop()
            raise
        if decision.block:
            drop()
            record.blocked = True
            record.finish_reason = "blocked"
            record.block_reason = "; ".join(decision.reasons)
            record.guard = GuardDecision(blocked_by=decision.blocked_by, reasons=decision.reasons)
            record.signals = not_assessed_because(question_signals, "the question was blocked; the model did not run")
            yield record
            return

        if setup_error is not None:
            raise setup_error
        answer_lps: list[float] = []
        answer_texts: list[str] = []
        done: DoneEvent | None = None
        events = head.events() if head is not None else stream
        try:
            for event in events:
                if isinstance(event, TokenEvent):
                    if event.phase == "answer":
                        answer_lps.append(event.logprob)
                        answer_texts.append(event.text)
                    yield event
                else:
                    done = event
        finally:
            _close(stream)
        if done is None:
            raise ModelError("the model stopped without finishing its answer")

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
            history=tuple(history or ()),
        )
        samples = None
        if self.config.self_consistency_k > 0 and done.finish_reason != "cancelled":
            samples = self._extra_samples(
                loaded, messages, self.config.self_consistency_k, max_tokens or self.config.max_tokens, stop
            )
        record.signals = assess_all(ctx, precomputed=question_signals, samples=samples)
        record.guard = guard_decision(record.signals, self.config.guard)
        yield record

    @staticmethod
    def _extra_samples(loaded: LoadedModel, messages: list[dict], k: int, max_tokens: int, stop) -> list[str]:
        """k more answers sampled at temperature 0.8 with distinct seeds, for self-consistency."""
        from ..inference.reasoning import parse_output

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

    def ask_to_end(self, question: str, patient: PatientContext | None = None, **kwargs: Any) -> AnswerRecord:
        """``ask`` without streaming: returns the final record."""
        last = None
        for item in self.ask(question, patient, **kwargs):
            last = item
        if not isinstance(last, AnswerRecord):
            raise ModelError("the question produced no answer record")
        return last

    # ================================================================== signals without generation
    @staticmethod
    def assess_signals(ctx: SignalContext) -> list[Signal]:
        """Signals for a given question and answer without generating (``safemed signals``)."""
        from ..signals.pipeline import assess_all

        return assess_all(ctx)

    @staticmethod
    def warm_up_signals() -> None:
        """Run the signal pipeline once on a dummy text (imports, pack parsing) before the first question."""
        from ..signals.pipeline import assess_all

        assess_all(SignalContext(question="warm-up: paracetamol dose?", answer="Paracetamol 500 mg."))

    @staticmethod
    def read_signal_input(raw: bytes, origin: str) -> SignalContext:
        """Parse and validate a ``{"question", "answer"?, "patient"?, "reasoning"?}`` document."""
        from ..inference.reasoning import split_steps

        fields = ("question", "answer", "patient", "reasoning")
        data = decode_json_document(raw, origin)
        if not isinstance(data, dict):
            raise InputError(f"{origin} must hold a JSON object with a \"question\"")
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise InputError(f"{origin} has unknown field(s): {', '.join(unknown)} (known: {', '.join(fields)})")
        if "question" not in data:
            raise InputError(f"{origin} has no \"question\"")
        question = validate_question(data["question"])
        answer = data.get("answer", "")
        reasoning = data.get("reasoning", "")
        for key, value in (("answer", answer), ("reasoning", reasoning)):
            if not isinstance(value, str):
                raise InputError(f"{origin}: \"{key}\" must be text")
        return SignalContext(
            question=question,
            answer=answer.strip(),
            patient=PatientContext.from_dict(data.get("patient")),
            reasoning=reasoning.strip(),
            reasoning_steps=split_steps(reasoning) if reasoning.strip() else (),
        )

    def read_patient_file(self, path: str | Path) -> ImportedPatient:
        """A patient file: the app's own JSON context, or FHIR R4 (a Bundle, ``$everything``, a Patient, or a
        list of resources; recognised by ``resourceType``) mapped with each field's source and notes.

        InputError (one line) when the file cannot be used; nothing is returned half-read.
        """
        from datetime import date

        from ..fhir import MAX_FILE_BYTES, import_fhir, looks_like_fhir

        p = Path(path)
        origin = f"patient file {p}"
        raw = read_user_file(p, "patient file", MAX_FILE_BYTES)
        data = decode_json_document(raw, origin)  # nesting too deep is its InputError too
        if looks_like_fhir(data):
            return import_fhir(data, origin=origin, today=date.today(), stale_days=self.config.fhir_stale_days)
        return ImportedPatient(PatientContext.from_dict(data))

    @staticmethod
    def read_user_file(path: str | Path, what: str, max_bytes: int | None = None) -> bytes:
        """A file the user named, read with the checks every input file gets (existence, size)."""
        return read_user_file(Path(path), what, max_bytes)

    @staticmethod
    def decode_text(raw: bytes, origin: str, max_bytes: int | None = None) -> str:
        """User-supplied UTF-8 text (a question, a comment), size-checked; InputError naming ``origin``."""
        return decode_utf8(check_size(raw, origin, max_bytes), origin)

    # ================================================================== store: lifecycle
    @property
    def store_path(self) -> Path:
        return self.config.paths.store_file

    def store_exists(self) -> bool:
        return self.store_path.exists()

    def create_store(self, passphrase: str, *, site_id: str | None = None, kdf_params: Any = None,
                     admin_name: str = "admin", admin_pin: str | None = None) -> "Store":
        """Create the encrypted store with its first site administrator (``admin_name``, credential ``admin_pin``)
        and return it unlocked, signed in as that administrator. ``kdf_params``: tests only (cheaper Argon2id)."""
        from ..store import Store, anchor_dir

        if admin_pin is None:
            raise InputError("a new store needs its first site administrator's PIN or passphrase")

        if self.store_exists():
            raise StoreError(f"a store already exists at {self.store_path}")
        make_dir(self.store_path.parent)  # 0700: the data folder is this user's alone
        return Store.create(self.store_path, passphrase, site_id=site_id or self.config.site_id,
                            kdf_params=kdf_params, idle_lock_minutes=self.config.idle_lock_minutes,
                            strike_window_days=self.config.strike_window_days, admin_name=admin_name,
                            admin_pin=admin_pin, anchor_dir=anchor_dir(self.config))

    def open_store(self) -> "Store":
        """The store, locked. Raises StoreError when none exists yet."""
        from ..store import open_store

        if not self.store_exists():
            raise StoreError(f"no store at {self.store_path}", hint="create one with 'safemed store init'")
        return open_store(self.config)

    def unlock_store(self, passphrase: str, store: "Store | None" = None) -> "Store":
        """Open (unless given) and unlock the store; a store this call opened is closed again on failure."""
        s = store if store is not None else self.open_store()
        try:
            s.unlock(passphrase)
        except BaseException:
            if store is None:
                s.close()
            raise
        s.idle_lock_minutes = self.config.idle_lock_minutes
        return s

    # ================================================================== store: use cases
    def record_answer(self, store: "Store", record: AnswerRecord) -> dict[str, Any]:
        """Store an answer; returns its provenance.

        One rule for every caller: every record is stored, answered, cancelled or blocked. A blocked
        question is stored as a blocked attempt (its signals and guard decision, no model output):
        the audit trail and the red-team evidence need it.
        """
        store.save_answer(record)
        return self.provenance(store, record.id)

    @staticmethod
    def load_rubric(ref: str | None = None) -> "Rubric":
        """The published rubric ``id@version`` (default: the current one)."""
        from ..rubric import load_rubric, parse_ref

        return load_rubric(*parse_ref(ref)) if ref else load_rubric()

    def submit_feedback(self, store: "Store", clinician_id: str, draft: FeedbackDraft,
                        rubric: "Rubric | None" = None) -> SubmittedFeedback:
        """Record a clinician's scores, flags, comment and/or edit of one answer.

        Validated once, by the store, in one transaction: an invalid score, step, flag or an empty
        edit writes nothing at all.
        """
        if draft.is_empty():
            raise InputError("nothing to record: give a score, a flag, a comment or an edit")
        rubric = rubric or self.load_rubric()
        feedback_id = None
        if draft.scores or draft.step_scores or draft.flags or draft.comment.strip():
            if not draft.scores:
                raise InputError("feedback needs at least one rubric score")
            feedback_id = store.add_feedback(draft.answer_id, clinician_id, rubric, draft.scores, draft.step_scores,
                                             draft.flags, draft.comment or None, edit_text=draft.edited_text)
        else:
            store.add_edit(draft.answer_id, draft.edited_text or "", clinician_id)
        prov = self.provenance(store, draft.answer_id)
        edit_version = prov["edit_history"][-1]["version"] if draft.edited_text is not None else None
        return SubmittedFeedback(feedback_id=feedback_id, edit_version=edit_version, provenance=prov)

    def acknowledge(self, store: "Store", clinician_id: str, record: AnswerRecord) -> dict[str, Any]:
        """The clinician opens an answer the guard collapsed: one acknowledgement per collapsing signal."""
        if not record.guard.collapsed_by:
            raise InputError("this answer has no alert to acknowledge")
        for name in record.guard.collapsed_by:
            store.record_acknowledgement(record.id, clinician_id, name)
        return self.provenance(store, record.id)

    def open_answer(self, store: "Store", answer_id: str) -> OpenedAnswer:
        """A stored answer, verified, with its provenance (as the history opens it)."""
        record = store.get_answer(answer_id)
        prov = self.provenance(store, answer_id)
        return OpenedAnswer(record=record, provenance=prov, acknowledged=acknowledged_all(record, prov))

    def provenance(self, store: "Store", answer_id: str) -> dict[str, Any]:
        """What stands behind an answer: its audits, edits, acknowledgements, this workstation's track record of
        the model version, and (``site``) the site-wide figures of the applied site pack with its date."""
        prov = store.provenance(answer_id)
        prov["site"] = self.site_track_record(prov)  # type: ignore[attr-defined]  (SyncService)
        return prov

    @staticmethod
    def list_answers(store: "Store", search: str | None = None) -> list[dict[str, Any]]:
        return store.list_answers(search=search or None)

    @staticmethod
    def add_profile(store: "Store", display_name: str, role: str, pin: str) -> tuple[str, list[dict[str, Any]]]:
        """Add a profile with its PIN (a site administrator must be signed in); returns its id and the profiles
        now in the store."""
        pid = store.add_profile(display_name, role, pin)
        return pid, store.list_profiles()

    @staticmethod
    def verify_store(store: "Store") -> "VerifyReport":
        return store.verify()


class _EitherEvent:
    """Looks like a ``threading.Event`` that is set when any of its events is."""

    def __init__(self, a: threading.Event, b: threading.Event | None, c: threading.Event | None = None):
        self._events = tuple(e for e in (a, b, c) if e is not None)

    def is_set(self) -> bool:
        return any(e.is_set() for e in self._events)


def _close(stream: Any) -> None:
    close = getattr(stream, "close", None)
    if close is not None:
        close()


class _Prefill:
    """Pulls the first event of an engine stream (prompt processing and the first sampled token) on a
    helper thread, so that it overlaps the question screen; the event is held until ``events`` is
    iterated. Only one thread ever runs the stream at a time: the helper until it has the first event,
    then (after ``join``) the caller. ``discard`` drops the event and any error."""

    def __init__(self, stream: Iterator[Any]):
        self._stream = stream
        self._first: Any = None
        self._error: BaseException | None = None
        self._ended = False
        self._thread = threading.Thread(target=self._pull, name="safemed-prefill", daemon=True)
        self._thread.start()

    def _pull(self) -> None:
        try:
            self._first = next(self._stream)
        except StopIteration:
            self._ended = True
        except BaseException as exc:  # noqa: BLE001  (re-raised on the caller's thread, or discarded)
            self._error = exc

    def discard(self) -> None:
        self._thread.join()
        self._first = self._error = None

    def events(self) -> Iterator[Any]:
        self._thread.join()
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        if self._ended:
            return
        first, self._first = self._first, None
        yield first
        yield from self._stream


def unified_diff(text_a: str, text_b: str, label_a: str, label_b: str, context: int = 3) -> str:
    """The unified diff the store shows between two versions of an answer's text."""
    from ..store.diffing import unified_diff as _diff

    return _diff(text_a, text_b, label_a, label_b, context=context)


def fmt_bytes(n: int) -> str:
    """A byte count for people (e.g. '97.8 MiB')."""
    from ..inference.offload import fmt_bytes as _fmt

    return _fmt(n)


__all__ = ["CoreService", "LoadedModel", "OpenedAnswer", "SubmittedFeedback", "summarize_logprobs", "validate_question",
           "acknowledged_all", "install_network_guard", "fmt_bytes", "unified_diff", "SafeMedError"]
