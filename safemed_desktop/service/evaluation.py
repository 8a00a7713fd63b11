"""Evaluation use cases: benchmark accuracy, the two-arm red team, the judge, and the runs in the store.

``SafeMedService`` inherits ``EvaluationService``; the work itself lives in ``safemed_desktop.evaluation``
(layer 7), which this class drives with the loaded model, the trust signals, the guard and the store.
Runs are deterministic: temperature 0, the engine's fixed seed, and every item from an empty KV cache.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..errors import ConfigError, InputError, ModelError, SafeMedError
from ..records import DoneEvent, SignalContext

if TYPE_CHECKING:
    from ..evaluation.judge import Judge
    from ..evaluation.runs import RunOutcome
    from ..store import Store

#: Seed of every bootstrap and of generation (the engine's sampling seed, unused at temperature 0).
EVAL_SEED = 20261202
#: Tokens each red-team response may take (both arms), unless the caller says otherwise.
REDTEAM_MAX_TOKENS = 160


class EvaluationService:
    """``eval mcq``, ``eval redteam``, ``eval judge``, ``eval list``, ``eval show``."""

    # ------------------------------------------------------------------ shared
    def _eval_model(self) -> Any:
        loaded = self._loaded if self._loaded is not None else self.load_model()  # type: ignore[attr-defined]
        return loaded

    def _description(self, kind: str, loaded: Any, dataset: dict[str, Any], name: str,
                     settings: dict[str, Any], prompt: dict[str, Any], judge: dict[str, Any] | None = None) -> dict:
        from ..rubric import load_rubric
        from ..signals.pipeline import pack_versions

        ident = loaded.identity
        out = {"dataset": dataset, "dataset_name": name,
               "model": {"id": ident.id, "sha256": ident.sha256, "chat_format": ident.chat_format},
               "prompt_template": prompt, "pack_versions": pack_versions(), "rubric": load_rubric().ref,
               "seed": EVAL_SEED, "settings": settings, "safemed_version": __version__}
        if judge is not None:
            out["judge"] = judge
        return out

    @staticmethod
    def _scorer(engine: Any) -> Any:
        from ..inference.scoring import OptionScorer

        if not hasattr(engine, "exclusive_llama"):
            raise ModelError("log-likelihood scoring needs the llama.cpp engine (this engine cannot score options)")
        return OptionScorer(engine)

    # ------------------------------------------------------------------ benchmark accuracy
    def eval_mcq(self, store: "Store", path: str | Path, fmt: str, *, test_ids: str | Path | None = None,
                 limit: int | None = None, run_id: str | None = None, progress: bool = True,
                 on_start: Any = None, mode: str = "loglik", think_tokens: int | None = None) -> "RunOutcome":
        """Score a multiple-choice file; per-item results go to ``store`` as they finish. ``mode``: ``loglik``
        (option log-likelihood) or ``generate`` (the model thinks for up to ``think_tokens``, then a grammar
        picks the letter; ``evaluation.mcq``)."""
        from ..evaluation import mcq, runs
        from ..signals.pipeline import assess_one

        if mode not in mcq.MODES:
            raise InputError(f"unknown --mode {mode!r} (known: {', '.join(mcq.MODES)})")
        if think_tokens is not None and mode != "generate":
            raise InputError("--think-tokens applies to --mode generate only")
        if think_tokens is not None and (isinstance(think_tokens, bool) or not isinstance(think_tokens, int)
                                         or think_tokens < 1):
            raise InputError("--think-tokens must be at least 1")
        data = mcq.load_mcq(path, fmt, test_ids=test_ids, limit=limit)
        if run_id is not None:  # a run keeps its mode: say so plainly before loading the model
            earlier = store.eval_run(run_id)
            was = ((earlier.get("description") or {}).get("settings") or {}).get("mode")
            if earlier.get("kind") == "mcq" and was and was != mode:
                raise InputError(f"run {run_id} was made with --mode {was}; resume it with --mode {was}, or start a "
                                 f"new run without --run-id")
        loaded = self._eval_model()
        scorer = self._scorer(loaded.engine)
        dataset = {"format": fmt, "sha256": data.sha256, "test_ids_sha256": data.test_ids_sha256, "limit": limit,
                   "n_items": len(data.items)}
        if mode == "loglik":
            description = self._description(
                "mcq", loaded, dataset, Path(path).name,
                {"mode": "loglik", "n_ctx": loaded.engine.n_ctx, "continuation": mcq.CONTINUATION},
                {"version": mcq.PROMPT_VERSION, "sha256": mcq.template_sha256()})
        else:
            from ..inference.engine import REPEAT_PENALTY

            chat_format = loaded.identity.chat_format
            budget = think_tokens or mcq.DEFAULT_THINK_TOKENS
            description = self._description(
                "mcq", loaded, dataset, Path(path).name,
                {"mode": "generate", "n_ctx": loaded.engine.n_ctx,
                 "continuation": mcq.GENERATE_CONTINUATIONS.get(chat_format),
                 "think_tokens": budget, "temperature": 0.0, "repeat_penalty": REPEAT_PENALTY,
                 "answer_prefix": mcq.answer_prefix(chat_format), "think_stops": list(mcq.THINK_STOPS)},
                {"version": mcq.GENERATE_PROMPT_VERSION, "sha256": mcq.generate_template_sha256(chat_format)})

        def confidence(question: str, answer: str, option: Any) -> Any:
            return assess_one("confidence", SignalContext(question=question, answer=answer,
                                                          token_logprobs=option.token_logprobs,
                                                          token_texts=option.token_texts))

        if mode == "loglik":
            def process(p: Any) -> Any:
                return mcq.score_item(p.payload, scorer, confidence)
        else:
            def process(p: Any) -> Any:
                return mcq.generate_item(p.payload, scorer, chat_format, budget, REPEAT_PENALTY, confidence)

        items = [runs.PlannedItem(it.key, it) for it in data.items]
        return runs.execute(store, "mcq", description, items, process,
                            functools.partial(mcq.summarize, seed=EVAL_SEED), run_id=run_id, progress=progress,
                            desc=f"eval mcq {fmt}" + (" (generate)" if mode == "generate" else ""),
                            on_start=on_start)

    # ------------------------------------------------------------------ the judge
    def rule_judge(self) -> "Judge":
        """The rules judge, reading the trust signals it uses (``JUDGE_SIGNALS``) on each request and response."""
        from ..evaluation.judge import JUDGE_SIGNALS, RuleJudge
        from ..signals.pipeline import assess_one

        def signals(question: str, answer: str) -> list[Any]:
            ctx = SignalContext(question=question, answer=answer)
            return [assess_one(name, ctx) for name in JUDGE_SIGNALS]

        return RuleJudge(signals)

    def judge_model_choice(self, judge_model: str | None = None) -> tuple[str | None, str | None]:
        """The judge model to use: ``judge_model`` when given, else the site's ``judge_model`` setting; with the
        config source it came from (None when the caller gave it)."""
        if judge_model:
            return judge_model, None
        config = self.config  # type: ignore[attr-defined]
        if not config.judge_model:
            return None, None
        return config.judge_model, config.sources.get("judge_model")

    def load_judge(self, judge_model: str | None = None) -> "Judge":
        """The rules judge, or (with ``judge_model``: a model id or GGUF path; default: the site's ``judge_model``
        setting) a local judge model with the rules in its rationale. The judge model is resolved and checked
        like any model (hash, approval)."""
        from ..evaluation.judge import CombinedJudge, ModelJudge

        rules = self.rule_judge()
        judge_model, source = self.judge_model_choice(judge_model)
        if not judge_model:
            return rules
        from ..inference.engine import EngineSettings

        try:
            resolved = self.verify_model_file(judge_model)  # type: ignore[attr-defined]
            engine = self._factory()(EngineSettings(model_path=resolved.path, n_ctx=self.config.context_size,  # type: ignore[attr-defined]
                                                    n_threads=self.config.threads, n_gpu_layers=0,  # type: ignore[attr-defined]
                                                    chat_format=resolved.chat_format))
        except SafeMedError as exc:
            if source is None:
                raise
            raise ConfigError(f"judge_model ({source}): {exc}") from exc
        self._judge_engines = getattr(self, "_judge_engines", []) + [engine]
        return CombinedJudge(ModelJudge(self._scorer(engine), label=resolved.label), rules)

    def close_judge_models(self) -> None:
        """Free the judge models ``load_judge`` loaded."""
        engines, self._judge_engines = getattr(self, "_judge_engines", []), []
        for engine in engines:
            engine.close()

    def judge_file(self, path: str | Path, judge_model: str | None = None) -> list[dict[str, Any]]:
        """Score every ``{request, response}`` line: ``{score, rationale, source, unsafe}`` in input order."""
        from ..evaluation.judge import read_pairs

        judge = self.load_judge(judge_model)
        return [judge.judge(x.request, x.response).to_dict() for x in read_pairs(path)]

    def judge_calibration(self, path: str | Path | None = None, judge_model: str | None = None) -> dict[str, Any]:
        """The judge's agreement with a labelled set (default: the calibration set shipped with the app)."""
        from ..evaluation.judge import CALIBRATION_FILE, agreement, read_pairs

        return agreement(self.load_judge(judge_model), read_pairs(path or CALIBRATION_FILE, require_label=True))

    # ------------------------------------------------------------------ red team
    def eval_redteam(self, store: "Store", path: str | Path, fmt: str, *, limit: int | None = None,
                     run_id: str | None = None, max_tokens: int | None = None, judge_model: str | None = None,
                     progress: bool = True, on_start: Any = None) -> "RunOutcome":
        """The same prompts to the raw model and through ``ask`` (signals and guard); both judged; stored per item."""
        from ..evaluation import judge as judge_mod
        from ..evaluation import redteam, runs
        from ..inference.prompt import build_messages, template_hash
        from ..inference.reasoning import parse_output

        suite = redteam.load_suite(path, fmt, limit=limit)
        judge = self.load_judge(judge_model)  # first: a judge model that cannot load stops the run before any work
        judge_model = self.judge_model_choice(judge_model)[0]  # what the description records
        loaded = self._eval_model()
        engine = loaded.engine
        budget = max_tokens or REDTEAM_MAX_TOKENS
        chat_format = loaded.identity.chat_format
        description = self._description(
            "redteam", loaded, {"format": fmt, "sha256": suite.sha256, "limit": limit, "n_items": len(suite.items)},
            Path(path).name, {"max_tokens": budget, "temperature": 0.0, "guard": dict(self.config.guard)},  # type: ignore[attr-defined]
            {"version": "app", "sha256": template_hash(chat_format)},
            {"source": judge.source, "rubric": judge_mod.RUBRIC_VERSION, "model": judge_model})

        def fresh() -> None:  # every generation from an empty cache: a resumed run answers like an uninterrupted one
            reset = getattr(engine, "reset_cache", None)
            if reset is not None:
                reset()

        def raw_generate(prompt: str) -> str:
            fresh()
            done = None
            for event in engine.stream_chat(build_messages(prompt, None, chat_format), max_tokens=budget,
                                            temperature=0.0):
                if isinstance(event, DoneEvent):
                    done = event
            if done is None:
                raise ModelError("the model stopped without finishing its answer")
            return parse_output(done.text).answer

        def guarded_ask(prompt: str) -> dict[str, Any]:
            fresh()
            record = self.ask_to_end(prompt, None, max_tokens=budget, temperature=0.0)  # type: ignore[attr-defined]
            return {"blocked": record.blocked, "blocked_by": record.guard.blocked_by,
                    "collapsed_by": record.guard.collapsed_by, "answer": record.answer,
                    "block_reason": record.block_reason}

        # the judge's agreement with its calibration set, for the detector-error correction (before the run:
        # it takes a while, and the store's idle lock counts from the last item)
        cal = judge_mod.agreement(judge, judge_mod.read_pairs(judge_mod.CALIBRATION_FILE, require_label=True))

        def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
            err = None
            if cal["unsafe_sensitivity"] is not None and cal["unsafe_specificity"] is not None:
                err = {"sensitivity": cal["unsafe_sensitivity"], "specificity": cal["unsafe_specificity"]}
            out = redteam.summarize(results, seed=EVAL_SEED, judge_error=err)
            out["judge_calibration"] = {k: cal[k] for k in ("n", "quadratic_weighted_kappa", "unsafe_sensitivity",
                                                            "unsafe_specificity")}
            return out

        items = [runs.PlannedItem(it.key, it) for it in suite.items]
        return runs.execute(store, "redteam", description, items,
                            lambda p: redteam.process_item(p.payload, raw_generate, guarded_ask, judge),
                            summarize, run_id=run_id, progress=progress, desc=f"eval redteam {fmt}",
                            on_start=on_start)

    # ------------------------------------------------------------------ runs
    @staticmethod
    def list_eval_runs(store: "Store") -> list[dict[str, Any]]:
        return store.list_eval_runs()

    @staticmethod
    def show_eval_run(store: "Store", run_id: str, *, items: bool = False, transcripts: bool = False) -> dict[str, Any]:
        """A run's description, status and summary; with ``items`` its per-item results (with ``transcripts``,
        decrypted prompts and responses too)."""
        run = store.eval_run(run_id)
        if items or transcripts:
            run["items"] = store.eval_items(run_id, with_detail=transcripts)
        return run


__all__ = ["EvaluationService", "EVAL_SEED", "REDTEAM_MAX_TOKENS"]
