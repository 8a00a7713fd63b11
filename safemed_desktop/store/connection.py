"""The store's SQLite connection: pragmas, error translation, and the rows of one write transaction.

Durability: in WAL mode ``synchronous=FULL`` fsyncs the WAL at every commit, so a committed
feedback survives power loss, not only a process crash (``NORMAL`` would only guarantee the
latter).

Writes stay raw SQL on purpose: every row written must produce its audit event in the same
``BEGIN IMMEDIATE`` transaction (see ``Store._transaction``), with the exact values digested.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from ..errors import DiskFullError, IntegrityError, StoreError, StoreLockedError
from .audit import PendingEvent, record_digest


def map_sqlite_error(exc: sqlite3.Error, path: Path, busy_timeout_s: float) -> StoreError:
    """Translate an sqlite3 error into the SafeMed hierarchy with a one-line message."""
    msg = str(exc).lower()
    if "locked" in msg or "busy" in msg:
        return StoreLockedError(f"the store {path} is locked by another process (still busy after "
                                f"{busy_timeout_s:g} s)", hint="close the other SafeMed window or process and retry")
    if "disk is full" in msg or "database or disk is full" in msg:
        return DiskFullError(f"the disk holding {path} is full; the write was rolled back and nothing partial was saved",
                             hint="free disk space and retry")
    if "not a database" in msg or "malformed" in msg:
        return IntegrityError(f"{path} is not a readable SafeMed store: {exc}")
    if "readonly" in msg or "read-only" in msg:
        return StoreError(f"the store {path} is read-only: {exc}")
    return StoreError(f"database error on {path}: {exc}")


@contextmanager
def sqlite_errors(path: Path, busy_timeout_s: float) -> Iterator[None]:
    """Raise any sqlite3 error from the block as its SafeMed error (``map_sqlite_error``)."""
    try:
        yield
    except sqlite3.Error as exc:
        raise map_sqlite_error(exc, path, busy_timeout_s) from exc


def connect(path: Path, busy_timeout_s: float) -> sqlite3.Connection:
    """Open ``path`` in WAL mode, ``synchronous=FULL``, foreign keys on, freed pages zeroed."""
    with sqlite_errors(path, busy_timeout_s):
        conn = sqlite3.connect(str(path), timeout=busy_timeout_s, isolation_level=None, check_same_thread=False)
    try:
        with sqlite_errors(path, busy_timeout_s):
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"cannot put {path} in WAL mode (journal mode is {mode})")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA secure_delete = ON")  # freed pages are zeroed, not left with old ciphertext
    except BaseException:
        conn.close()
        raise
    return conn


def _norm(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (int(v) if isinstance(v, bool) else v) for k, v in row.items()}


class Tx:
    """Rows written in one transaction, and the audit events they produce."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.events: list[PendingEvent] = []

    def insert_many(self, table: str, rows: list[dict[str, Any]], actors: list[str], action: str = "insert") -> None:
        if not rows:
            return
        rows = [_norm(r) for r in rows]
        cols = list(rows[0])
        sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        self.conn.executemany(sql, [[r[c] for c in cols] for r in rows])
        self.events.extend(PendingEvent(a, action, table, r["id"], record_digest(table, r)) for r, a in zip(rows, actors))

    def insert(self, table: str, row: dict[str, Any], actor: str, action: str = "insert") -> None:
        self.insert_many(table, [row], [actor], action)

    def update(self, table: str, row: dict[str, Any], actor: str, action: str) -> None:
        """Rewrite a whole row (rekey, passphrase change); ``row`` holds every column."""
        row = _norm(row)
        cols = [c for c in row if c != "id"]
        self.conn.execute(f"UPDATE {table} SET {', '.join(f'{c} = ?' for c in cols)} WHERE id = ?",
                          [row[c] for c in cols] + [row["id"]])
        self.events.append(PendingEvent(actor, action, table, row["id"], record_digest(table, row)))
