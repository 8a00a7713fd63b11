"""The encrypted clinical store: answers, feedback, edits, profiles, acknowledgements.

One SQLite file (``connection``: WAL mode, ``synchronous=FULL``). Sensitive text is
AES-256-GCM encrypted per field (``crypto``, mapped by ``rows``); every write appends
hash-chained audit events and a signed checkpoint in the same transaction (``audit``). The
store opens *locked*: ``unlock(passphrase)`` derives the key-encryption key, unwraps the data
key and keeps it in memory only until ``lock()`` (explicit, or automatic after
``idle_lock_minutes``; ``keys``). ``provenance`` and ``verify`` assemble the read-only views.

``Store`` is the facade over those parts. The GUI calls it from worker threads: every public
method that reads or writes the database or the keys runs under the store's lock
(``@_serialized``); ``touch``, ``idle_seconds`` and ``is_unlocked`` read or set one attribute
and stay lock-free, so the GUI thread never waits on a worker.
"""

from __future__ import annotations

import errno
import functools
import os
import sqlite3
import threading
import time
import uuid
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from sqlite_utils import Database
from sqlite_utils.db import NotFoundError

from .. import __version__
from ..errors import DiskFullError, InputError, IntegrityError, StoreError, StoreLockedError
from ..paths import PRIVATE_FILE_MODE, make_dir
from ..records.answer import AnswerRecord, new_id
from ..rubric import Rubric
from . import crypto, provenance as prov, rows
from .audit import VerifyReport, append_events, check_record
from .connection import Tx, connect, sqlite_errors
from .diffing import unified_diff
from .keys import WORKSTATION, KeyRing, check_new_passphrase, reencrypt
from .rows import FeedbackInput
from .schema import migrate
from .verify import store_stats, verify_report

# one line of Store.list_answers: the answer row and how much review it has had
_LISTED = ("*, (SELECT COUNT(*) FROM feedback f WHERE f.answer_id = answers.id) AS _n_feedback, "
           "(SELECT COUNT(*) FROM edits e WHERE e.answer_id = answers.id) AS _n_edits")


def _serialized(method: Callable) -> Callable:
    """Run a method under the store's lock, raising SQLite errors as SafeMed errors (``map_sqlite_error``)."""

    @functools.wraps(method)
    def wrapper(self: "Store", *args: Any, **kwargs: Any) -> Any:
        with self._lock, sqlite_errors(self.path, self.busy_timeout_s):
            return method(self, *args, **kwargs)

    return wrapper


def _os_error(exc: OSError, path: Path) -> StoreError:
    """An OS error while creating the store's file or folder, as a one-line store error."""
    if exc.errno == errno.ENOSPC:
        return DiskFullError(f"the disk holding {path} is full; no store was created", hint="free disk space and retry")
    return StoreError(f"cannot create the store at {path}: {exc.strerror or exc}")


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
        self._keys = KeyRing()
        self._last_activity = clock()
        self.store_uuid = ""
        self.site_id = ""
        self._load_header()

    # the secrets, as the key ring holds them (None while locked)
    _kek = property(lambda self: self._keys.kek)
    _data_key = property(lambda self: self._keys.data_key)
    _cipher = property(lambda self: self._keys.cipher)
    _signer = property(lambda self: self._keys.signer)

    # ------------------------------------------------------------------ open / create
    @classmethod
    def open(cls, path: str | Path, *, idle_lock_minutes: float = 10, strike_window_days: int = 30,
             busy_timeout_s: float = 2.0, clock: Callable[[], float] = time.monotonic,
             now: Callable[[], float] = time.time) -> "Store":
        """Open an existing store, locked. Applies pending (older-schema) migrations; refuses newer schemas."""
        p = Path(path)
        if not p.is_file():
            raise StoreError(f"no SafeMed store at {p}", hint="create one with `safemed store init`")
        conn = connect(p, busy_timeout_s)
        try:
            with sqlite_errors(p, busy_timeout_s):
                db = Database(conn)
                if not db["meta"].exists():
                    raise StoreError(f"{p} is an SQLite file but not a SafeMed store")
                migrate(db)
                return cls(p, conn, idle_lock_minutes=idle_lock_minutes, strike_window_days=strike_window_days,
                           busy_timeout_s=busy_timeout_s, clock=clock, now=now)
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
        check_new_passphrase(passphrase)
        if not isinstance(site_id, str) or not site_id.strip():
            raise InputError("site id must be a non-empty string")
        busy = open_kwargs.get("busy_timeout_s", 2.0)
        try:
            make_dir(p.parent)  # 0700
            # The file exists 0600 before SQLite opens it (never umask-wide, not for a moment); SQLite gives
            # its -wal and -shm files the database file's mode.
            os.close(os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
        except FileExistsError:
            raise StoreError(f"a file already exists at {p}; refusing to overwrite it") from None
        except OSError as exc:
            raise _os_error(exc, p) from None
        store = None
        try:
            os.chmod(p, PRIVATE_FILE_MODE)
            with sqlite_errors(p, busy):
                with closing(connect(p, busy)) as conn:
                    migrate(Database(conn))
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
        self.store_uuid, self.site_id = str(uuid.uuid4()), site_id
        self._keys.create(passphrase, params)
        self.touch()
        ts = self._now()
        with self._transaction() as tx:
            tx.insert_many("meta", [{"id": k, "value": v} for k, v in (
                ("store_uuid", self.store_uuid), ("site_id", site_id), ("created_at", repr(ts)),
                ("created_by_version", __version__))], [WORKSTATION] * 4)
            tx.insert("keyring", self._keys.row(self.store_uuid, params, ts), WORKSTATION, "create_key")

    def _load_header(self) -> None:
        meta = {r["id"]: r["value"] for r in self.db["meta"].rows}
        self.store_uuid = meta.get("store_uuid", "")
        self.site_id = meta.get("site_id", "")

    # ------------------------------------------------------------------ session
    @property
    def is_unlocked(self) -> bool:
        return self._keys.unlocked

    @_serialized
    def unlock(self, passphrase: str) -> None:
        """Derive the KEK, unwrap the data key, load the signing key. Writes nothing."""
        self._load_header()
        self._keys.unlock(self._ring(), passphrase, self.store_uuid)
        self.touch()

    @_serialized
    def lock(self) -> None:
        """Forget every key (key buffers are overwritten with zeros)."""
        self._keys.drop()

    def touch(self) -> None:
        """Record user activity (resets the idle timer)."""
        self._last_activity = self._clock()

    @property
    def idle_seconds(self) -> float:
        return max(0.0, self._clock() - self._last_activity)

    @_serialized
    def check_idle(self) -> bool:
        """Lock if idle for ``idle_lock_minutes`` or more; returns True when it locked now."""
        if self.is_unlocked and self.idle_seconds >= self.idle_lock_minutes * 60:
            self.lock()
            return True
        return False

    @_serialized
    def close(self) -> None:
        self.lock()
        self._conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ plumbing (callers hold the lock)
    def _require_unlocked(self) -> crypto.FieldCipher:
        self.check_idle()
        cipher = self._keys.cipher_or_raise()
        self.touch()
        return cipher

    @contextmanager
    def _transaction(self) -> Iterator[Tx]:
        """BEGIN IMMEDIATE .. audit events + signed checkpoint .. COMMIT; anything else rolls back."""
        self._require_unlocked()
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        tx = Tx(conn)
        try:
            if self._keys.generation:  # another process may have re-keyed since we unlocked
                row = conn.execute("SELECT key_generation FROM keyring WHERE id = 'data'").fetchone()
                if row is not None and row[0] != self._keys.generation:
                    self._keys.drop()
                    raise StoreLockedError("the store was re-keyed by another process",
                                           hint="unlock it again with the site passphrase")
            yield tx
            append_events(conn, self.store_uuid, tx.events, self._now(), self._keys.sign)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:  # the original error is raised; SQLite rolls back on close anyway
                    pass
            raise

    def _row(self, table: str, row_id: str) -> dict[str, Any] | None:
        try:
            return self.db[table].get(row_id)
        except NotFoundError:
            return None

    def _verified(self, table: str, row_id: str, what: str) -> dict[str, Any]:
        """One record, refused unless it matches its latest audit event; InputError when there is none."""
        row = self._row(table, row_id)
        if row is None:
            raise InputError(f"no {what} with id {row_id}")
        check_record(self._conn, table, row)
        return row

    def _verified_rows(self, table: str, where: str | None = None, args: Iterable[Any] = (),
                       order_by: str | None = None) -> list[dict[str, Any]]:
        found = list(self.db[table].rows_where(where, list(args), order_by=order_by))
        for row in found:
            check_record(self._conn, table, row)
        return found

    def _ring(self) -> dict[str, Any]:
        ring = self._row("keyring", "data")
        if ring is None:
            raise StoreError(f"{self.path} has no key ring: the store was never initialised or is damaged")
        check_record(self._conn, "keyring", ring)
        return ring

    def _answer(self, answer_id: str, select: str) -> dict[str, Any]:
        """Clear columns of one answer (no decryption, no digest check)."""
        row = next(self.db["answers"].rows_where("id = ?", [answer_id], select=select), None)
        if row is None:
            raise InputError(f"no answer with id {answer_id}")
        return row

    def _profile_role(self, clinician_id: str) -> str:
        row = next(self.db["profiles"].rows_where("id = ?", [clinician_id], select="role"), None)
        if row is None:
            raise InputError(f"no clinician profile with id {clinician_id}",
                             hint="add one with `safemed store add-profile`")
        return row["role"]

    # ------------------------------------------------------------------ profiles
    @_serialized
    def add_profile(self, display_name: str, role: str) -> str:
        """Add a clinician profile (display name encrypted); returns its pseudonymous id."""
        pid = new_id()
        with self._transaction() as tx:
            tx.insert("profiles", rows.profile_row(pid, display_name, role, self._now(), self._keys.cipher_or_raise()),
                      WORKSTATION)
        return pid

    @_serialized
    def list_profiles(self) -> list[dict[str, Any]]:
        cipher = self._require_unlocked()
        return [rows.profile_out(r, cipher) for r in self._verified_rows("profiles", order_by="created_at")]

    # ------------------------------------------------------------------ answers
    @_serialized
    def save_answer(self, record: AnswerRecord) -> str:
        """Store one answer record (all clinical text encrypted); returns its id."""
        return self.save_answers([record])[0]

    @_serialized
    def save_answers(self, records: list[AnswerRecord]) -> list[str]:
        """Store many answer records in one transaction (all or nothing)."""
        with self._transaction() as tx:
            cipher = self._keys.cipher_or_raise()
            new = [rows.answer_row(r, cipher) for r in records]
            ids = [r["id"] for r in new]
            if len(set(ids)) != len(ids):
                raise InputError("duplicate answer ids in one batch")
            clash = next(self.db["answers"].rows_where(f"id IN ({', '.join('?' * len(ids))})", ids, select="id"),
                         None) if ids else None
            if clash:
                raise InputError(f"an answer with id {clash['id']} is already stored")
            tx.insert_many("answers", new, [WORKSTATION] * len(new))
        return ids

    @_serialized
    def get_answer(self, answer_id: str) -> AnswerRecord:
        """Decrypt and return an answer; IntegrityError if its record was altered on disk."""
        cipher = self._require_unlocked()
        return rows.answer_record(self._verified("answers", answer_id, "answer"), cipher)

    @_serialized
    def list_answers(self, search: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """Newest first. ``search`` matches question or answer text, case-insensitively, after decryption.

        A record that fails verification is listed as ``{"id", "created_at", "error"}`` instead of
        hiding the rest of the list.
        """
        cipher = self._require_unlocked()
        needle = search.casefold().strip() if search else None
        out: list[dict[str, Any]] = []
        for row in self.db["answers"].rows_where(select=_LISTED, order_by="created_at DESC",
                                                 limit=None if needle else int(limit)):
            if len(out) >= limit:
                break
            n_fb, n_ed = row.pop("_n_feedback"), row.pop("_n_edits")
            try:
                check_record(self._conn, "answers", row)
                question = rows.decrypt_field(cipher, "answers", row, "question_enc") or ""
                answer = rows.decrypt_field(cipher, "answers", row, "answer_enc") or ""
            except IntegrityError as exc:  # this record only
                if needle is None:
                    out.append({"id": row["id"], "created_at": row["created_at"], "error": str(exc)})
                continue
            if needle and needle not in question.casefold() and needle not in answer.casefold():
                continue
            out.append(rows.answer_summary(row, question, answer, n_fb, n_ed))
        return out

    # ------------------------------------------------------------------ feedback and edits
    @_serialized
    def add_feedback(self, answer_id: str, clinician_id: str, rubric: Rubric, scores: dict[str, int],
                     step_scores: dict[int, dict[str, int]] | None = None, flags: Iterable[str] = (),
                     comment: str | None = None, *, edit_text: str | None = None) -> str:
        """Record one clinician's rubric scores for an answer (durable on return); returns the feedback id.

        ``edit_text``: a new version of the answer text by the same clinician, written in the same
        transaction: an invalid score or an empty edit writes neither.
        """
        return self.add_feedback_many(rubric, [FeedbackInput(answer_id, clinician_id, dict(scores),
                                                             dict(step_scores or {}), tuple(flags), comment,
                                                             edit_text)])[0]

    @_serialized
    def add_feedback_many(self, rubric: Rubric, items: Iterable[FeedbackInput]) -> list[str]:
        """Record many feedback items, and the edits they carry, in one transaction (all or nothing)."""
        answers: dict[str, dict[str, Any]] = {}
        roles: dict[str, str] = {}
        versions: dict[str, int] = {}
        with self._transaction() as tx:
            cipher = self._keys.cipher_or_raise()
            feedback, edits = [], []
            for it in items:
                if it.answer_id not in answers:
                    answers[it.answer_id] = self._answer(it.answer_id, "n_reasoning_steps, model_sha256")
                if it.clinician_id not in roles:
                    roles[it.clinician_id] = self._profile_role(it.clinician_id)
                feedback.append(rows.feedback_row(new_id(), it, rubric, answers[it.answer_id]["n_reasoning_steps"],
                                                  roles[it.clinician_id], self._now(), cipher))
                if it.edit_text is not None:
                    edits.append(self._edit_row(it.answer_id, it.edit_text, it.clinician_id, versions))
            tx.insert_many("feedback", feedback, [r["clinician_id"] for r in feedback])
            tx.insert_many("edits", edits, [r["author_id"] for r in edits])
            for sha in sorted({answers[r["answer_id"]]["model_sha256"] for r in feedback if r["strike"]}):
                review = prov.review_due(self._conn, sha, self._now(), self.strike_window_days)
                if review is not None:
                    tx.insert("model_reviews", review, WORKSTATION, "mark_for_review")
        return [r["id"] for r in feedback]

    def _edit_row(self, answer_id: str, text: str, author_id: str, versions: dict[str, int]) -> dict[str, Any]:
        """The next version of an answer's text (``versions``: the latest per answer in this transaction)."""
        rows.check_edit_text(text)
        if answer_id not in versions:
            versions[answer_id] = self.db.execute("SELECT MAX(version) FROM edits WHERE answer_id = ?",
                                                  [answer_id]).fetchone()[0] or 0
        versions[answer_id] += 1
        return rows.edit_row(new_id(), answer_id, versions[answer_id], author_id, text, self._now(),
                             self._keys.cipher_or_raise())

    @_serialized
    def add_edit(self, answer_id: str, text: str, author_id: str) -> int:
        """Append a new version of the answer text (version 0 is the model's); returns its version number."""
        rows.check_edit_text(text)
        self._profile_role(author_id)
        with self._transaction() as tx:
            self._answer(answer_id, "id")
            edit = self._edit_row(answer_id, text, author_id, {})
            tx.insert("edits", edit, author_id)
        return edit["version"]

    @_serialized
    def edit_history(self, answer_id: str) -> list[dict[str, Any]]:
        """Every version of the answer text, oldest first; version 0 is the model's original answer."""
        cipher = self._require_unlocked()
        answer = self._verified("answers", answer_id, "answer")
        roles = {r["id"]: r["role"] for r in self.db["profiles"].rows_where(select="id, role")}
        return [rows.original_version(answer, cipher)] + [
            rows.edit_out(r, roles.get(r["author_id"], "unknown"), cipher)
            for r in self._verified_rows("edits", "answer_id = ?", [answer_id], order_by="version")]

    @_serialized
    def diff(self, answer_id: str, v_a: int, v_b: int) -> str:
        """Unified diff between two versions of an answer's text."""
        history = {h["version"]: h for h in self.edit_history(answer_id)}
        for v in (v_a, v_b):
            if v not in history:
                raise InputError(f"answer {answer_id} has no version {v} (versions: {', '.join(map(str, history))})")
        a, b = history[v_a], history[v_b]
        return unified_diff(a["text"], b["text"], f"v{v_a} ({a['author_role']})", f"v{v_b} ({b['author_role']})")

    # ------------------------------------------------------------------ acknowledgements, provenance
    @_serialized
    def record_acknowledgement(self, answer_id: str, clinician_id: str, signal_name: str) -> str:
        """A clinician acknowledged a signal (e.g. a medication alert) shown with an answer."""
        self._profile_role(clinician_id)
        answer = self._answer(answer_id, "id, signal_levels")
        aid = new_id()
        with self._transaction() as tx:
            tx.insert("acknowledgements", rows.acknowledgement_row(aid, answer, clinician_id, signal_name, self._now()),
                      clinician_id)
        return aid

    @_serialized
    def provenance(self, answer_id: str) -> dict[str, Any]:
        """Own audits and edits, the model version's track record (overall and category), five-strike status."""
        cipher = self._require_unlocked()
        answer = self._verified("answers", answer_id, "answer")
        audits = [rows.feedback_out(r, cipher)
                  for r in self._verified_rows("feedback", "answer_id = ?", [answer_id], order_by="created_at")]
        acks = list(self.db["acknowledgements"].rows_where(
            "answer_id = ?", [answer_id], order_by="created_at",
            select="id, clinician_id, signal_name, signal_level, created_at"))
        return prov.answer_provenance(self._conn, answer, audits, acks, self.edit_history(answer_id), self._now(),
                                      self.strike_window_days)

    # ------------------------------------------------------------------ keys
    @_serialized
    def rekey(self) -> None:
        """Re-encrypt every field under a fresh data key; refuses if any record fails verification."""
        new_key = crypto.new_data_key()
        new = crypto.FieldCipher(new_key)
        try:
            with self._transaction() as tx:
                reencrypt(self.db, tx, self._keys.cipher_or_raise(), new)
                params = crypto.KdfParams.from_json(self._ring()["kdf"])
                tx.update("keyring", self._keys.row(self.store_uuid, params, self._now(), data_key=new_key, cipher=new,
                                                    generation=self._keys.generation + 1), WORKSTATION, "rekey")
        except BaseException:
            crypto.zero(new_key)
            raise
        self._keys.use_data_key(new_key, new)  # committed: switch to the new key and forget the old one

    @_serialized
    def change_passphrase(self, old: str, new: str) -> None:
        """Re-wrap the data key under a key derived from ``new`` (fresh salt); records are untouched."""
        check_new_passphrase(new)
        if new == old:
            raise InputError("the new passphrase must differ from the old one")
        if not self.is_unlocked:
            self.unlock(old)
        ring = self._ring()
        self._keys.check_passphrase(ring, old, self.store_uuid)  # WrongPassphraseError
        params = crypto.KdfParams.from_json(ring["kdf"]).with_new_salt()
        new_kek = crypto.derive_kek(new, params)
        try:
            with self._transaction() as tx:
                tx.update("keyring", self._keys.row(self.store_uuid, params, self._now(), kek=new_kek), WORKSTATION,
                          "passphrase_changed")
        except BaseException:
            crypto.zero(new_kek)
            raise
        self._keys.use_kek(new_kek)

    # ------------------------------------------------------------------ verification, stats
    @_serialized
    def verify(self) -> VerifyReport:
        """Recompute the audit chain, checkpoint signatures, every record digest; run PRAGMA integrity_check.

        Works locked. When unlocked it also proves the checkpoint key belongs to this store
        (its private half decrypts under the data key), so re-signed forgeries are caught. Like every read,
        it first applies the idle lock: a store idle past ``idle_lock_minutes`` is locked and verified locked.
        """
        self.check_idle()
        self._load_header()
        return verify_report(self.db, self.store_uuid, self._row("keyring", "data"), self._keys.cipher)

    @_serialized
    def stats(self) -> dict[str, Any]:
        """Counts and settings; no clinical content (works locked). Applies the idle lock first, like every read."""
        self.check_idle()
        return store_stats(self.db, self.path, self.is_unlocked)


__all__ = ["Store"]
