"""The run engine shared by every evaluation: frozen description, per-item commits, resume, progress.

A run has an id and a frozen description (dataset file hash, model sha256, prompt template hash,
pack and rubric versions, seed, settings). Each item's result is committed to the encrypted store
as soon as the item completes (``Store.add_eval_item``: its own transaction), so a run stopped at
any moment, SIGKILL included, keeps every item it finished. Running the same command again with
``run_id`` checks that the description is the same (the same data, model, prompt and settings),
skips the finished items and scores the rest; every item is scored from a clean model state, so
the end result is that of an uninterrupted run. The summary is always computed from the stored
results, in run order.

Progress: a tqdm bar on standard error (items/s and ETA). Ctrl+C stops after the item in flight is
dropped (never half-written): the run is summarised as ``interrupted`` and ``GenerationCancelled``
says how to resume.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ..errors import GenerationCancelled, InputError

#: Description keys that may differ between the invocations of one run (they do not change results).
NOT_FROZEN = ("dataset_name",)


@dataclass(frozen=True)
class PlannedItem:
    key: str
    payload: Any


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    status: str
    n_items: int
    n_done: int
    n_new: int
    summary: dict[str, Any]
    seconds: float


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _frozen(description: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in description.items() if k not in NOT_FROZEN}


def check_same_description(stored: dict[str, Any], new: dict[str, Any], run_id: str) -> None:
    """InputError naming what changed when ``run_id`` was made with another description."""
    a, b = _frozen(stored), _frozen(new)
    if canonical(a) == canonical(b):
        return
    changed = sorted(k for k in set(a) | set(b) if canonical(a.get(k)) != canonical(b.get(k)))
    raise InputError(f"run {run_id} was made with a different {', '.join(changed)}; it cannot be resumed with "
                     "these inputs", hint="run the same command as before, or start a new run without --run-id")


def execute(store: Any, kind: str, description: dict[str, Any], items: Sequence[PlannedItem],
            process: Callable[[PlannedItem], tuple[dict[str, Any], dict[str, Any]]],
            summarize: Callable[[list[dict[str, Any]]], dict[str, Any]], *, run_id: str | None = None,
            progress: bool = True, desc: str = "eval",
            on_start: Callable[[str, int, int], None] | None = None) -> RunOutcome:
    """Run (or resume) one evaluation; see the module docstring. ``on_start(run_id, n_items, n_done)`` is called
    once the run exists (before any item), so a caller can say how to resume it."""
    from tqdm import tqdm

    keys = [it.key for it in items]
    if len(set(keys)) != len(keys):
        raise InputError("the evaluation file has duplicate item ids")
    if run_id is not None:
        run = store.eval_run(run_id)
        if run["kind"] != kind:
            raise InputError(f"run {run_id} is a {run['kind']} run, not {kind}")
        check_same_description(run["description"], description, run_id)
        done = store.eval_done_keys(run_id)
    else:
        if not items:
            raise InputError("no items to evaluate")
        run_id = store.create_eval_run(kind, description, len(items))
        done = set()
    todo = [(i, it) for i, it in enumerate(items) if it.key not in done]
    if on_start is not None:
        on_start(run_id, len(items), len(items) - len(todo))
    t0 = time.perf_counter()
    n_new = 0
    bar = tqdm(total=len(items), initial=len(items) - len(todo), desc=desc, unit="item", file=sys.stderr,
               disable=not progress, dynamic_ncols=True, smoothing=0.1)
    try:
        for seq, item in todo:
            result, detail = process(item)
            store.touch()  # a run at work is activity: a long item must not trip the store's idle lock
            store.add_eval_item(run_id, seq, item.key, result, detail)
            n_new += 1
            bar.update(1)
    except KeyboardInterrupt:
        bar.close()
        n_done = len(items) - len(todo) + n_new
        summary = summarize([r["result"] for r in store.eval_items(run_id)])
        store.add_eval_summary(run_id, "interrupted", n_done, summary)
        raise GenerationCancelled(f"evaluation stopped: {n_done} of {len(items)} items kept in run {run_id}",
                                  hint=f"resume with --run-id {run_id}") from None
    finally:
        bar.close()
    results = [r["result"] for r in store.eval_items(run_id)]
    summary = summarize(results)
    store.touch()
    store.add_eval_summary(run_id, "complete", len(results), summary)
    return RunOutcome(run_id=run_id, status="complete", n_items=len(items), n_done=len(results), n_new=n_new,
                      summary=summary, seconds=time.perf_counter() - t0)


__all__ = ["PlannedItem", "RunOutcome", "execute", "check_same_description", "canonical", "NOT_FROZEN"]
