"""The tamper-evident audit chain.

Every write appends one event per record written::

    hash_n = sha256(prev_hash || canonical(seq, ts, actor, action, table, row_id, record_digest))

where ``record_digest`` is a canonical sha256 over every column of the record as stored
(ciphertexts, nonces and clear metadata alike). The first ``prev_hash`` is derived from
the store's random UUID. At the end of each write transaction the workstation's Ed25519
key signs a checkpoint ``(seq, timestamp, head hash, previous checkpoint's seq)`` (format
version 2; version 1, written by older builds, signed only ``(seq, head hash)`` and is accepted
as legacy: its timestamp is not authenticated). The private key is stored encrypted under the
data key, so an attacker who edits the file can recompute hashes but cannot re-sign.

Nothing is appended onto ground that was not verified first: ``chain.ChainGuard`` checks,
before every write, that the chain up to its head is intact and covered by a valid signature.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import struct
from dataclasses import dataclass, field
from typing import Any, Iterable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..errors import IntegrityError

_pack = struct.Struct(">Q").pack


def _tagged(v: Any) -> tuple[bytes, bytes]:
    t = type(v)
    if v is None:
        return b"N", b""
    if t is str:
        return b"S", v.encode("utf-8")
    if t is bytes:
        return b"B", v
    if t is int or t is bool:  # SQLite stores booleans as INTEGER
        return b"I", str(int(v)).encode()
    if t is float:
        return b"F", repr(v).encode()
    if isinstance(v, (bytearray, memoryview)):
        return b"B", bytes(v)
    if isinstance(v, int):
        return b"I", str(int(v)).encode()
    raise TypeError(f"cannot digest a {t.__name__}")


_PLANS: dict[tuple[str, tuple[str, ...]], tuple[bytes, list[tuple[str, bytes]]]] = {}


def _plan(table: str, names: tuple[str, ...]) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The constant parts of a table's digest: its header and each column's length-prefixed name, sorted."""
    plan = _PLANS.get((table, names))
    if plan is None:
        tb = table.encode()
        plan = (b"safemed-record-v1\x00" + _pack(len(tb)) + tb,
                [(n, _pack(len(n.encode())) + n.encode()) for n in sorted(names)])
        if len(_PLANS) < 4096:
            _PLANS[(table, names)] = plan
    return plan


def record_digest(table: str, row: dict[str, Any]) -> str:
    """Canonical sha256 of a record: columns sorted by name, each value type-tagged and length-prefixed.

    (Checked reads digest every row they show or count: the constant parts are prepared once per table.)
    """
    head, cols = _plan(table, tuple(row))
    parts = [head]
    for name, prefix in cols:
        v = row[name]
        t = type(v)
        if t is str:
            tag, data = b"S", v.encode("utf-8")
        elif t is bytes:
            tag, data = b"B", v
        elif t is int:
            tag, data = b"I", str(v).encode()
        elif t is float:
            tag, data = b"F", repr(v).encode()
        else:
            tag, data = _tagged(v)
        parts += (prefix, tag, _pack(len(data)), data)
    return hashlib.sha256(b"".join(parts)).hexdigest()


def _record_digest_reference(table: str, row: dict[str, Any]) -> str:
    """The definition ``record_digest`` implements (kept for the equivalence test)."""
    tb = table.encode()
    parts = [b"safemed-record-v1\x00", _pack(len(tb)), tb]
    for name in sorted(row):
        nb = name.encode()
        tag, data = _tagged(row[name])
        parts += (_pack(len(nb)), nb, tag, _pack(len(data)), data)
    return hashlib.sha256(b"".join(parts)).hexdigest()


def genesis_hash(store_uuid: str) -> str:
    return hashlib.sha256(b"safemed-audit-genesis-v1|" + store_uuid.encode()).hexdigest()


def event_hash(prev_hash: str, seq: int, ts: float, actor: str, action: str, table: str, row_id: str,
               digest: str) -> str:
    body = json.dumps([seq, ts, actor, action, table, row_id, digest], separators=(",", ":"), ensure_ascii=False,
                      default=repr)  # a tampered cell of an unexpected type hashes (to a mismatch), never crashes
    try:
        prev = bytes.fromhex(prev_hash)
    except (ValueError, TypeError):  # not a hash: cannot match any real link
        prev = b"\x00not-a-hash|" + repr(prev_hash).encode()
    return hashlib.sha256(prev + body.encode("utf-8", "surrogatepass")).hexdigest()


CHECKPOINT_VERSION = 2


def checkpoint_message(store_uuid: str, seq: int, head_hash: str, ts: float | None = None,
                       prev_seq: int | None = None, version: int = 1) -> bytes:
    """What a checkpoint signs. Version 2 covers the timestamp and the previous checkpoint's seq."""
    if version == 1:
        return f"safemed-checkpoint-v1|{store_uuid}|{seq}|{head_hash}".encode()
    if version == 2:
        return f"safemed-checkpoint-v2|{store_uuid}|{seq}|{float(ts)!r}|{head_hash}|{int(prev_seq or 0)}".encode()
    raise ValueError(f"unknown checkpoint version {version!r}")


def checkpoint_valid(pub: Ed25519PublicKey, store_uuid: str, seq: int, ts: float, head: str, signature: bytes,
                     version: int, prev_seq: int | None) -> bool:
    """The checkpoint's signature verifies under ``pub`` (any unknown version is invalid)."""
    try:
        pub.verify(bytes(signature), checkpoint_message(store_uuid, seq, head, ts, prev_seq, version))
        return True
    except (InvalidSignature, ValueError, TypeError):
        return False


@dataclass
class PendingEvent:
    actor: str
    action: str
    table: str
    row_id: str
    digest: str


def append_events(conn: sqlite3.Connection, store_uuid: str, events: Iterable[PendingEvent], ts: float,
                  sign) -> tuple[int, str]:
    """Append events after the current head (inside the caller's transaction) and sign a checkpoint.

    ``sign(message) -> bytes`` is the workstation key's signer. Returns (head seq, head hash).
    """
    row = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (row[0], row[1]) if row else (0, genesis_hash(store_uuid))
    prev_cp = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM checkpoints").fetchone()[0]
    out = []
    for e in events:
        seq += 1
        h = event_hash(prev, seq, ts, e.actor, e.action, e.table, e.row_id, e.digest)
        out.append((seq, ts, e.actor, e.action, e.table, e.row_id, e.digest, prev, h))
        prev = h
    if out:
        conn.executemany("INSERT INTO audit (seq, ts, actor, action, table_name, row_id, record_digest, "
                         "prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", out)
        msg = checkpoint_message(store_uuid, seq, prev, ts, prev_cp, CHECKPOINT_VERSION)
        conn.execute("INSERT INTO checkpoints (seq, ts, head_hash, signature, version, prev_seq) "
                     "VALUES (?, ?, ?, ?, ?, ?)", (seq, ts, prev, sign(msg), CHECKPOINT_VERSION, prev_cp))
    return seq, prev


def check_record(conn: sqlite3.Connection, table: str, row: dict[str, Any]) -> None:
    """Refuse a record whose bytes differ from what its latest audit event recorded."""
    hit = conn.execute("SELECT record_digest, seq FROM audit WHERE table_name = ? AND row_id = ? "
                       "ORDER BY seq DESC LIMIT 1", (table, row["id"])).fetchone()
    if hit is None:
        raise IntegrityError(f"{table} record {row['id']} has no audit event (written outside SafeMed)",
                             hint="run `safemed store verify`")
    if record_digest(table, row) != hit[0]:
        raise IntegrityError(f"{table} record {row['id']} was altered on disk (it no longer matches audit "
                             f"event #{hit[1]})", hint="run `safemed store verify`")


def latest_digests(conn: sqlite3.Connection, table: str) -> dict[str, str]:
    """Row id -> the record digest its latest audit event recorded, for every audited row of ``table``."""
    return dict(conn.execute("SELECT row_id, record_digest FROM audit WHERE table_name = ? ORDER BY seq",
                             (table,)).fetchall())


@dataclass
class VerifyReport:
    ok: bool
    first_broken: str | None  # description of the first broken link, None when the chain holds
    n_events: int
    integrity: str  # result of PRAGMA integrity_check ("ok" when sound)
    n_checkpoints: int = 0
    n_records: int = 0
    key_authenticated: bool | None = None  # the checkpoint key was proven to be this store's (needs unlock)
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "first_broken": self.first_broken, "n_events": self.n_events,
                "integrity": self.integrity, "n_checkpoints": self.n_checkpoints, "n_records": self.n_records,
                "key_authenticated": self.key_authenticated, "problems": list(self.problems)}


def verify_chain(conn: sqlite3.Connection, store_uuid: str, public_key: bytes | None,
                 tables: Iterable[str]) -> tuple[list[tuple[int, str]], int, int, int]:
    """Recompute the whole chain, every checkpoint signature and every record digest.

    Returns (problems as (seq, message) sorted by seq, n_events, n_checkpoints, n_records).
    """
    problems: list[tuple[int, str]] = []
    prev = genesis_hash(store_uuid)
    expected_seq = 1
    latest: dict[tuple[str, str], tuple[str, int]] = {}
    hashes: dict[int, str] = {}
    n_events = 0
    cur = conn.execute("SELECT seq, ts, actor, action, table_name, row_id, record_digest, prev_hash, hash "
                       "FROM audit ORDER BY seq")
    for seq, ts, actor, action, table, row_id, digest, prev_hash, h in cur:
        n_events += 1
        label = f"event #{seq} ({action} {table}/{row_id})"
        if seq != expected_seq:
            problems.append((expected_seq, f"event #{expected_seq} is missing (next event is #{seq})"))
        expected_seq = seq + 1
        if prev_hash != prev:
            problems.append((seq, f"{label}: previous-hash link does not match event #{seq - 1}"))
        if event_hash(prev_hash, seq, ts, actor, action, table, row_id, digest) != h:
            problems.append((seq, f"{label}: event hash does not match its content"))
        prev = h
        hashes[seq] = h
        latest[(table, row_id)] = (digest, seq)
    last_seq = expected_seq - 1

    n_cp = 0
    last_cp = 0
    pub = None
    if public_key is not None:
        try:
            pub = Ed25519PublicKey.from_public_bytes(bytes(public_key))
        except ValueError:
            problems.append((0, "the workstation public key is malformed"))
    seen_v2 = False
    for seq, ts, head, sig, version, prev_seq in conn.execute(
            "SELECT seq, ts, head_hash, signature, version, prev_seq FROM checkpoints ORDER BY seq"):
        n_cp += 1
        if version == 2:
            if (prev_seq or 0) != last_cp:
                problems.append((seq, f"checkpoint at event #{seq}: the checkpoint before it (at event #{prev_seq}) "
                                 "is missing or the checkpoints were reordered"))
            seen_v2 = True
        elif version == 1 and seen_v2:
            problems.append((seq, f"checkpoint at event #{seq}: a legacy (version 1) checkpoint after version 2 ones"))
        last_cp = max(last_cp, seq)
        if hashes.get(seq) != head:
            problems.append((seq, f"checkpoint at event #{seq}: head hash differs from the chain"))
            continue
        if pub is not None and not checkpoint_valid(pub, store_uuid, seq, ts, head, sig, version, prev_seq):
            problems.append((seq, f"checkpoint at event #{seq}: signature is invalid (it does not cover this "
                             "sequence number, timestamp and head)"))
    if last_seq and last_cp < last_seq:
        problems.append((last_cp + 1, f"events #{last_cp + 1}..#{last_seq} are not covered by a signed checkpoint"))

    n_records = 0
    for table in tables:
        cur = conn.execute(f"SELECT * FROM {table}")
        cols = [d[0] for d in cur.description]
        for values in cur:
            n_records += 1
            row = dict(zip(cols, values))
            key = (table, row["id"])
            entry = latest.pop(key, None)
            if entry is None:
                problems.append((last_seq + 1, f"record {table}/{row['id']} has no audit event (inserted outside the app)"))
            elif record_digest(table, row) != entry[0]:
                problems.append((entry[1], f"event #{entry[1]} ({table}/{row['id']}): record was altered on disk "
                                 "(digest mismatch)"))
    for (table, row_id), (_, seq) in latest.items():
        problems.append((seq, f"event #{seq} ({table}/{row_id}): record is missing (deleted)"))
    problems.sort(key=lambda p: p[0])
    return problems, n_events, n_cp, n_records
