"""Verified reads: every row shown or counted is checked against its newest audit event and the chain.

A row passes when its newest audit event lies in the part of the chain this session verified and
signed (``ChainGuard.seq``) and its canonical digest equals the digest that event recorded. A row
that fails is returned as ``{"table", "id", "failed": reason}``, never with its values; a row the
chain records but the table no longer holds is reported as ``{"table", "id", "missing": reason}``.

One SQL statement per table fetches each row with its newest event (the ``(table_name, row_id, seq)``
index), so a checked read costs one digest per row on top of the unchecked query. ``known`` (the store's
session memo) skips the digest of a row already verified at the same audit event with the same values,
as long as no other connection has written to the file since (``PRAGMA data_version``, see
``Store._checked_rows``): what another process or an attacker changes is digested again.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Iterable

from .audit import record_digest

_EV = "_ev_digest_seq"


def row_problem(table: str, row: dict[str, Any], digest: str | None, seq: int | None, trusted_seq: int) -> str | None:
    """Why ``row`` may not be shown (None when it verifies)."""
    rid = row.get("id")
    if digest is None:
        return f"{table} record {rid} has no audit event (written outside SafeMed)"
    if seq > trusted_seq:
        return (f"{table} record {rid}: its audit event #{seq} is not covered by a valid signed checkpoint "
                "(written outside SafeMed)")
    if record_digest(table, row) != digest:
        return f"{table} record {rid} was altered on disk (it no longer matches audit event #{seq})"
    return None


def checked_rows(conn: sqlite3.Connection, table: str, trusted_seq: int, where: str | None = None,
                 args: Iterable[Any] = (), order_by: str | None = None,
                 known: dict | None = None) -> tuple[list[dict[str, Any]], list[dict]]:
    """(rows that verify, failed entries) of ``table`` matching ``where`` (columns unqualified)."""
    sql = (f"SELECT t.*, (SELECT audit.record_digest || ' ' || audit.seq FROM audit WHERE audit.table_name = "
           f"'{table}' AND audit.row_id = t.id ORDER BY audit.seq DESC LIMIT 1) AS {_EV} FROM {table} t")
    if where:
        sql += f" WHERE {where}"
    if order_by:
        sql += f" ORDER BY {order_by}"
    cur = conn.execute(sql, list(args))
    cols = [d[0] for d in cur.description]
    good: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    n = len(cols) - 1
    for values in cur:
        ev = values[n]
        row = dict(zip(cols[:n], values[:n]))
        digest, seq = (ev.split(" ")[0], int(ev.split(" ")[1])) if ev else (None, None)
        memo = (seq, digest, hash(values[:n])) if known is not None else None
        if memo is not None and seq is not None and seq <= trusted_seq and known.get((table, row["id"])) == memo:
            good.append(row)
            continue
        problem = row_problem(table, row, digest, seq, trusted_seq)
        if problem is None:
            good.append(row)
            if memo is not None:
                known[(table, row["id"])] = memo
        else:
            failed.append({"table": table, "id": row.get("id"), "failed": problem})
    return good, failed


def missing_rows(conn: sqlite3.Connection, table: str, trusted_seq: int) -> list[dict[str, Any]]:
    """Rows the verified chain records for ``table`` that the table no longer holds (deleted)."""
    out = []
    for row_id, seq in conn.execute(
            f"SELECT a.row_id, MAX(a.seq) FROM audit a WHERE a.table_name = ? AND a.seq <= ? "
            f"AND NOT EXISTS (SELECT 1 FROM {table} t WHERE t.id = a.row_id) GROUP BY a.row_id ORDER BY 2",
            (table, trusted_seq)):
        out.append({"table": table, "id": row_id,
                    "missing": f"{table} record {row_id} is missing (deleted); audit event #{seq} records it"})
    return out


def figures(feedback: list[dict[str, Any]], categories: dict[str, str], category: str, model_sha256: str,
            now: float, window_days: int) -> dict[str, Any]:
    """Track record (overall and for ``category``) and strike count from verified feedback rows, in one pass.

    ``categories``: answer id -> category of every verified answer of the model.
    """
    acc = {None: _Acc(), category: _Acc()}
    since = now - window_days * 86400.0
    strikes = 0
    for f in feedback:
        scores, flags = json.loads(f["scores"]), json.loads(f["flags"])
        acc[None].add(f["answer_id"], scores, flags)
        if categories.get(f["answer_id"]) == category:
            acc[category].add(f["answer_id"], scores, flags)
        if f["strike"] and f["created_at"] >= since:
            strikes += 1
    return {"overall": acc[None].out(model_sha256, None), "category": acc[category].out(model_sha256, category),
            "strikes": strikes}


class _Acc:
    def __init__(self) -> None:
        self.answers: set[str] = set()
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.flags: dict[str, int] = {}
        self.n = 0

    def add(self, answer_id: str, scores: dict[str, int], flags: list[str]) -> None:
        self.n += 1
        self.answers.add(answer_id)
        for k, v in scores.items():
            self.sums[k] = self.sums.get(k, 0.0) + v
            self.counts[k] = self.counts.get(k, 0) + 1
        for fl in flags:
            self.flags[fl] = self.flags.get(fl, 0) + 1

    def out(self, model_sha256: str, category: str | None) -> dict[str, Any]:
        return {"model_sha256": model_sha256, "category": category, "audited_answers": len(self.answers),
                "feedback_count": self.n,
                "mean_scores": {k: round(self.sums[k] / self.counts[k], 3) for k in sorted(self.sums)},
                "flag_counts": dict(sorted(self.flags.items())), "unsafe_flags": self.flags.get("unsafe", 0)}
