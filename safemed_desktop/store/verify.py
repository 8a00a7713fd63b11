"""Whole-store checks and figures: the verify report and the stats (both work locked)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from .audit import VerifyReport, verify_chain
from .crypto import FieldCipher
from .keys import signing_key_matches
from .schema import AUDITED_TABLES, SCHEMA_VERSION, migrations

COUNTED_TABLES = ("profiles", "answers", "feedback", "edits", "acknowledgements", "model_reviews")


def verify_report(db: Database, store_uuid: str, ring: dict[str, Any] | None,
                  cipher: FieldCipher | None) -> VerifyReport:
    """Audit chain, checkpoint signatures, every record digest, PRAGMA integrity_check.

    With ``cipher`` (the store is unlocked) it also proves the checkpoint key belongs to this
    store (its private half decrypts under the data key), so re-signed forgeries are caught.
    """
    integrity_rows = [r[0] for r in db.execute("PRAGMA integrity_check").fetchall()]
    integrity = "ok" if integrity_rows == ["ok"] else "; ".join(integrity_rows[:5])
    problems, n_events, n_cp, n_records = verify_chain(
        db.conn, store_uuid, ring["sign_public"] if ring else None, AUDITED_TABLES)
    messages = [m for _, m in problems]
    if ring is None:
        messages.insert(0, "the key ring is missing")
    key_ok: bool | None = None
    if cipher is not None and ring is not None:
        key_ok = signing_key_matches(ring, cipher)
        if not key_ok:
            messages.insert(0, "the checkpoint signing key is not this store's key (key ring replaced)")
    if integrity != "ok":
        messages.insert(0, f"SQLite integrity check failed: {integrity}")
    return VerifyReport(ok=not messages, first_broken=messages[0] if messages else None, n_events=n_events,
                        integrity=integrity, n_checkpoints=n_cp, n_records=n_records,
                        key_authenticated=key_ok, problems=messages)


def store_stats(db: Database, path: Path, unlocked: bool) -> dict[str, Any]:
    """Counts and settings; no clinical content."""
    counts = {t: db[t].count for t in COUNTED_TABLES}
    n_events = db["audit"].count
    n_cp, last_cp = db.execute("SELECT COUNT(*), MAX(ts) FROM checkpoints").fetchone()
    head = db.execute("SELECT seq, head_hash FROM checkpoints ORDER BY seq DESC LIMIT 1").fetchone()
    models = db.execute("SELECT COUNT(DISTINCT model_sha256) FROM answers").fetchone()[0]
    under_review = [r["model_sha256"] for r in db["model_reviews"].rows_where(
        "status = 'open'", select="DISTINCT model_sha256")]
    ring = next(db["keyring"].rows_where("id = 'data'", select="kdf, key_generation"), None)
    meta = {r["id"]: r["value"] for r in db["meta"].rows}
    kdf = json.loads(ring["kdf"]) if ring else {}
    kdf.pop("salt_hex", None)
    sizes = {}
    for name, suffix in (("db", ""), ("wal", "-wal")):
        f = Path(str(path) + suffix)
        sizes[name] = f.stat().st_size if f.exists() else 0
    return {
        "path": str(path), "site_id": meta.get("site_id"), "store_uuid": meta.get("store_uuid"),
        "created_at": float(meta["created_at"]) if "created_at" in meta else None,
        "schema_version": db.execute("PRAGMA user_version").fetchone()[0],
        "migrations": [m.name for m in migrations.applied(db)],
        "records": counts, "audit_events": n_events, "checkpoints": n_cp, "last_checkpoint_at": last_cp,
        "signed_head": {"seq": head[0], "hash": head[1]} if head else None,
        "models": models, "models_under_review": under_review, "kdf": kdf,
        "key_generation": ring["key_generation"] if ring else None, "unlocked": unlocked,
        "bytes": sizes, "app_schema_version": SCHEMA_VERSION,
    }
