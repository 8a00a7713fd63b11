"""The encrypted clinical store: answers, feedback, edits, profiles, acknowledgements.

One SQLite file (WAL mode, ``synchronous=FULL``). Sensitive text is AES-256-GCM
encrypted per field (``crypto``); every write appends hash-chained audit events and a
signed checkpoint in the same transaction (``audit``). The store opens *locked*:
``unlock(passphrase)`` derives the key-encryption key, unwraps the data key and keeps
it in memory only until ``lock()`` (explicit, or automatic after ``idle_lock_minutes``).

Durability: in WAL mode ``synchronous=FULL`` fsyncs the WAL at every commit, so a
committed feedback survives power loss, not only a process crash (``NORMAL`` would
only guarantee the latter).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import sqlite3
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlite_utils import Database

from .. import __version__
from ..answer import AnswerRecord, ModelIdentity, new_id
from ..errors import (DiskFullError, InputError, IntegrityError, StoreError, StoreLockedError,
                      WrongPassphraseError)
from ..inference.events import Timings
from ..patient import PatientContext
from ..rubric import Rubric
from ..signals.record import Signal
from . import crypto, provenance as prov
from .audit import PendingEvent, VerifyReport, append_events, record_digest, verify_chain
from .diffing import unified_diff
from .schema import AUDITED_TABLES, ROLES, SCHEMA_VERSION, SENSITIVE_COLUMNS, check_not_too_new, migrate, migrations

MIN_PASSPHRASE_LEN = 8
WORKSTATION = "workstation"


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _norm(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (int(v) if isinstance(v, bool) else v) for k, v in row.items()}


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


@dataclass
class FeedbackInput:
    """One clinician's scoring of one answer (see ``Store.add_feedback``)."""

    answer_id: str
    clinician_id: str
    scores: dict[str, int]
    step_scores: dict[int, dict[str, int]] = field(default_factory=dict)
    flags: tuple[str, ...] | list[str] = ()
    comment: str | None = None


def _serialized(method: Callable) -> Callable:
    """Run a public method under the store's lock (the GUI calls the store from worker threads)."""

    @functools.wraps(method)
    def wrapper(self: "Store", *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper


class _Tx:
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


class Store:
    """An open store file. Create with ``Store.create``; open (locked) with ``Store.open``."""

    def __init__(self, path: Path, conn: sqlite3.Connection, *, idle_lock_minutes: float, strike_window_days: int,
                 busy_timeout_s: float, clock: Callable[[], float], now: Callable[[], float]):
        self.path = path
        self._conn = conn
        self.db = Database(conn)
        self.idle_lock_minutes = idle_lock_minutes
        self.strike_window_days = strike_window_days
        self.busy_timeout_s = busy_timeout_s
        self._clock = clock
        self._now = now
        self._lock = threading.RLock()
        self._kek: bytearray | None = None
        self._data_key: bytearray | None = None
        self._cipher: crypto.FieldCipher | None = None
        self._signer: Ed25519PrivateKey | None = None
        self._key_generation = 0
        self._last_activity = clock()
        self.store_uuid = ""
        self.site_id = ""
        self._load_header()

    # ------------------------------------------------------------------ open / create
    @staticmethod
    def _connect(path: Path, busy_timeout_s: float) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(str(path), timeout=busy_timeout_s, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise map_sqlite_error(exc, path, busy_timeout_s) from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"cannot put {path} in WAL mode (journal mode is {mode})")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA secure_delete = ON")  # freed pages are zeroed, not left with old ciphertext
        except sqlite3.Error as exc:
            conn.close()
            raise map_sqlite_error(exc, path, busy_timeout_s) from exc
        except StoreError:
            conn.close()
            raise
        return conn

    @classmethod
    def open(cls, path: str | Path, *, idle_lock_minutes: float = 10, strike_window_days: int = 30,
             busy_timeout_s: float = 2.0, clock: Callable[[], float] = time.monotonic,
             now: Callable[[], float] = time.time) -> "Store":
        """Open an existing store, locked. Applies pending (older-schema) migrations; refuses newer schemas."""
        p = Path(path)
        if not p.is_file():
            raise StoreError(f"no SafeMed store at {p}", hint="create one with `safemed store init`")
        conn = cls._connect(p, busy_timeout_s)
        try:
            db = Database(conn)
            if not db["meta"].exists():
                raise StoreError(f"{p} is an SQLite file but not a SafeMed store")
            migrate(db)
            return cls(p, conn, idle_lock_minutes=idle_lock_minutes, strike_window_days=strike_window_days,
                       busy_timeout_s=busy_timeout_s, clock=clock, now=now)
        except sqlite3.Error as exc:
            conn.close()
            raise map_sqlite_error(exc, p, busy_timeout_s) from exc
        except BaseException:
            conn.close()
            raise

    @classmethod
    def create(cls, path: str | Path, passphrase: str, site_id: str, *, kdf_params: crypto.KdfParams | None = None,
               **open_kwargs: Any) -> "Store":
        """Create a new store and return it **unlocked**.

        ``kdf_params`` defaults to ``KdfParams.default()`` (Argon2id t=3, 64 MiB, p=2). Test suites may
        pass ``KdfParams.fast_for_tests()``; the parameters are stored with the wrapped key.
        """
        p = Path(path)
        if p.exists():
            raise StoreError(f"a file already exists at {p}; refusing to overwrite it")
        _check_new_passphrase(passphrase)
        if not isinstance(site_id, str) or not site_id.strip():
            raise InputError("site id must be a non-empty string")
        p.parent.mkdir(parents=True, exist_ok=True)
        busy = open_kwargs.get("busy_timeout_s", 2.0)
        conn = cls._connect(p, busy)
        store = None
        try:
            try:
                os.chmod(p, 0o600)
                migrate(Database(conn))
            except sqlite3.Error as exc:
                raise map_sqlite_error(exc, p, busy) from exc
            finally:
                conn.close()
            store = cls.open(p, **open_kwargs)
            store._initialise(passphrase, site_id.strip(), kdf_params or crypto.KdfParams.default())
        except BaseException:
            if store is not None:
                store.close()
            for suffix in ("", "-wal", "-shm", "-journal"):  # never leave a half-made store behind
                Path(str(p) + suffix).unlink(missing_ok=True)
            raise
        return store

    def _initialise(self, passphrase: str, site_id: str, params: crypto.KdfParams) -> None:
        store_uuid = str(uuid.uuid4())
        kek = crypto.derive_kek(passphrase, params)
        data_key = crypto.new_data_key()
        signer = Ed25519PrivateKey.generate()
        self.store_uuid, self.site_id = store_uuid, site_id
        self._set_keys(kek, data_key, signer, 1)
        ts = self._now()
        with self._transaction() as tx:
            tx.insert_many("meta", [{"id": k, "value": v} for k, v in (
                ("store_uuid", store_uuid), ("site_id", site_id), ("created_at", repr(ts)),
                ("created_by_version", __version__))], [WORKSTATION] * 4)
            tx.insert("keyring", self._keyring_row(params, ts), WORKSTATION, "create_key")

    def _keyring_row(self, params: crypto.KdfParams, ts: float, *, kek: bytearray | None = None,
                     data_key: bytearray | None = None, cipher: crypto.FieldCipher | None = None,
                     generation: int | None = None) -> dict[str, Any]:
        """The key-ring row: data key wrapped under the KEK, signing key encrypted under the data key."""
        kek = kek if kek is not None else self._kek
        data_key = data_key if data_key is not None else self._data_key
        cipher = cipher if cipher is not None else self._cipher_or_raise()
        generation = generation if generation is not None else self._key_generation
        if kek is None or data_key is None or self._signer is None:
            raise StoreLockedError("the store is locked", hint="unlock it with the site passphrase")
        kdf_json = params.to_json()
        nonce, wrapped = crypto.wrap_key(kek, data_key, self._wrap_aad(kdf_json, generation))
        pub = self._public_bytes(self._signer)
        priv_raw = self._signer.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                              serialization.NoEncryption())
        return {"id": "data", "kdf": kdf_json, "key_generation": generation, "wrap_nonce": nonce,
                "wrapped_key": wrapped, "sign_public": pub,
                "sign_private_enc": cipher.encrypt("keyring", "data", _sign_col(pub), priv_raw),
                "updated_at": ts}

    def _wrap_aad(self, kdf_json: str, generation: int) -> bytes:
        return f"safemed-keyring-v1|{self.store_uuid}|{generation}|{kdf_json}".encode()

    @staticmethod
    def _public_bytes(signer: Ed25519PrivateKey) -> bytes:
        return signer.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def _load_header(self) -> None:
        try:
            meta = dict(self._conn.execute("SELECT id, value FROM meta").fetchall())
        except sqlite3.Error as exc:
            raise self._map(exc) from exc
        self.store_uuid = meta.get("store_uuid", "")
        self.site_id = meta.get("site_id", "")

    def _keyring(self) -> dict[str, Any]:
        row = self._row("keyring", "data")
        if row is None:
            raise StoreError(f"{self.path} has no key ring: the store was never initialised or is damaged")
        return row

    # ------------------------------------------------------------------ session
    @property
    def is_unlocked(self) -> bool:
        return self._cipher is not None

    def unlock(self, passphrase: str) -> None:
        """Derive the KEK, unwrap the data key, load the signing key. Writes nothing."""
        with self._lock:
            self._load_header()
            ring = self._keyring()
            self._check_row("keyring", ring)
            params = crypto.KdfParams.from_json(ring["kdf"])
            kek = crypto.derive_kek(passphrase, params)
            try:
                data_key = crypto.unwrap_key(kek, ring["wrap_nonce"], ring["wrapped_key"],
                                             self._wrap_aad(ring["kdf"], ring["key_generation"]))
            except WrongPassphraseError:
                crypto.zero(kek)
                raise
            cipher = crypto.FieldCipher(data_key)
            priv = cipher.decrypt_bytes("keyring", "data", _sign_col(ring["sign_public"]), ring["sign_private_enc"])
            signer = Ed25519PrivateKey.from_private_bytes(priv)
            if self._public_bytes(signer) != bytes(ring["sign_public"]):
                raise IntegrityError("the workstation signing key does not match its public key")
            cipher.close()
            self._set_keys(kek, data_key, signer, ring["key_generation"])

    def _set_keys(self, kek: bytearray, data_key: bytearray, signer: Ed25519PrivateKey, generation: int) -> None:
        self._drop_keys()
        self._kek, self._data_key, self._signer = kek, data_key, signer
        self._cipher = crypto.FieldCipher(data_key)
        self._key_generation = generation
        self.touch()

    def _drop_keys(self) -> None:
        crypto.zero(self._kek)
        crypto.zero(self._data_key)
        if self._cipher is not None:
            self._cipher.close()
        self._kek = self._data_key = None
        self._cipher = None
        self._signer = None

    def lock(self) -> None:
        """Forget every key (key buffers are overwritten with zeros)."""
        with self._lock:
            self._drop_keys()

    def touch(self) -> None:
        """Record user activity (resets the idle timer)."""
        self._last_activity = self._clock()

    @property
    def idle_seconds(self) -> float:
        return max(0.0, self._clock() - self._last_activity)

    def check_idle(self) -> bool:
        """Lock if idle for ``idle_lock_minutes`` or more; returns True when it locked now."""
        with self._lock:
            if self.is_unlocked and self.idle_seconds >= self.idle_lock_minutes * 60:
                self.lock()
                return True
            return False

    def _require_unlocked(self) -> crypto.FieldCipher:
        self.check_idle()
        if self._cipher is None:
            raise StoreLockedError("the store is locked", hint="unlock it with the site passphrase")
        self.touch()
        return self._cipher

    def _cipher_or_raise(self) -> crypto.FieldCipher:
        if self._cipher is None:
            raise StoreLockedError("the store is locked", hint="unlock it with the site passphrase")
        return self._cipher

    def close(self) -> None:
        with self._lock:
            self.lock()
            try:
                self._conn.close()
            except sqlite3.Error as exc:
                raise self._map(exc) from exc

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ plumbing
    def _map(self, exc: sqlite3.Error) -> StoreError:
        return map_sqlite_error(exc, self.path, self.busy_timeout_s)

    def _sign(self, message: bytes) -> bytes:
        if self._signer is None:
            raise StoreLockedError("the store is locked", hint="unlock it with the site passphrase")
        return self._signer.sign(message)

    @contextmanager
    def _transaction(self) -> Iterator[_Tx]:
        """BEGIN IMMEDIATE .. audit events + signed checkpoint .. COMMIT; anything else rolls back."""
        with self._lock:
            self._require_unlocked()
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise self._map(exc) from exc
            tx = _Tx(conn)
            try:
                if self._key_generation:  # another process may have re-keyed since we unlocked
                    row = conn.execute("SELECT key_generation FROM keyring WHERE id = 'data'").fetchone()
                    if row is not None and row[0] != self._key_generation:
                        self._drop_keys()
                        raise StoreLockedError("the store was re-keyed by another process",
                                               hint="unlock it again with the site passphrase")
                yield tx
                append_events(conn, self.store_uuid, tx.events, self._now(), self._sign)
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error:  # the original error is raised below; SQLite rolls back on close anyway
                        pass
                if isinstance(exc, sqlite3.Error):
                    raise self._map(exc) from exc
                raise

    def _select(self, sql: str, args: Iterable[Any] = ()) -> list[dict[str, Any]]:
        try:
            cur = self._conn.execute(sql, list(args))
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, r)) for r in cur.fetchall()]
        except sqlite3.Error as exc:
            raise self._map(exc) from exc

    def _row(self, table: str, row_id: str) -> dict[str, Any] | None:
        rows = self._select(f"SELECT * FROM {table} WHERE id = ?", [row_id])
        return rows[0] if rows else None

    def _check_row(self, table: str, row: dict[str, Any]) -> None:
        """Refuse a record whose bytes differ from what its latest audit event recorded."""
        hit = self._conn.execute("SELECT record_digest, seq FROM audit WHERE table_name = ? AND row_id = ? "
                                 "ORDER BY seq DESC LIMIT 1", (table, row["id"])).fetchone()
        if hit is None:
            raise IntegrityError(f"{table} record {row['id']} has no audit event (written outside SafeMed)",
                                 hint="run `safemed store verify`")
        if record_digest(table, row) != hit[0]:
            raise IntegrityError(f"{table} record {row['id']} was altered on disk (it no longer matches audit "
                                 f"event #{hit[1]})", hint="run `safemed store verify`")

    def _verified(self, table: str, row_id: str, what: str) -> dict[str, Any]:
        row = self._row(table, row_id)
        if row is None:
            raise InputError(f"no {what} with id {row_id}")
        self._check_row(table, row)
        return row

    def _dec(self, table: str, row: dict[str, Any], col: str) -> str | None:
        return self._cipher_or_raise().decrypt(table, row["id"], col, row[col])

    def _enc(self, table: str, row_id: str, col: str, value: str | None) -> bytes | None:
        return self._cipher_or_raise().encrypt(table, row_id, col, value)

    # ------------------------------------------------------------------ profiles
    @_serialized
    def add_profile(self, display_name: str, role: str) -> str:
        """Add a clinician profile (display name encrypted); returns its pseudonymous id."""
        if not isinstance(display_name, str) or not display_name.strip():
            raise InputError("a clinician display name is required")
        if role not in ROLES:
            raise InputError(f"unknown role {role!r} (known: {', '.join(ROLES)})")
        pid = new_id()
        with self._transaction() as tx:
            tx.insert("profiles", {"id": pid, "created_at": self._now(), "role": role,
                                   "display_name_enc": self._enc("profiles", pid, "display_name_enc",
                                                                 display_name.strip())}, WORKSTATION)
        return pid

    @_serialized
    def list_profiles(self) -> list[dict[str, Any]]:
        self._require_unlocked()
        out = []
        for row in self._select("SELECT * FROM profiles ORDER BY created_at"):
            self._check_row("profiles", row)
            out.append({"id": row["id"], "role": row["role"], "created_at": row["created_at"],
                        "display_name": self._dec("profiles", row, "display_name_enc")})
        return out

    def _profile_role(self, clinician_id: str) -> str:
        row = self._conn.execute("SELECT role FROM profiles WHERE id = ?", (clinician_id,)).fetchone()
        if row is None:
            raise InputError(f"no clinician profile with id {clinician_id}",
                             hint="add one with `safemed store add-profile`")
        return row[0]

    # ------------------------------------------------------------------ answers
    def _answer_row(self, rec: AnswerRecord) -> dict[str, Any]:
        if not isinstance(rec, AnswerRecord):
            raise InputError(f"save_answer needs an AnswerRecord, got {type(rec).__name__}")
        i = rec.id
        enc = lambda col, v: self._enc("answers", i, col, v)  # noqa: E731
        return {
            "id": i, "created_at": float(rec.created_at), "model_id": rec.model.id, "model_sha256": rec.model.sha256,
            "model_approved": rec.model.approved, "model_demo": rec.model.demo, "chat_format": rec.model.chat_format,
            "prompt_template_hash": rec.prompt_template_hash, "pack_versions": _json(rec.pack_versions),
            "rubric": rec.rubric, "category": rec.category, "finish_reason": rec.finish_reason,
            "blocked": rec.blocked, "answer_collapsed": rec.answer_collapsed,
            "timings": _json(dataclasses.asdict(rec.timings)) if rec.timings else None,  # full precision
            "signal_levels": _json([{"name": s.name, "level": s.level, "score": s.score,
                                     "source": s.source} for s in rec.signals]),
            "n_reasoning_steps": len(rec.reasoning_steps),
            "question_enc": enc("question_enc", rec.question),
            "patient_enc": enc("patient_enc", _json(rec.patient.to_dict())),
            "reasoning_enc": enc("reasoning_enc", _json(list(rec.reasoning_steps))),
            "answer_enc": enc("answer_enc", rec.answer),
            "raw_text_enc": enc("raw_text_enc", rec.raw_text),
            "block_reason_enc": enc("block_reason_enc", rec.block_reason),
            "signals_enc": enc("signals_enc", _json([{**s.to_dict(), "score": s.score} for s in rec.signals])),
            "logprobs_summary_enc": enc("logprobs_summary_enc", _json(rec.token_logprobs_summary)),
        }

    def save_answer(self, record: AnswerRecord) -> str:
        """Store one answer record (all clinical text encrypted); returns its id."""
        return self.save_answers([record])[0]

    @_serialized
    def save_answers(self, records: list[AnswerRecord]) -> list[str]:
        """Store many answer records in one transaction (all or nothing)."""
        with self._transaction() as tx:
            rows = [self._answer_row(r) for r in records]
            ids = [r["id"] for r in rows]
            if len(set(ids)) != len(ids):
                raise InputError("duplicate answer ids in one batch")
            clash = self._conn.execute(f"SELECT id FROM answers WHERE id IN ({', '.join('?' * len(ids))})",
                                       ids).fetchone() if ids else None
            if clash:
                raise InputError(f"an answer with id {clash[0]} is already stored")
            tx.insert_many("answers", rows, [WORKSTATION] * len(rows))
        return ids

    @_serialized
    def get_answer(self, answer_id: str) -> AnswerRecord:
        """Decrypt and return an answer; IntegrityError if its record was altered on disk."""
        self._require_unlocked()
        row = self._verified("answers", answer_id, "answer")
        d = lambda col: self._dec("answers", row, col)  # noqa: E731
        timings = json.loads(row["timings"]) if row["timings"] else None
        return AnswerRecord(
            id=row["id"], created_at=row["created_at"], question=d("question_enc") or "",
            patient=PatientContext.from_dict(json.loads(d("patient_enc") or "{}")),
            model=ModelIdentity(id=row["model_id"], sha256=row["model_sha256"], approved=bool(row["model_approved"]),
                                demo=bool(row["model_demo"]), chat_format=row["chat_format"]),
            reasoning_steps=list(json.loads(d("reasoning_enc") or "[]")), answer=d("answer_enc") or "",
            raw_text=d("raw_text_enc") or "", finish_reason=row["finish_reason"],
            timings=Timings(**timings) if timings else None,
            token_logprobs_summary=json.loads(d("logprobs_summary_enc") or "{}"),
            signals=[Signal.from_dict(s) for s in json.loads(d("signals_enc") or "[]")],
            blocked=bool(row["blocked"]), block_reason=d("block_reason_enc"),
            answer_collapsed=bool(row["answer_collapsed"]), prompt_template_hash=row["prompt_template_hash"],
            pack_versions=json.loads(row["pack_versions"]), rubric=row["rubric"], category=row["category"],
        )

    @_serialized
    def list_answers(self, search: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """Newest first. ``search`` matches question or answer text, case-insensitively, after decryption.

        A record that fails verification is listed as ``{"id", "created_at", "error"}`` instead of
        hiding the rest of the list.
        """
        self._require_unlocked()
        needle = search.casefold().strip() if search else None
        out: list[dict[str, Any]] = []
        sql = ("SELECT a.*, (SELECT COUNT(*) FROM feedback f WHERE f.answer_id = a.id) AS _n_feedback, "
               "(SELECT COUNT(*) FROM edits e WHERE e.answer_id = a.id) AS _n_edits FROM answers a "
               "ORDER BY a.created_at DESC")
        try:
            cur = self._conn.execute(sql + ("" if needle else f" LIMIT {int(limit)}"))
            cols = [c[0] for c in cur.description]
            for values in cur:
                if len(out) >= limit:
                    break
                row = dict(zip(cols, values))
                n_fb, n_ed = row.pop("_n_feedback"), row.pop("_n_edits")
                try:
                    self._check_row("answers", row)
                    question = self._dec("answers", row, "question_enc") or ""
                    answer = self._dec("answers", row, "answer_enc") or ""
                except IntegrityError as exc:
                    if needle is None:
                        out.append({"id": row["id"], "created_at": row["created_at"], "error": str(exc)})
                    continue
                if needle and needle not in question.casefold() and needle not in answer.casefold():
                    continue
                out.append({
                    "id": row["id"], "created_at": row["created_at"], "question": question,
                    "answer_preview": answer[:200], "model_id": row["model_id"], "model_sha256": row["model_sha256"],
                    "category": row["category"], "finish_reason": row["finish_reason"], "blocked": bool(row["blocked"]),
                    "signal_levels": {s["name"]: s["level"] for s in json.loads(row["signal_levels"])},
                    "n_feedback": n_fb, "n_edits": n_ed,
                })
        except sqlite3.Error as exc:
            raise self._map(exc) from exc
        return out

    # ------------------------------------------------------------------ feedback
    def _feedback_row(self, item: FeedbackInput, rubric: Rubric, answers: dict[str, tuple[int, str]],
                      roles: dict[str, str]) -> dict[str, Any]:
        if item.answer_id not in answers:
            r = self._conn.execute("SELECT n_reasoning_steps, model_sha256 FROM answers WHERE id = ?",
                                   (item.answer_id,)).fetchone()
            if r is None:
                raise InputError(f"no answer with id {item.answer_id}")
            answers[item.answer_id] = (r[0], r[1])
        n_steps = answers[item.answer_id][0]
        if item.clinician_id not in roles:
            roles[item.clinician_id] = self._profile_role(item.clinician_id)
        rubric.validate_scores(item.scores)
        steps: dict[str, dict[str, int]] = {}
        for step, s in (item.step_scores or {}).items():
            if isinstance(step, bool) or not isinstance(step, int) or not 1 <= step <= n_steps:
                raise InputError(f"reasoning step {step!r} does not exist (the answer has {n_steps} step(s), "
                                 "numbered from 1)")
            rubric.validate_scores(s, step=True)
            steps[str(step)] = dict(s)
        flags = sorted(set(item.flags or ()))
        rubric.validate_flags(flags)
        if item.comment is not None and not isinstance(item.comment, str):
            raise InputError("a feedback comment must be text")
        comment = item.comment.strip() if item.comment and item.comment.strip() else None
        fid = new_id()
        return {"id": fid, "answer_id": item.answer_id, "clinician_id": item.clinician_id,
                "clinician_role": roles[item.clinician_id], "rubric_id": rubric.id, "rubric_version": rubric.version,
                "created_at": self._now(), "scores": _json(item.scores), "step_scores": _json(steps),
                "flags": _json(flags), "strike": prov.is_strike(item.scores, flags),
                "comment_enc": self._enc("feedback", fid, "comment_enc", comment)}

    def add_feedback(self, answer_id: str, clinician_id: str, rubric: Rubric, scores: dict[str, int],
                     step_scores: dict[int, dict[str, int]] | None = None, flags: Iterable[str] = (),
                     comment: str | None = None) -> str:
        """Record one clinician's rubric scores for an answer (durable on return); returns the feedback id."""
        return self.add_feedback_many(rubric, [FeedbackInput(answer_id, clinician_id, dict(scores),
                                                             dict(step_scores or {}), tuple(flags), comment)])[0]

    @_serialized
    def add_feedback_many(self, rubric: Rubric, items: Iterable[FeedbackInput]) -> list[str]:
        """Record many feedback items in one transaction (all or nothing)."""
        answers: dict[str, tuple[int, str]] = {}
        roles: dict[str, str] = {}
        with self._transaction() as tx:
            rows = [self._feedback_row(it, rubric, answers, roles) for it in items]
            tx.insert_many("feedback", rows, [r["clinician_id"] for r in rows])
            struck = {answers[r["answer_id"]][1] for r in rows if r["strike"]}
            for sha in sorted(struck):
                self._maybe_mark_for_review(tx, sha)
        return [r["id"] for r in rows]

    def _maybe_mark_for_review(self, tx: _Tx, model_sha256: str) -> None:
        count = prov.strike_count(self._conn, model_sha256, self._now(), self.strike_window_days)
        if count >= prov.STRIKE_LIMIT and prov.open_review(self._conn, model_sha256) is None:
            tx.insert("model_reviews", {"id": new_id(), "model_sha256": model_sha256, "marked_at": self._now(),
                                        "strike_count": count, "window_days": self.strike_window_days,
                                        "status": "open"}, WORKSTATION, "mark_for_review")

    def _feedback_for(self, answer_id: str) -> list[dict[str, Any]]:
        out = []
        for row in self._select("SELECT * FROM feedback WHERE answer_id = ? ORDER BY created_at", [answer_id]):
            self._check_row("feedback", row)
            out.append({"id": row["id"], "clinician_id": row["clinician_id"], "clinician_role": row["clinician_role"],
                        "rubric": f"{row['rubric_id']}@{row['rubric_version']}", "created_at": row["created_at"],
                        "scores": json.loads(row["scores"]),
                        "step_scores": {int(k): v for k, v in json.loads(row["step_scores"]).items()},
                        "flags": json.loads(row["flags"]), "strike": bool(row["strike"]),
                        "comment": self._dec("feedback", row, "comment_enc")})
        return out

    # ------------------------------------------------------------------ edits
    @_serialized
    def add_edit(self, answer_id: str, text: str, author_id: str) -> int:
        """Append a new version of the answer text (version 0 is the model's); returns its version number."""
        if not isinstance(text, str) or not text.strip():
            raise InputError("an edited answer text must not be empty")
        self._profile_role(author_id)
        with self._transaction() as tx:
            if self._conn.execute("SELECT 1 FROM answers WHERE id = ?", (answer_id,)).fetchone() is None:
                raise InputError(f"no answer with id {answer_id}")
            last = self._conn.execute("SELECT MAX(version) FROM edits WHERE answer_id = ?", (answer_id,)).fetchone()[0]
            parent = last or 0
            eid = new_id()
            tx.insert("edits", {"id": eid, "answer_id": answer_id, "version": parent + 1, "parent_version": parent,
                                "author_id": author_id, "created_at": self._now(),
                                "text_enc": self._enc("edits", eid, "text_enc", text)}, author_id)
        return parent + 1

    @_serialized
    def edit_history(self, answer_id: str) -> list[dict[str, Any]]:
        """Every version of the answer text, oldest first; version 0 is the model's original answer."""
        self._require_unlocked()
        ans = self._verified("answers", answer_id, "answer")
        roles = dict(self._conn.execute("SELECT id, role FROM profiles").fetchall())
        out = [{"version": 0, "id": None, "parent_version": None, "author_id": None, "author_role": "model",
                "created_at": ans["created_at"], "text": self._dec("answers", ans, "answer_enc") or ""}]
        for row in self._select("SELECT * FROM edits WHERE answer_id = ? ORDER BY version", [answer_id]):
            self._check_row("edits", row)
            out.append({"version": row["version"], "id": row["id"], "parent_version": row["parent_version"],
                        "author_id": row["author_id"], "author_role": roles.get(row["author_id"], "unknown"),
                        "created_at": row["created_at"], "text": self._dec("edits", row, "text_enc")})
        return out

    @_serialized
    def diff(self, answer_id: str, v_a: int, v_b: int) -> str:
        """Unified diff between two versions of an answer's text."""
        history = {h["version"]: h for h in self.edit_history(answer_id)}
        for v in (v_a, v_b):
            if v not in history:
                raise InputError(f"answer {answer_id} has no version {v} (versions: {', '.join(map(str, history))})")
        a, b = history[v_a], history[v_b]
        return unified_diff(a["text"], b["text"], f"v{v_a} ({a['author_role']})", f"v{v_b} ({b['author_role']})")

    # ------------------------------------------------------------------ acknowledgements
    @_serialized
    def record_acknowledgement(self, answer_id: str, clinician_id: str, signal_name: str) -> str:
        """A clinician acknowledged a signal (e.g. a medication alert) shown with an answer."""
        self._profile_role(clinician_id)
        row = self._conn.execute("SELECT signal_levels FROM answers WHERE id = ?", (answer_id,)).fetchone()
        if row is None:
            raise InputError(f"no answer with id {answer_id}")
        levels = {s["name"]: s["level"] for s in json.loads(row[0])}
        if signal_name not in levels:
            raise InputError(f"answer {answer_id} has no signal {signal_name!r}")
        aid = new_id()
        with self._transaction() as tx:
            tx.insert("acknowledgements", {"id": aid, "answer_id": answer_id, "clinician_id": clinician_id,
                                           "signal_name": signal_name, "signal_level": levels[signal_name],
                                           "created_at": self._now()}, clinician_id)
        return aid

    # ------------------------------------------------------------------ provenance
    @_serialized
    def provenance(self, answer_id: str) -> dict[str, Any]:
        """Own audits and edits, the model version's track record (overall and category), five-strike status."""
        self._require_unlocked()
        ans = self._verified("answers", answer_id, "answer")
        audits = self._feedback_for(answer_id)
        acks = self._select("SELECT id, clinician_id, signal_name, signal_level, created_at FROM acknowledgements "
                            "WHERE answer_id = ? ORDER BY created_at", [answer_id])
        sha = ans["model_sha256"]
        return {
            "answer_id": answer_id,
            "model": {"id": ans["model_id"], "sha256": sha, "approved": bool(ans["model_approved"]),
                      "demo": bool(ans["model_demo"])},
            "category": ans["category"],
            "created_at": ans["created_at"],
            "audits": audits,
            "reviewer_roles": sorted({a["clinician_role"] for a in audits}),
            "acknowledgements": acks,
            "edit_history": self.edit_history(answer_id),
            "track_record": {"overall": prov.track_record(self._conn, sha),
                             "category": prov.track_record(self._conn, sha, ans["category"])},
            "strikes": prov.strike_status(self._conn, sha, self._now(), self.strike_window_days),
        }

    # ------------------------------------------------------------------ keys
    @_serialized
    def rekey(self) -> None:
        """Re-encrypt every field under a fresh data key; refuses if any record fails verification."""
        with self._transaction() as tx:
            old = self._cipher_or_raise()
            new_key = crypto.new_data_key()
            new = crypto.FieldCipher(new_key)
            for table, cols in SENSITIVE_COLUMNS.items():
                latest: dict[str, str] = dict(self._conn.execute(
                    "SELECT row_id, record_digest FROM audit WHERE table_name = ? ORDER BY seq", (table,)).fetchall())
                ids = [r[0] for r in self._conn.execute(f"SELECT id FROM {table}")]
                for start in range(0, len(ids), 500):
                    chunk = ids[start:start + 500]
                    rows = self._select(f"SELECT * FROM {table} WHERE id IN ({', '.join('?' * len(chunk))})", chunk)
                    for row in rows:
                        if latest.get(row["id"]) != record_digest(table, row):
                            raise IntegrityError(f"{table} record {row['id']} was altered on disk; rekey refused",
                                                 hint="run `safemed store verify`")
                        for col in cols:
                            row[col] = new.encrypt(table, row["id"], col, old.decrypt_bytes(table, row["id"], col, row[col]))
                        tx.update(table, row, WORKSTATION, "reencrypt")
            ring = self._keyring()
            self._check_row("keyring", ring)
            tx.update("keyring", self._keyring_row(crypto.KdfParams.from_json(ring["kdf"]), self._now(),
                                                   data_key=new_key, cipher=new,
                                                   generation=self._key_generation + 1), WORKSTATION, "rekey")
        # committed: switch to the new key and forget the old one
        self._key_generation += 1
        old_key, old_cipher = self._data_key, self._cipher
        self._data_key, self._cipher = new_key, new
        crypto.zero(old_key)
        if old_cipher is not None:
            old_cipher.close()

    def change_passphrase(self, old: str, new: str) -> None:
        """Re-wrap the data key under a key derived from ``new`` (fresh salt); records are untouched."""
        _check_new_passphrase(new)
        if new == old:
            raise InputError("the new passphrase must differ from the old one")
        with self._lock:
            if not self.is_unlocked:
                self.unlock(old)
            ring = self._keyring()
            params = crypto.KdfParams.from_json(ring["kdf"])
            probe = crypto.derive_kek(old, params)
            crypto.unwrap_key(probe, ring["wrap_nonce"], ring["wrapped_key"],
                              self._wrap_aad(ring["kdf"], ring["key_generation"]))  # WrongPassphraseError
            crypto.zero(probe)
            new_params = params.with_new_salt()
            new_kek = crypto.derive_kek(new, new_params)
            old_kek = self._kek
            self._kek = new_kek
            try:
                with self._transaction() as tx:
                    tx.update("keyring", self._keyring_row(new_params, self._now()), WORKSTATION, "passphrase_changed")
            except BaseException:
                self._kek = old_kek
                crypto.zero(new_kek)
                raise
            crypto.zero(old_kek)

    # ------------------------------------------------------------------ verification, stats
    def verify(self) -> VerifyReport:
        """Recompute the audit chain, checkpoint signatures, every record digest; run PRAGMA integrity_check.

        Works locked. When unlocked it also proves the checkpoint key belongs to this store
        (its private half decrypts under the data key), so re-signed forgeries are caught.
        """
        with self._lock:
            try:
                integrity_rows = [r[0] for r in self._conn.execute("PRAGMA integrity_check").fetchall()]
                integrity = "ok" if integrity_rows == ["ok"] else "; ".join(integrity_rows[:5])
                self._load_header()
                ring = self._row("keyring", "data")
                problems, n_events, n_cp, n_records = verify_chain(
                    self._conn, self.store_uuid, ring["sign_public"] if ring else None, AUDITED_TABLES)
            except sqlite3.Error as exc:
                raise self._map(exc) from exc
            messages = [m for _, m in problems]
            if ring is None:
                messages.insert(0, "the key ring is missing")
            key_ok: bool | None = None
            if self.is_unlocked and ring is not None:
                try:
                    priv = self._cipher_or_raise().decrypt_bytes("keyring", "data", _sign_col(ring["sign_public"]),
                                                                 ring["sign_private_enc"])
                    key_ok = self._public_bytes(Ed25519PrivateKey.from_private_bytes(priv)) == bytes(ring["sign_public"])
                except (IntegrityError, ValueError):
                    key_ok = False
                if not key_ok:
                    messages.insert(0, "the checkpoint signing key is not this store's key (key ring replaced)")
            if integrity != "ok":
                messages.insert(0, f"SQLite integrity check failed: {integrity}")
            return VerifyReport(ok=not messages, first_broken=messages[0] if messages else None, n_events=n_events,
                                integrity=integrity, n_checkpoints=n_cp, n_records=n_records,
                                key_authenticated=key_ok, problems=messages)

    def stats(self) -> dict[str, Any]:
        """Counts and settings; no clinical content (works locked)."""
        with self._lock:
            try:
                counts = {t: self._conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                          for t in ("profiles", "answers", "feedback", "edits", "acknowledgements", "model_reviews")}
                n_events = self._conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0]
                n_cp, last_cp = self._conn.execute("SELECT COUNT(*), MAX(ts) FROM checkpoints").fetchone()
                head = self._conn.execute("SELECT seq, head_hash FROM checkpoints ORDER BY seq DESC LIMIT 1").fetchone()
                models = self._conn.execute("SELECT COUNT(DISTINCT model_sha256) FROM answers").fetchone()[0]
                under_review = [r[0] for r in self._conn.execute(
                    "SELECT DISTINCT model_sha256 FROM model_reviews WHERE status = 'open'")]
                ring = self._conn.execute("SELECT kdf, key_generation FROM keyring WHERE id = 'data'").fetchone()
                user_version = self._conn.execute("PRAGMA user_version").fetchone()[0]
                meta = dict(self._conn.execute("SELECT id, value FROM meta").fetchall())
            except sqlite3.Error as exc:
                raise self._map(exc) from exc
            kdf = json.loads(ring[0]) if ring else {}
            kdf.pop("salt_hex", None)
            sizes = {}
            for name, suffix in (("db", ""), ("wal", "-wal")):
                f = Path(str(self.path) + suffix)
                sizes[name] = f.stat().st_size if f.exists() else 0
            return {
                "path": str(self.path), "site_id": meta.get("site_id"), "store_uuid": meta.get("store_uuid"),
                "created_at": float(meta["created_at"]) if "created_at" in meta else None,
                "schema_version": user_version, "migrations": [m.name for m in migrations.applied(self.db)],
                "records": counts, "audit_events": n_events, "checkpoints": n_cp, "last_checkpoint_at": last_cp,
                "signed_head": {"seq": head[0], "hash": head[1]} if head else None,
                "models": models, "models_under_review": under_review, "kdf": kdf,
                "key_generation": ring[1] if ring else None, "unlocked": self.is_unlocked,
                "bytes": sizes, "app_schema_version": SCHEMA_VERSION,
            }


def _sign_col(public: bytes) -> str:
    """Associated-data column label binding the encrypted signing key to its public key."""
    return "sign_private_enc|" + bytes(public).hex()


def _check_new_passphrase(passphrase: str) -> None:
    if not isinstance(passphrase, str) or len(passphrase) < MIN_PASSPHRASE_LEN:
        raise InputError(f"the passphrase must be at least {MIN_PASSPHRASE_LEN} characters")


__all__ = ["Store", "FeedbackInput", "VerifyReport", "map_sqlite_error", "check_not_too_new", "ROLES"]
