"""Evaluation runs in the encrypted store: a run's frozen description, its per-item results, its summaries.

Three append-only tables (migration ``m_eval_runs_v1``):

- ``eval_runs``: one row per run: kind (``mcq``, ``redteam``), the frozen description as clear JSON
  (dataset file hash, model sha256, prompt template hash, pack and rubric versions, seed, settings:
  no clinical text), the number of items planned;
- ``eval_items``: one row per finished item, committed in its own transaction as soon as the item
  completes (so a run killed at any moment keeps every item it finished): the clear, queryable result
  (choice, correctness, probabilities, judge scores, block flags) and the encrypted detail
  (``detail_enc``: the prompt, the responses, the judge's rationales);
- ``eval_summaries``: a row each time a run stops (complete or interrupted) with its figures; the
  latest is the run's status.

Functions here take the ``Store`` and are called by its facade methods under its lock; writes go
through ``Store._transaction`` (audit events and a signed checkpoint in the same transaction), reads
check every row against its audit event (``check_record``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from ..records.answer import new_id

if TYPE_CHECKING:
    from .store import Store

KINDS = ("mcq", "redteam")
#: Who may run evaluations (write runs); every signed-in profile may read them.
WRITER_ROLES = ("site_admin", "reviewer")
STATUSES = ("complete", "interrupted")


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _run_row(store: "Store", run_id: str) -> dict[str, Any]:
    """The run's row, verified against the signed chain; InputError when there is no such run."""
    if not isinstance(run_id, str) or not run_id.strip():
        raise InputError("no run id given")
    try:
        return store._verified("eval_runs", run_id.strip(), "evaluation run")
    except InputError:
        raise InputError(f"no evaluation run with id {run_id}", hint="`safemed eval list` shows the runs") from None


def create_run(store: "Store", actor: str, kind: str, description: dict[str, Any], n_items: int) -> str:
    """A new run; returns its id."""
    if kind not in KINDS:
        raise InputError(f"unknown evaluation kind {kind!r} (known: {', '.join(KINDS)})")
    rid = new_id()
    with store._transaction() as tx:
        tx.insert("eval_runs", {"id": rid, "created_at": store._now(), "kind": kind,
                                "description": _json(description), "n_items": int(n_items)}, actor)
    return rid


def add_item(store: "Store", actor: str, run_id: str, seq: int, item_key: str, result: dict[str, Any],
             detail: dict[str, Any]) -> str:
    """Commit one finished item (its own transaction); InputError if the run already has it."""
    with store._transaction() as tx:
        cipher = store._keys.cipher_or_raise()
        run_id = _run_row(store, run_id)["id"]
        clash = store._conn.execute("SELECT 1 FROM eval_items WHERE run_id = ? AND item_key = ?",
                                    [run_id, item_key]).fetchone()
        if clash:
            raise InputError(f"run {run_id} already has a result for item {item_key}")
        iid = new_id()
        tx.insert("eval_items", {"id": iid, "run_id": run_id, "seq": int(seq), "item_key": item_key,
                                 "created_at": store._now(), "result": _json(result),
                                 "detail_enc": cipher.encrypt("eval_items", iid, "detail_enc", _json(detail))},
                  actor)
    return iid


def add_summary(store: "Store", actor: str, run_id: str, status: str, n_done: int, summary: dict[str, Any]) -> str:
    if status not in STATUSES:
        raise InputError(f"unknown run status {status!r}")
    with store._transaction() as tx:
        _run_row(store, run_id)
        sid = new_id()
        tx.insert("eval_summaries", {"id": sid, "run_id": run_id, "created_at": store._now(), "status": status,
                                     "n_done": int(n_done), "summary": _json(summary)}, actor)
    return sid


def _latest_summary(store: "Store", run_id: str) -> dict[str, Any] | None:
    rows = store._verified_rows("eval_summaries", "run_id = ?", [run_id], order_by="created_at DESC, rowid DESC")
    return rows[0] if rows else None


def _run_out(store: "Store", row: dict[str, Any]) -> dict[str, Any]:
    n_done = store._conn.execute("SELECT COUNT(*) FROM eval_items WHERE run_id = ?", [row["id"]]).fetchone()[0]
    latest = _latest_summary(store, row["id"])
    return {"run_id": row["id"], "kind": row["kind"], "created_at": row["created_at"],
            "description": json.loads(row["description"]), "n_items": row["n_items"], "n_done": n_done,
            "status": latest["status"] if latest else "running",
            "finished_at": latest["created_at"] if latest else None,
            "summary": json.loads(latest["summary"]) if latest else None}


def get_run(store: "Store", run_id: str) -> dict[str, Any]:
    return _run_out(store, _run_row(store, run_id))


def list_runs(store: "Store") -> list[dict[str, Any]]:
    """Every run, newest first."""
    return [_run_out(store, r) for r in store._verified_rows("eval_runs", order_by="created_at DESC")]


def items(store: "Store", run_id: str, *, with_detail: bool = False) -> list[dict[str, Any]]:
    """The run's finished items in run order: ``{item_key, seq, created_at, result[, detail]}``."""
    _run_row(store, run_id)
    cipher = store._keys.cipher_or_raise() if with_detail else None
    out = []
    for r in store._verified_rows("eval_items", "run_id = ?", [run_id], order_by="seq"):
        item = {"item_key": r["item_key"], "seq": r["seq"], "created_at": r["created_at"],
                "result": json.loads(r["result"])}
        if cipher is not None:
            item["detail"] = json.loads(cipher.decrypt("eval_items", r["id"], "detail_enc", r["detail_enc"]) or "{}")
        out.append(item)
    return out


def done_keys(store: "Store", run_id: str) -> set[str]:
    """The item keys the run has finished (clear column; no decryption)."""
    _run_row(store, run_id)
    return {r[0] for r in store._conn.execute("SELECT item_key FROM eval_items WHERE run_id = ?", [run_id])}


__all__ = ["KINDS", "WRITER_ROLES", "STATUSES", "create_run", "add_item", "add_summary", "get_run", "list_runs", "items",
           "done_keys"]
