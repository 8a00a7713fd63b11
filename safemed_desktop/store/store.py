"""The encrypted clinical store: answers, feedback, edits, profiles, acknowledgements.

One SQLite file (``connection``: WAL mode, ``synchronous=FULL``). Sensitive text is
AES-256-GCM encrypted per field (``crypto``, mapped by ``rows``); every write appends
hash-chained audit events and a signed checkpoint in the same transaction (``audit``). The
store opens *locked*: ``unlock(passphrase)`` derives the key-encryption key, unwraps the data
key and keeps it in memory only until ``lock()`` (explicit, or automatic after
``idle_lock_minutes``; ``keys``). ``provenance`` and ``verify`` assemble the read-only views.

Issue 10 (``docs/security.md``): nothing is appended onto ground that was not verified (``chain.ChainGuard``
before every write; the head anchored outside the file), every record shown or counted is checked as it is
read (``checked``), and a profile signs in with its own PIN (``authenticate``; ``credentials``): the store
refuses clinical reads and writes with nobody signed in, writes in another clinician's name, and admin-only
(profiles, rekey, passphrase) or reviewer-only (closing a model review) actions by other roles. The audit
actor of every write is the signed-in profile.

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

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlite_utils import Database
from sqlite_utils.db import NotFoundError

from .. import __version__
from ..errors import (AuthenticationError, DiskFullError, InputError, IntegrityError, PermissionDeniedError,
                      StoreError, StoreLockedError)
from ..paths import PRIVATE_FILE_MODE, make_dir
from ..records.answer import AnswerRecord, new_id
from ..records.profile import ADMIN_ROLE, REVIEWER_ROLE
from ..rubric import Rubric
from . import conversations, crypto, provenance as prov, rows
from . import runs as eval_runs
from . import checked, credentials
from .audit import VerifyReport, append_events, check_record, verify_chain
from .chain import ChainGuard, anchor_problem, read_anchors, write_anchor
from .connection import Tx, connect, sqlite_errors
from .diffing import unified_diff
from .keys import WORKSTATION, KeyRing, check_new_passphrase, reencrypt
from .rows import FeedbackInput
from .schema import AUDITED_TABLES, migrate
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
                 busy_timeout_s: float, clock: Callable[[], float], now: Callable[[], float],
                 anchor_dir: Path | None = None):
        self.path = path
        self.anchor_dir = Path(anchor_dir) if anchor_dir is not None else None
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
        self._profile: dict[str, Any] | None = None  # the authenticated profile (id, role, display name)
        self._verified_memo: dict = {}  # (table, id) -> (event seq, digest, hash of values): see checked.checked_rows
        self._memo_version = -1
        self._load_header()
        self._guard = ChainGuard(self.store_uuid)

    # the secrets, as the key ring holds them (None while locked)
    _kek = property(lambda self: self._keys.kek)
    _data_key = property(lambda self: self._keys.data_key)
    _cipher = property(lambda self: self._keys.cipher)
    _signer = property(lambda self: self._keys.signer)

    # ------------------------------------------------------------------ open / create
    @classmethod
    def open(cls, path: str | Path, *, idle_lock_minutes: float = 10, strike_window_days: int = 30,
             busy_timeout_s: float = 2.0, clock: Callable[[], float] = time.monotonic,
             now: Callable[[], float] = time.time, anchor_dir: str | Path | None = None) -> "Store":
        """Open an existing store, locked. Applies pending (older-schema) migrations; refuses newer schemas.

        ``anchor_dir``: where this user's head anchors live (``open_store`` passes the one beside the user's
        config); None keeps no anchor (library use and tests that do not exercise it).
        """
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
                           busy_timeout_s=busy_timeout_s, clock=clock, now=now, anchor_dir=anchor_dir)
        except BaseException:
            conn.close()
            raise

    @classmethod
    def create(cls, path: str | Path, passphrase: str, site_id: str, *, kdf_params: crypto.KdfParams | None = None,
               admin_name: str = "admin", admin_pin: str | None = None, **open_kwargs: Any) -> "Store":
        """Create a new store and return it **unlocked**.

        ``kdf_params`` defaults to ``KdfParams.default()`` (Argon2id t=3, 64 MiB, p=2). Test suites may
        pass ``KdfParams.fast_for_tests()``; the parameters are stored with the wrapped key (and profile
        credentials use the same cost). With ``admin_pin`` the first site administrator (``admin_name``) is
        created in the same step and signed in; without it, the first profile added must be a site_admin.
        """
        if admin_pin is not None:
            credentials.check_new_pin(admin_pin)
            if not isinstance(admin_name, str) or not admin_name.strip():
                raise InputError("the site administrator's name must not be empty")
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
                if admin_pin is not None:
                    admin = store.add_profile(admin_name, ADMIN_ROLE, admin_pin)
                    store.authenticate(admin, admin_pin)
        except BaseException:
            if store is not None:
                store.close()
            for suffix in ("", "-wal", "-shm", "-journal"):  # never leave a half-made store behind
                Path(str(p) + suffix).unlink(missing_ok=True)
            raise
        return store

    def _initialise(self, passphrase: str, site_id: str, params: crypto.KdfParams) -> None:
        self.store_uuid, self.site_id = str(uuid.uuid4()), site_id
        self._guard.reset(self.store_uuid)
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
        if self._guard.store_uuid != self.store_uuid:
            self._guard.reset(self.store_uuid)
        self._keys.unlock(self._ring(), passphrase, self.store_uuid)
        self._profile = None
        self.touch()
        self._check_ground()

    def _public_key(self):
        signer = self._keys.signer
        if signer is None:
            raise StoreLockedError("the store is locked", hint="unlock it with the site passphrase")
        return signer.public_key()

    def _check_ground(self) -> None:
        """On unlock: verify the chain (from where this session left it) and compare it with the anchor.

        Problems do not stop the unlock (``verify`` must still run and name them); they refuse every write.
        A store without an anchor on this workstation is anchored now at its verified head (first use).
        """
        pub = self._public_key()
        problem = self._guard.advance(self._conn, pub)
        if self.anchor_dir is None:
            return
        try:
            anchors = read_anchors(self.anchor_dir, self.store_uuid)
            contradiction = anchor_problem(self._conn, anchors, pub)
        except IntegrityError as exc:
            anchors, contradiction = [], str(exc)
        if contradiction is not None:
            self._guard.sticky = self._guard.problem = contradiction
        elif problem is None and (not anchors or anchors[0].seq < self._guard.seq):
            self._write_anchor()

    def _write_anchor(self) -> None:
        """Anchor the verified head outside the file. A failure here (disk full) leaves the older anchor: a lagging
        anchor is never a false alarm, it only narrows what a later rollback check can see."""
        if self.anchor_dir is None or not self._guard.seq:
            return
        ts = self._conn.execute("SELECT ts FROM checkpoints WHERE seq = ?", (self._guard.seq,)).fetchone()
        try:
            write_anchor(self.anchor_dir, self.store_uuid, self._guard.seq, self._guard.hash,
                         ts[0] if ts else self._now(), self._keys.sign)
        except OSError:
            pass

    @_serialized
    def lock(self) -> None:
        """Forget every key (key buffers are overwritten with zeros) and who was signed in."""
        self._keys.drop()
        self._profile = None

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
            self._guard.require_writable(conn, self._public_key())  # append only onto verified ground
            yield tx
            head = append_events(conn, self.store_uuid, tx.events, self._now(), self._keys.sign)
            conn.execute("COMMIT")
            if tx.events:
                self._guard.committed(*head)
                self._write_anchor()
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

    def _trusted_seq(self) -> int:
        """The newest audit event of the verified, signed chain (checked incrementally; the read cut-off)."""
        if self._keys.signer is None:
            return 0
        self._guard.advance(self._conn, self._public_key())
        return self._guard.seq

    def _verified(self, table: str, row_id: str, what: str) -> dict[str, Any]:
        """One record, refused (IntegrityError) unless it matches its newest audit event and that event lies in
        the verified, signed chain; InputError when there is no such record (and the chain records none)."""
        trusted = self._trusted_seq()
        good, failed = checked.checked_rows(self._conn, table, trusted, "id = ?", [row_id])
        if failed:
            raise IntegrityError(failed[0]["failed"], hint="run `safemed store verify`")
        if not good:
            ev = self._conn.execute("SELECT MAX(seq) FROM audit WHERE table_name = ? AND row_id = ? AND seq <= ?",
                                    (table, row_id, trusted)).fetchone()[0]
            if ev is not None:
                raise IntegrityError(f"{table} record {row_id} is missing (deleted); audit event #{ev} records it",
                                     hint="run `safemed store verify`")
            raise InputError(f"no {what} with id {row_id}")
        return good[0]

    def _verified_rows(self, table: str, where: str | None = None, args: Iterable[Any] = (),
                       order_by: str | None = None) -> list[dict[str, Any]]:
        """Every matching record, verified; IntegrityError at the first that fails."""
        good, failed = checked.checked_rows(self._conn, table, self._trusted_seq(), where, args, order_by,
                                            self._memo())
        if failed:
            raise IntegrityError(failed[0]["failed"], hint="run `safemed store verify`")
        return good

    def _checked_rows(self, table: str, where: str | None = None, args: Iterable[Any] = (),
                      order_by: str | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(records that verify, failed entries): a failed record never blocks the others, nor shows its values."""
        return checked.checked_rows(self._conn, table, self._trusted_seq(), where, args, order_by, self._memo())

    def _memo(self) -> dict:
        """The session's memo of verified rows, emptied whenever another connection wrote to the file."""
        version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self._memo_version:
            self._verified_memo.clear()
            self._memo_version = version
        return self._verified_memo

    def _ring(self) -> dict[str, Any]:
        ring = self._row("keyring", "data")
        if ring is None:
            raise StoreError(f"{self.path} has no key ring: the store was never initialised or is damaged")
        check_record(self._conn, "keyring", ring)
        return ring

    def _answer(self, answer_id: str, select: str = "*") -> dict[str, Any]:
        """One answer row, verified against the chain (``select`` is kept for callers; the whole row is read)."""
        return self._verified("answers", answer_id, "answer")

    def _profile_role(self, clinician_id: str) -> str:
        """The role of a profile, from its verified record (a forged role is refused, never used)."""
        try:
            return self._verified("profiles", clinician_id, "clinician profile")["role"]
        except InputError:
            raise InputError(f"no clinician profile with id {clinician_id}",
                             hint="add one with `safemed store add-profile`") from None

    # ------------------------------------------------------------------ who acts (roles enforced here)
    @property
    def profile(self) -> dict[str, Any] | None:
        """The signed-in profile (``id``, ``role``, ``display_name``), None when nobody is signed in."""
        return dict(self._profile) if self._profile else None

    def require_profile(self, *roles: str) -> dict[str, Any]:
        """The signed-in profile; AuthenticationError when none, PermissionDeniedError when its role is not in
        ``roles`` (any role when empty). Every clinical read and write goes through this. A locked store (idle
        lock included) says so first: locking signs the profile out."""
        self._require_unlocked()
        if self._profile is None:
            raise AuthenticationError("no profile is signed in",
                                      hint="sign in with your profile and PIN (CLI: --as NAME or SAFEMED_PROFILE)")
        if roles and self._profile["role"] not in roles:
            raise PermissionDeniedError(f"{_with_article(self._profile['role'])} may not do this (only "
                                        f"{' or '.join(_with_article(r) for r in roles)} may)")
        return self._profile

    def _acting_as(self, clinician_id: str | None, what: str) -> str:
        """The signed-in profile's id; refused when ``clinician_id`` names someone else."""
        me = self.require_profile()["id"]
        if clinician_id is not None and clinician_id != me:
            raise PermissionDeniedError(f"{what} can only be recorded as the signed-in profile ({me}), "
                                        f"not as {clinician_id}")
        return me

    def _has_credentials(self) -> bool:
        """Whether the (signed) chain records any profile credential: once one exists, only admins add profiles."""
        return self._conn.execute("SELECT 1 FROM audit WHERE table_name = 'profile_credentials' LIMIT 1").fetchone() \
            is not None

    @_serialized
    def authenticate(self, who: str, pin: str) -> dict[str, Any]:
        """Sign in as the profile ``who`` (its id or display name) with its PIN; returns it (id, role, name).

        The profile and its credential are checked against the verified chain first: a forged role or a
        credential written outside SafeMed is refused. A wrong PIN signs nobody in.
        """
        cipher = self._require_unlocked()
        if not isinstance(who, str) or not who.strip():
            raise AuthenticationError("no profile named", hint="give a profile name or id")
        who = who.strip()
        good, failed = self._checked_rows("profiles")
        match = [r for r in good if r["id"] == who]
        if not match:
            folded = who.casefold()
            match = [r for r in good if (rows.decrypt_field(cipher, "profiles", r, "display_name_enc") or "")
                     .strip().casefold() == folded]
        if not match:
            bad = next((f for f in failed if f["id"] == who), None)
            if bad is not None:
                raise IntegrityError(bad["failed"], hint="run `safemed store verify`")
            raise AuthenticationError(f"no profile named {who!r}", hint="list them with `safemed store profiles`")
        if len(match) > 1:
            raise AuthenticationError(f"{len(match)} profiles are named {who!r}", hint="give the profile id instead")
        row = match[0]
        try:
            cred = self._verified("profile_credentials", row["id"], "credential")
        except InputError:
            raise AuthenticationError(f"profile {who!r} has no PIN and cannot sign in",
                                      hint="a site administrator can add a profile with a PIN") from None
        self._profile = None
        credentials.open_credential(cred, pin, self.store_uuid, repr(who))
        self._profile = {"id": row["id"], "role": row["role"],
                         "display_name": rows.decrypt_field(cipher, "profiles", row, "display_name_enc")}
        return dict(self._profile)

    @_serialized
    def sign_out(self) -> None:
        self._profile = None

    # ------------------------------------------------------------------ profiles
    @_serialized
    def add_profile(self, display_name: str, role: str, pin: str) -> str:
        """Add a profile with its PIN (display name encrypted); returns its pseudonymous id. Site admins only,
        except the very first profile of a store, which must be a site_admin (store creation)."""
        credentials.check_new_pin(pin)
        self._require_unlocked()
        pid = new_id()
        with self._transaction() as tx:
            if self._has_credentials():
                actor = self.require_profile(ADMIN_ROLE)["id"]
            elif role != ADMIN_ROLE:
                raise PermissionDeniedError("the first profile of a store must be its site administrator (site_admin)")
            else:
                actor = pid
            cipher = self._keys.cipher_or_raise()
            now = self._now()
            tx.insert("profiles", rows.profile_row(pid, display_name, role, now, cipher), actor)
            params = crypto.KdfParams.from_json(self._ring()["kdf"])
            tx.insert("profile_credentials", credentials.credential_row(pid, pin, self.store_uuid, params, now), actor,
                      "set_credential")
        return pid

    @_serialized
    def list_profiles(self) -> list[dict[str, Any]]:
        """Every profile, verified; one that fails is listed as failed (``failed``: the reason), with no name or
        role, and one the chain records but the table lost as missing."""
        cipher = self._require_unlocked()
        good, failed = self._checked_rows("profiles", order_by="created_at")
        out = [rows.profile_out(r, cipher) for r in good]
        gone = checked.missing_rows(self._conn, "profiles", self._guard.seq)
        for f in failed + gone:
            out.append({"id": f["id"], "role": "failed", "created_at": None,
                        "display_name": "[record failed verification]", "failed": f.get("failed") or f["missing"]})
        return out

    # ------------------------------------------------------------------ answers
    @_serialized
    def save_answer(self, record: AnswerRecord) -> str:
        """Store one answer record (all clinical text encrypted); returns its id."""
        return self.save_answers([record])[0]

    @_serialized
    def save_answers(self, records: list[AnswerRecord]) -> list[str]:
        """Store many answer records in one transaction (all or nothing), as the signed-in profile."""
        actor = self.require_profile()["id"]
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
            tx.insert_many("answers", new, [actor] * len(new))
        return ids

    @_serialized
    def get_answer(self, answer_id: str) -> AnswerRecord:
        """Decrypt and return an answer; IntegrityError if its record was altered on disk."""
        cipher = self._require_unlocked()
        self.require_profile()
        return rows.answer_record(self._verified("answers", answer_id, "answer"), cipher)

    @_serialized
    def list_answers(self, search: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """Newest first. ``search`` matches question or answer text, case-insensitively, after decryption.

        A record that fails verification is listed as ``{"id", "created_at", "error"}`` instead of
        hiding the rest of the list.
        """
        cipher = self._require_unlocked()
        self.require_profile()
        trusted = self._trusted_seq()
        needle = search.casefold().strip() if search else None
        out: list[dict[str, Any]] = []
        for row in self.db["answers"].rows_where(select=_LISTED, order_by="created_at DESC",
                                                 limit=None if needle else int(limit)):
            if len(out) >= limit:
                break
            n_fb, n_ed = row.pop("_n_feedback"), row.pop("_n_edits")
            try:
                ev = self._conn.execute("SELECT record_digest, seq FROM audit WHERE table_name = 'answers' AND "
                                        "row_id = ? ORDER BY seq DESC LIMIT 1", (row["id"],)).fetchone()
                problem = checked.row_problem("answers", row, ev[0] if ev else None, ev[1] if ev else None, trusted)
                if problem is not None:
                    raise IntegrityError(problem)
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
        """Record many feedback items, and the edits they carry, in one transaction (all or nothing).

        Only as the signed-in profile: an item naming another clinician is refused. The role recorded with the
        feedback is the profile's verified role.
        """
        items = list(items)
        for it in items:
            self._acting_as(it.clinician_id, "feedback")
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
                strikes = self._verified_strikes(sha) + sum(
                    1 for r in feedback if r["strike"] and answers[r["answer_id"]]["model_sha256"] == sha)
                review = prov.review_due(self._conn, sha, self._now(), self.strike_window_days, strikes)
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
        author_id = self._acting_as(author_id, "an edit")
        rows.check_edit_text(text)
        self._profile_role(author_id)
        with self._transaction() as tx:
            self._answer(answer_id, "id")
            edit = self._edit_row(answer_id, text, author_id, {})
            tx.insert("edits", edit, author_id)
        return edit["version"]

    @_serialized
    def edit_history(self, answer_id: str) -> list[dict[str, Any]]:
        """Every version of the answer text, oldest first; version 0 is the model's original answer.

        Edits that fail verification are left out here (``provenance`` lists them as failed).
        """
        return self._edit_history(answer_id)[0]

    def _edit_history(self, answer_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        cipher = self._require_unlocked()
        self.require_profile()
        answer = self._verified("answers", answer_id, "answer")
        roles = {r["id"]: r["role"] for r in self._checked_rows("profiles")[0]}
        good, failed = self._checked_rows("edits", "answer_id = ?", [answer_id], order_by="version")
        return [rows.original_version(answer, cipher)] + [
            rows.edit_out(r, roles.get(r["author_id"], "unverified"), cipher) for r in good], failed

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
        """A clinician acknowledged a signal (e.g. a medication alert) shown with an answer (as the signed-in
        profile only)."""
        clinician_id = self._acting_as(clinician_id, "an acknowledgement")
        aid = new_id()
        with self._transaction() as tx:
            self._profile_role(clinician_id)
            answer = self._answer(answer_id, "id, signal_levels")
            tx.insert("acknowledgements", rows.acknowledgement_row(aid, answer, clinician_id, signal_name, self._now()),
                      clinician_id)
        return aid

    @_serialized
    def provenance(self, answer_id: str) -> dict[str, Any]:
        """Own audits and edits, the model version's track record (overall and category), five-strike status.

        Every record is checked against the chain as it is read: the answer itself (IntegrityError when it
        fails), its feedback, edits and acknowledgements, and every feedback and answer the track record
        counts. A record that fails is left out of what is shown and counted and listed under
        ``integrity.failed`` with the reason; records the chain says exist but the store lost are listed under
        ``integrity.missing``.
        """
        cipher = self._require_unlocked()
        self.require_profile()
        answer = self._verified("answers", answer_id, "answer")
        fb, fb_failed = self._checked_rows("feedback", "answer_id = ?", [answer_id], order_by="created_at")
        audits = [rows.feedback_out(r, cipher) for r in fb]
        acks, ack_failed = self._checked_rows("acknowledgements", "answer_id = ?", [answer_id], order_by="created_at")
        acks = [{k: a[k] for k in ("id", "clinician_id", "signal_name", "signal_level", "created_at")} for a in acks]
        history, ed_failed = self._edit_history(answer_id)
        sha = answer["model_sha256"]
        fig = self._figures(sha, answer["category"])
        review, rv_failed = self._open_review(sha)
        missing = [m for t in ("answers", "feedback", "edits", "acknowledgements", "model_reviews")
                   for m in checked.missing_rows(self._conn, t, self._guard.seq)]
        out = prov.answer_provenance(answer, audits, acks, history, fig, review, self.strike_window_days)
        failed = {(f["table"], f["id"]): f for f in fb_failed + ack_failed + ed_failed + fig["failed"] + rv_failed}
        out["integrity"] = {"failed": list(failed.values()), "missing": missing}
        return out

    def _figures(self, model_sha256: str, category: str) -> dict[str, Any]:
        """Track record and strike count of a model version from verified answers and feedback only."""
        answers, a_failed = self._checked_rows("answers", "model_sha256 = ?", [model_sha256])
        categories = {a["id"]: a["category"] for a in answers}
        fb, f_failed = self._checked_rows("feedback", "answer_id IN (SELECT id FROM answers WHERE model_sha256 = ?)",
                                          [model_sha256])
        orphans = [f for f in fb if f["answer_id"] not in categories]
        for f in orphans:
            f_failed.append({"table": "feedback", "id": f["id"],
                             "failed": f"feedback record {f['id']} is not counted: its answer failed verification"})
        fb = [f for f in fb if f["answer_id"] in categories]
        fig = checked.figures(fb, categories, category, model_sha256, self._now(), self.strike_window_days)
        fig["failed"] = a_failed + f_failed
        return fig

    def _verified_strikes(self, model_sha256: str) -> int:
        """Strikes of a model within the window that verify (the write path's five-strike check: the clear
        ``strike`` and ``created_at`` columns only pick the candidates, each is verified before it counts)."""
        since = self._now() - self.strike_window_days * prov.DAY_S
        good, _ = self._checked_rows("feedback", "strike = 1 AND created_at >= ? AND answer_id IN "
                                     "(SELECT id FROM answers WHERE model_sha256 = ?)", [since, model_sha256])
        answers = {a["id"] for a in self._checked_rows("answers", "model_sha256 = ?", [model_sha256])[0]} \
            if good else set()
        return sum(1 for f in good if f["answer_id"] in answers)

    def _open_review(self, model_sha256: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        good, failed = self._checked_rows("model_reviews", "model_sha256 = ? AND status = 'open'", [model_sha256],
                                          order_by="marked_at")
        return (good[0] if good else None), failed

    @_serialized
    def close_model_review(self, model_sha256: str) -> str:
        """An expert-panel decision: close the open review of a model version (reviewers only); returns its id."""
        me = self.require_profile(REVIEWER_ROLE)["id"]
        with self._transaction() as tx:
            review, failed = self._open_review(model_sha256)
            if failed:
                raise IntegrityError(failed[0]["failed"], hint="run `safemed store verify`")
            if review is None:
                raise InputError(f"model {model_sha256[:12]} has no open review")
            tx.update("model_reviews", {**review, "status": "closed"}, me, "close_review")
        return review["id"]

    # ------------------------------------------------------------------ conversations (store/conversations.py)
    @_serialized
    def save_turn(self, conversation_id: str | None, record: AnswerRecord,
                  clinician_id: str | None = None) -> tuple[str, int]:
        """Store an answer as the next turn of a conversation (a new one when None); (conversation id, position)."""
        self._require_unlocked()
        return conversations.save_turn(self, conversation_id, record, clinician_id)

    @_serialized
    def list_conversations(self, search: str | None = None, limit: int = 200,
                           include_archived: bool = False) -> list[dict[str, Any]]:
        self._require_unlocked()
        return conversations.list_conversations(self, search, limit, include_archived)

    @_serialized
    def rename_conversation(self, conversation_id: str, title: str) -> str:
        """A new title for the signed-in clinician's conversation (audited; earlier titles stay on record)."""
        self._require_unlocked()
        return conversations.rename(self, conversation_id, title)

    @_serialized
    def archive_conversation(self, conversation_id: str, archived: bool = True) -> None:
        """Archive (hidden from the list, never deleted) or un-archive the signed-in clinician's conversation."""
        self._require_unlocked()
        conversations.set_archived(self, conversation_id, archived)

    @_serialized
    def get_conversation(self, conversation_id: str) -> dict[str, Any]:
        self._require_unlocked()
        return conversations.get_conversation(self, conversation_id)

    @_serialized
    def conversation_of(self, answer_id: str) -> str | None:
        self._require_unlocked()
        return conversations.conversation_of(self, answer_id)

    # ------------------------------------------------------------------ evaluation runs (store/runs.py)
    @_serialized
    def create_eval_run(self, kind: str, description: dict[str, Any], n_items: int) -> str:
        """A new evaluation run (site administrators and reviewers); returns its id."""
        return eval_runs.create_run(self, self.require_profile(*eval_runs.WRITER_ROLES)["id"], kind, description,
                                    n_items)

    @_serialized
    def add_eval_item(self, run_id: str, seq: int, item_key: str, result: dict[str, Any],
                      detail: dict[str, Any]) -> str:
        """One finished item, committed now (its detail encrypted)."""
        return eval_runs.add_item(self, self.require_profile(*eval_runs.WRITER_ROLES)["id"], run_id, seq, item_key,
                                  result, detail)

    @_serialized
    def add_eval_summary(self, run_id: str, status: str, n_done: int, summary: dict[str, Any]) -> str:
        return eval_runs.add_summary(self, self.require_profile(*eval_runs.WRITER_ROLES)["id"], run_id, status,
                                     n_done, summary)

    @_serialized
    def eval_run(self, run_id: str) -> dict[str, Any]:
        self._require_unlocked()
        self.require_profile()
        return eval_runs.get_run(self, run_id)

    @_serialized
    def list_eval_runs(self) -> list[dict[str, Any]]:
        self._require_unlocked()
        self.require_profile()
        return eval_runs.list_runs(self)

    @_serialized
    def eval_items(self, run_id: str, *, with_detail: bool = False) -> list[dict[str, Any]]:
        self._require_unlocked()
        self.require_profile()
        return eval_runs.items(self, run_id, with_detail=with_detail)

    @_serialized
    def eval_done_keys(self, run_id: str) -> set[str]:
        self._require_unlocked()
        self.require_profile()
        return eval_runs.done_keys(self, run_id)

    # ------------------------------------------------------------------ validation studies (store/studies.py)
    @property
    def studies(self):  # -> studies.StudyStore
        """The blinded validation studies of this store, and the report's and export's reads."""
        from .studies import StudyStore

        return StudyStore(self)

    # ------------------------------------------------------------------ keys
    @_serialized
    def rekey(self) -> None:
        """Re-encrypt every field under a fresh data key (site admins only); refuses unless the whole chain and
        every record verify first."""
        me = self.require_profile(ADMIN_ROLE)["id"]
        self._require_whole_store_verified("rekey")
        new_key = crypto.new_data_key()
        new = crypto.FieldCipher(new_key)
        try:
            with self._transaction() as tx:
                reencrypt(self.db, tx, self._keys.cipher_or_raise(), new)
                params = crypto.KdfParams.from_json(self._ring()["kdf"])
                tx.update("keyring", self._keys.row(self.store_uuid, params, self._now(), data_key=new_key, cipher=new,
                                                    generation=self._keys.generation + 1), me, "rekey")
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
        me = self.require_profile(ADMIN_ROLE)["id"]
        self._require_whole_store_verified("passphrase change")
        ring = self._ring()
        self._keys.check_passphrase(ring, old, self.store_uuid)  # WrongPassphraseError
        params = crypto.KdfParams.from_json(ring["kdf"]).with_new_salt()
        new_kek = crypto.derive_kek(new, params)
        try:
            with self._transaction() as tx:
                tx.update("keyring", self._keys.row(self.store_uuid, params, self._now(), kek=new_kek), me,
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
        report = verify_report(self.db, self.store_uuid, self._row("keyring", "data"), self._keys.cipher)
        extra = self._ground_problems()
        if extra:
            report.problems = [p for p in report.problems if p not in extra]
            report.problems[:0] = extra  # what the chain alone cannot show comes first: rollback, rewritten history
            report.ok, report.first_broken = False, report.problems[0]
        return report

    def _ground_problems(self) -> list[str]:
        """The anchor's and this session's findings: a rollback or a tail cut the chain alone cannot show."""
        out = []
        pub = None
        if self._keys.signer is not None:
            pub = self._public_key()
        else:
            ring = self._row("keyring", "data")
            if ring is not None:
                try:
                    pub = Ed25519PublicKey.from_public_bytes(bytes(ring["sign_public"]))
                except ValueError:
                    pub = None
        if self.anchor_dir is not None:
            try:
                problem = anchor_problem(self._conn, read_anchors(self.anchor_dir, self.store_uuid), pub)
            except IntegrityError as exc:
                problem = str(exc)
            if problem:
                out.append(problem)
        if self._guard.sticky and self._guard.sticky not in out:
            out.append(self._guard.sticky)
        return out

    def _require_whole_store_verified(self, what: str) -> None:
        """Rekey and passphrase changes first verify the whole chain and every record (not only the tail)."""
        pub = self._public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        problems, *_ = verify_chain(self._conn, self.store_uuid, pub, AUDITED_TABLES)
        msgs = [m for _, m in problems] + self._ground_problems()
        if msgs:
            raise IntegrityError(f"{what} refused: {msgs[0]}", hint="run `safemed store verify`; nothing was changed")

    @_serialized
    def stats(self) -> dict[str, Any]:
        """Counts and settings; no clinical content (works locked). Applies the idle lock first, like every read."""
        self.check_idle()
        return store_stats(self.db, self.path, self.is_unlocked)

    # ------------------------------------------------------------------ sync (safemed_desktop.sync)
    @_serialized
    def export_since(self, since_seq: int, progress: Callable[[int, int], None] | None = None) -> Any:
        """Records, audit events and checkpoints after audit event ``since_seq``, verified and decrypted."""
        from .export import read_export

        cipher = self._require_unlocked()
        self.require_profile()  # a clinical read: someone is signed in
        trusted = self._trusted_seq()  # only the verified, signed chain leaves the workstation
        problem = getattr(self._guard, "problem", None)
        if problem:
            raise IntegrityError(f"the audit chain does not verify ({problem}); nothing was exported",
                                 hint="run `safemed store verify`")
        return read_export(self._conn, cipher, self.store_uuid, self.site_id, since_seq, progress, upto=trusted)

    @_serialized
    def sync_pending(self, since_seq: int) -> dict[str, Any]:
        """Records and events after ``since_seq``, counted; the signed head; the hash at ``since_seq`` (locked ok)."""
        from .export import pending

        self.check_idle()
        return pending(self._conn, self.store_uuid, since_seq)

    @_serialized
    def sign_sync(self, message: bytes) -> bytes:
        """Sign a sync message (bundle, card) with the workstation key; only ``safemed-sync-v1|`` messages."""
        if not bytes(message).startswith(b"safemed-sync-v1|"):
            raise InputError("the workstation key signs only sync messages here")
        self._require_unlocked()
        return self._keys.sign(bytes(message))

    @_serialized
    def signing_public_key(self) -> bytes:
        """The workstation's Ed25519 public key (the checkpoint key), from the verified key ring."""
        return bytes(self._ring()["sign_public"])


__all__ = ["Store"]


def _with_article(role: str) -> str:
    """A role in plain words with its article: "an attending", "a site administrator"."""
    words = {"site_admin": "site administrator"}.get(role, role.replace("_", " "))
    return f"{'an' if words[:1].lower() in 'aeiou' else 'a'} {words}"
