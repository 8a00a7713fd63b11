"""Reading the workstation's records for a sync bundle (see ``safemed_desktop.sync``).

What travels is derived from the schema, not listed here: every table of ``AUDITED_TABLES`` except
``LOCAL_ONLY_TABLES`` (site metadata and key material). A new record type (a new audited table)
joins the export by declaring itself in the schema.

The watermark is an audit sequence number (Anki's update sequence number): a bundle "since ``seq``"
carries every audit event and signed checkpoint after ``seq`` up to the latest checkpoint, and the
current version of every record those events touched. Each record is checked against its latest
audit event (a record altered on disk is refused, nothing is exported), and its sensitive fields are
decrypted so that the sync package can re-encrypt them to the site's key. All of it is read in one
read transaction (one consistent snapshot).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import IntegrityError, StoreError
from .audit import genesis_hash, record_digest
from .crypto import FieldCipher
from . import schema

#: Audited tables that never leave the workstation: site metadata, key material, profile PIN credentials.
LOCAL_ONLY_TABLES = frozenset({"meta", "keyring", "profile_credentials"})
CHUNK = 900  # ids per IN (...) query (below SQLite's default variable limit)

Progress = Callable[[int, int], None]


def exportable_tables() -> tuple[str, ...]:
    """The record types a bundle carries, in schema order."""
    return tuple(t for t in schema.AUDITED_TABLES if t not in LOCAL_ONLY_TABLES)


@dataclass
class ExportBatch:
    """One consistent read of what a bundle since ``from_seq`` carries."""

    workstation_id: str
    site_id: str
    from_seq: int
    from_hash: str  # hash of event ``from_seq`` (the genesis hash when 0)
    to_seq: int
    to_hash: str
    events: list[tuple] = field(default_factory=list)  # (seq, ts, actor, action, table, row_id, digest, prev, hash)
    # (seq, ts, head_hash, signature bytes, format version, previous checkpoint seq or None)
    checkpoints: list[tuple] = field(default_factory=list)
    # (table, id, clear columns, sensitive columns decrypted: str when UTF-8 text, else bytes)
    records: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = field(default_factory=list)


def _hash_at(conn: sqlite3.Connection, store_uuid: str, seq: int) -> str | None:
    if seq == 0:
        return genesis_hash(store_uuid)
    row = conn.execute("SELECT hash FROM audit WHERE seq = ?", (seq,)).fetchone()
    return row[0] if row else None


def pending(conn: sqlite3.Connection, store_uuid: str, since_seq: int) -> dict[str, Any]:
    """What a bundle since ``since_seq`` would carry, counted (clear metadata only; works locked)."""
    head = conn.execute("SELECT seq, head_hash FROM checkpoints ORDER BY seq DESC LIMIT 1").fetchone()
    tables = exportable_tables()
    marks = ", ".join("?" * len(tables))
    counts = dict.fromkeys(tables, 0)
    for table, n in conn.execute(f"SELECT table_name, COUNT(DISTINCT row_id) FROM audit WHERE seq > ? AND "
                                 f"table_name IN ({marks}) GROUP BY table_name", (since_seq, *tables)):
        counts[table] = n
    n_events = conn.execute("SELECT COUNT(*) FROM audit WHERE seq > ?", (since_seq,)).fetchone()[0]
    return {"since_seq": since_seq, "since_hash": _hash_at(conn, store_uuid, since_seq),
            "head_seq": head[0] if head else 0, "head_hash": head[1] if head else genesis_hash(store_uuid),
            "records": counts, "records_waiting": sum(counts.values()), "events_waiting": n_events}


def _decrypted(cipher: FieldCipher, table: str, row: dict[str, Any], cols: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for col in cols:
        raw = cipher.decrypt_bytes(table, row["id"], col, row.pop(col))
        if raw is None:
            out[col] = None
            continue
        try:
            out[col] = raw.decode("utf-8")
        except UnicodeDecodeError:
            out[col] = raw
    return out


def read_export(conn: sqlite3.Connection, cipher: FieldCipher, store_uuid: str, site_id: str, since_seq: int,
                progress: Progress | None = None, *, upto: int | None = None) -> ExportBatch:
    """Everything after ``since_seq`` up to the latest signed checkpoint (at or before ``upto``, the end of the
    chain the store verified), in one read transaction."""
    if since_seq < 0:
        raise StoreError("the sync watermark cannot be negative")
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN")
    try:
        head = conn.execute("SELECT seq, head_hash FROM checkpoints WHERE seq <= ? ORDER BY seq DESC LIMIT 1",
                            (upto if upto is not None else 2 ** 62,)).fetchone()
        to_seq, to_hash = (head[0], head[1]) if head else (0, genesis_hash(store_uuid))
        from_hash = _hash_at(conn, store_uuid, since_seq)
        if from_hash is None or since_seq > to_seq:
            raise StoreError(f"the sync watermark (event #{since_seq}) is not in this store's audit chain",
                             hint="the sync state belongs to another store; re-enroll with `safemed sync enroll`")
        batch = ExportBatch(store_uuid, site_id, since_seq, from_hash, to_seq, to_hash)
        batch.events = conn.execute(
            "SELECT seq, ts, actor, action, table_name, row_id, record_digest, prev_hash, hash FROM audit "
            "WHERE seq > ? AND seq <= ? ORDER BY seq", (since_seq, to_seq)).fetchall()
        cur = conn.execute("SELECT * FROM checkpoints WHERE seq > ? AND seq <= ? ORDER BY seq", (since_seq, to_seq))
        names = [d[0] for d in cur.description]
        for values in cur:
            cp = dict(zip(names, values))
            batch.checkpoints.append((cp["seq"], cp["ts"], cp["head_hash"], bytes(cp["signature"]),
                                      int(cp.get("version") or 1), cp.get("prev_seq")))
        latest: dict[tuple[str, str], str] = {}
        for ev in batch.events:
            latest[(ev[4], ev[5])] = ev[6]
        tables = exportable_tables()
        total = sum(1 for (t, _) in latest if t in tables)
        done = 0
        for table in tables:
            ids = [rid for (t, rid) in latest if t == table]
            cols = schema.SENSITIVE_COLUMNS.get(table, ())
            for start in range(0, len(ids), CHUNK):
                chunk = ids[start:start + CHUNK]
                cur = conn.execute(f"SELECT * FROM {table} WHERE id IN ({', '.join('?' * len(chunk))})", chunk)
                names = [d[0] for d in cur.description]
                found = 0
                for values in cur:
                    row = dict(zip(names, values))
                    found += 1
                    if record_digest(table, row) != latest[(table, row["id"])]:
                        raise IntegrityError(f"{table} record {row['id']} was altered on disk; nothing was exported",
                                             hint="run `safemed store verify`")
                    sensitive = _decrypted(cipher, table, row, cols)
                    batch.records.append((table, row["id"], row, sensitive))
                if found != len(chunk):
                    raise IntegrityError(f"a {table} record named by the audit chain is missing; nothing was "
                                         "exported", hint="run `safemed store verify`")
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
        return batch
    finally:
        if own and conn.in_transaction:
            conn.execute("COMMIT")
