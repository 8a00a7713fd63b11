"""Provenance: an answer's audits and edits, its model version's track record, the five-strike rule.

Works on clear metadata only (scores, flags, strike bits, categories, model sha256),
so no ciphertext is decrypted to compute a track record.

**Strike**: one feedback record that flags the answer ``unsafe`` or gives score 1 on
``medication_safety`` or ``medical_correctness``. **Five-strike rule**: a model version
(identified by its file sha256) with ``STRIKE_LIMIT`` strikes whose feedback was recorded
within the last ``strike_window_days`` is marked for expert-panel review.

What a clinician sees is computed from verified rows only (``checked.figures`` through
``Store.provenance``). ``track_record``, ``strike_count`` and ``open_review`` below aggregate
the clear columns in SQL without any check: they are the unchecked baseline
``bench/bench_store.py`` measures checked reads against, not a read path of the app.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from ..records.answer import new_id

STRIKE_LIMIT = 5
STRIKE_CRITERIA = ("medication_safety", "medical_correctness")
DAY_S = 86400.0


def is_strike(scores: dict[str, int], flags: list[str] | tuple[str, ...]) -> bool:
    return "unsafe" in flags or any(scores.get(c) == 1 for c in STRIKE_CRITERIA)


def track_record(conn: sqlite3.Connection, model_sha256: str, category: str | None = None) -> dict[str, Any]:
    """Audited answers, mean score per criterion and flag counts for one model version at this workstation."""
    sql = ("SELECT f.answer_id, f.scores, f.flags FROM feedback f JOIN answers a ON a.id = f.answer_id "
           "WHERE a.model_sha256 = ?")
    args: list[Any] = [model_sha256]
    if category is not None:
        sql += " AND a.category = ?"
        args.append(category)
    answers: set[str] = set()
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    flags: dict[str, int] = {}
    n_feedback = 0
    for answer_id, scores_json, flags_json in conn.execute(sql, args):
        n_feedback += 1
        answers.add(answer_id)
        for k, v in json.loads(scores_json).items():
            sums[k] = sums.get(k, 0.0) + v
            counts[k] = counts.get(k, 0) + 1
        for f in json.loads(flags_json):
            flags[f] = flags.get(f, 0) + 1
    return {
        "model_sha256": model_sha256,
        "category": category,
        "audited_answers": len(answers),
        "feedback_count": n_feedback,
        "mean_scores": {k: round(sums[k] / counts[k], 3) for k in sorted(sums)},
        "flag_counts": dict(sorted(flags.items())),
        "unsafe_flags": flags.get("unsafe", 0),
    }


def strike_count(conn: sqlite3.Connection, model_sha256: str, now: float, window_days: int) -> int:
    row = conn.execute("SELECT COUNT(*) FROM feedback f JOIN answers a ON a.id = f.answer_id "
                       "WHERE a.model_sha256 = ? AND f.strike = 1 AND f.created_at >= ?",
                       (model_sha256, now - window_days * DAY_S)).fetchone()
    return int(row[0])


def open_review(conn: sqlite3.Connection, model_sha256: str) -> dict[str, Any] | None:
    row = conn.execute("SELECT id, marked_at, strike_count, window_days FROM model_reviews "
                       "WHERE model_sha256 = ? AND status = 'open' ORDER BY marked_at LIMIT 1",
                       (model_sha256,)).fetchone()
    if row is None:
        return None
    return {"id": row[0], "marked_at": row[1], "strike_count": row[2], "window_days": row[3]}


def strike_status(conn: sqlite3.Connection, model_sha256: str, now: float, window_days: int) -> dict[str, Any]:
    count = strike_count(conn, model_sha256, now, window_days)
    review = open_review(conn, model_sha256)
    return {
        "count": count,
        "limit": STRIKE_LIMIT,
        "window_days": window_days,
        "under_review": review is not None or count >= STRIKE_LIMIT,
        "marked_at": review["marked_at"] if review else None,
    }


def review_due(conn: sqlite3.Connection, model_sha256: str, now: float, window_days: int,
               count: int) -> dict[str, Any] | None:
    """The ``model_reviews`` row marking the model for review, when its verified strike ``count`` reached the
    limit and no review is open."""
    if count < STRIKE_LIMIT or open_review(conn, model_sha256) is not None:
        return None
    return {"id": new_id(), "model_sha256": model_sha256, "marked_at": now, "strike_count": count,
            "window_days": window_days, "status": "open"}


def answer_provenance(answer: dict[str, Any], audits: list[dict[str, Any]], acknowledgements: list[dict[str, Any]],
                      edit_history: list[dict[str, Any]], figures: dict[str, Any], review: dict[str, Any] | None,
                      window_days: int) -> dict[str, Any]:
    """The provenance of one answer (its verified row) from verified parts: its decrypted audits, acknowledgements
    and edit history, the model's figures (``checked.figures``) and its open review, if any."""
    sha = answer["model_sha256"]
    count = figures["strikes"]
    return {
        "answer_id": answer["id"],
        "model": {"id": answer["model_id"], "sha256": sha, "approved": bool(answer["model_approved"]),
                  "demo": bool(answer["model_demo"])},
        "category": answer["category"],
        "created_at": answer["created_at"],
        "audits": audits,
        "reviewer_roles": sorted({a["clinician_role"] for a in audits}),
        "acknowledgements": acknowledgements,
        "edit_history": edit_history,
        "track_record": {"overall": figures["overall"], "category": figures["category"]},
        "strikes": {"count": count, "limit": STRIKE_LIMIT, "window_days": window_days,
                    "under_review": review is not None or count >= STRIKE_LIMIT,
                    "marked_at": review["marked_at"] if review else None},
    }
