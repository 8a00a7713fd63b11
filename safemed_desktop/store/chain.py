"""Verified ground: the session's check of the audit chain before every write and read, and the head anchor.

``ChainGuard`` remembers the last point of the chain (sequence number, hash) this session verified.
Before a write it recomputes the events after that point (from the genesis on the session's first
check) and requires the head to be covered by a checkpoint whose signature verifies under the
workstation's key; otherwise the write is refused and the reason names the break. Reads use the same
point as a cut-off: a record whose newest audit event lies beyond the verified, signed part of the
chain is shown as failed, never with its values.

The **anchor** is a small file outside the database (beside the user's config, one per store uuid),
written after every commit: ``(store uuid, seq, head hash, ts)`` signed with the workstation's Ed25519
key, in two slots rewritten alternately in place (``write_anchor``), so that a crash mid-write leaves the
other slot's previous head. It is not fsynced: an anchor that lags behind the database after a power cut
is never a false alarm, and a slot left unreadable by a crash reads as missing (both missing: the store is
re-anchored at its verified head, as on first use), which gives an attacker nothing that deleting the
files would not. A database older than its anchor (a tail cut, an older copy restored) or
whose history differs at the anchored event is detected on unlock and by ``verify``, and writes are
refused. What remains possible (an attacker who replaces both files) is in ``docs/security.md``.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .. import jsonio
from ..errors import IntegrityError
from ..paths import PRIVATE_FILE_MODE, make_dir
from .audit import checkpoint_valid, event_hash, genesis_hash

ANCHOR_SUFFIX = ".anchor"
ANCHOR_SLOTS = ("a", "b")
ANCHOR_RECORD_BYTES = 512  # one fixed-size record per slot, rewritten in place


# ---------------------------------------------------------------------------------------------- anchor
def anchor_message(store_uuid: str, seq: int, head: str, ts: float) -> bytes:
    return f"safemed-anchor-v1|{store_uuid}|{int(seq)}|{head}|{float(ts)!r}".encode()


@dataclass(frozen=True)
class Anchor:
    store_uuid: str
    seq: int
    head: str
    ts: float
    signature: bytes

    def valid(self, pub: Ed25519PublicKey) -> bool:
        try:
            pub.verify(self.signature, anchor_message(self.store_uuid, self.seq, self.head, self.ts))
            return True
        except (InvalidSignature, ValueError):
            return False


def anchor_path(anchor_dir: Path, store_uuid: str, slot: str = "a") -> Path:
    return Path(anchor_dir) / f"{store_uuid}{ANCHOR_SUFFIX}.{slot}"


def _parse(raw: bytes, store_uuid: str) -> Anchor | None:
    try:
        d = jsonio.loads(raw.decode("utf-8"))
        a = Anchor(str(d["store_uuid"]), int(d["seq"]), str(d["head"]), float(d["ts"]), bytes.fromhex(d["signature"]))
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, AttributeError):
        return None  # empty or torn by a crash: the same as a missing slot
    return a if a.store_uuid == store_uuid else None


def read_anchors(anchor_dir: Path, store_uuid: str) -> list[Anchor]:
    """The readable anchor records of this store (0, 1 or 2 slots), newest first."""
    out = []
    for slot in ANCHOR_SLOTS:
        p = anchor_path(anchor_dir, store_uuid, slot)
        try:
            raw = p.read_bytes()[:ANCHOR_RECORD_BYTES]
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise IntegrityError(f"the head anchor {p} cannot be read: {exc.strerror or exc}") from None
        a = _parse(raw, store_uuid)
        if a is not None:
            out.append(a)
    return sorted(out, key=lambda a: a.seq, reverse=True)


def write_anchor(anchor_dir: Path, store_uuid: str, seq: int, head: str, ts: float, sign) -> None:
    """Record (seq, head) as this store's anchor, unless it already holds a later event.

    Two slots, each one fixed-size signed record rewritten in place, the older slot each time: a write torn
    by a crash spoils only that slot (it then reads as missing) and the other still holds the previous head,
    so no fsync and no rename are needed (a rename over the file costs a flush on ext4). A lagging anchor is
    never a false alarm.
    """
    slots = {}
    for slot in ANCHOR_SLOTS:
        try:
            slots[slot] = _parse(anchor_path(anchor_dir, store_uuid, slot).read_bytes()[:ANCHOR_RECORD_BYTES],
                                 store_uuid)
        except OSError:
            slots[slot] = None
    if any(a is not None and a.seq > seq for a in slots.values()):  # another process of this user committed later
        return
    if any(a is not None and a.seq == seq and a.head == head for a in slots.values()):
        return
    target = min(ANCHOR_SLOTS, key=lambda k: -1 if slots[k] is None else slots[k].seq)
    sig = sign(anchor_message(store_uuid, seq, head, ts))
    body = json.dumps({"format": "safemed-anchor-v1", "store_uuid": store_uuid, "seq": int(seq), "head": head,
                       "ts": float(ts), "signature": bytes(sig).hex()}, sort_keys=True).encode()
    body = body.ljust(ANCHOR_RECORD_BYTES)  # fixed size: rewritten in place, never truncated
    p = anchor_path(anchor_dir, store_uuid, target)
    if not p.parent.is_dir():
        make_dir(p.parent)  # 0700
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | getattr(os, "O_BINARY", 0), PRIVATE_FILE_MODE)
    try:
        os.pwrite(fd, body, 0) if hasattr(os, "pwrite") else os.write(fd, body)
    finally:
        os.close(fd)


def anchor_problem(conn: sqlite3.Connection, anchors: list[Anchor], pub: Ed25519PublicKey | None) -> str | None:
    """Why the database contradicts its anchor (None when it does not, or when there is no anchor)."""
    if not anchors:
        return None
    if pub is not None and not all(a.valid(pub) for a in anchors):  # a torn slot does not parse; this one does
        return "the head anchor is not signed by this store's key (forged, or from another store)"
    anchor = anchors[0]
    head = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM audit").fetchone()[0]
    if head < anchor.seq:
        return (f"the store is older than its anchor: the anchor records audit event #{anchor.seq}, the store ends at "
                f"#{head} (its tail was cut or an older copy was restored)")
    row = conn.execute("SELECT hash FROM audit WHERE seq = ?", (anchor.seq,)).fetchone()
    if row is None or row[0] != anchor.head:
        return (f"the store's history differs from its anchor at audit event #{anchor.seq} "
                "(the file was replaced by another copy)")
    return None


# ---------------------------------------------------------------------------------------------- guard
class ChainGuard:
    """What this session verified of the chain: ``seq``/``hash`` of the newest signed, intact point.

    ``sticky``: a problem found earlier in the session (history changed under it, anchor contradicted)
    that keeps every write refused until the store is re-opened after the cause is dealt with.
    """

    def __init__(self, store_uuid: str):
        self.store_uuid = store_uuid
        self.seq = 0
        self.hash = genesis_hash(store_uuid)
        self.sticky: str | None = None
        self.problem: str | None = None  # why the head is not trusted (None when it is)

    def reset(self, store_uuid: str) -> None:
        self.__init__(store_uuid)

    def advance(self, conn: sqlite3.Connection, pub: Ed25519PublicKey) -> str | None:
        """Verify the events after the verified point; move it to the newest validly signed event reached.

        Returns why the head is not trusted (None when the whole chain up to the head is intact and signed).
        """
        head = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        head_seq = head[0] if head else 0
        if self.seq:
            row = conn.execute("SELECT hash FROM audit WHERE seq = ?", (self.seq,)).fetchone()
            if row is None or row[0] != self.hash:
                what = "is gone" if row is None else "was rewritten"
                self.sticky = (f"the audit chain changed under this session: event #{self.seq}, verified earlier, "
                               f"{what} (the store now ends at #{head_seq})")
                self.seq, self.hash = 0, genesis_hash(self.store_uuid)
        if head_seq == self.seq:
            self.problem = self.sticky
            return self.problem
        checkpoints = {r[0]: r[1:] for r in conn.execute(
            "SELECT seq, ts, head_hash, signature, version, prev_seq FROM checkpoints WHERE seq > ?", (self.seq,))}
        prev, expected = self.hash, self.seq + 1
        intact: list[tuple[int, str]] = []
        problem = None
        for seq, ts, actor, action, table, row_id, digest, prev_hash, h in conn.execute(
                "SELECT seq, ts, actor, action, table_name, row_id, record_digest, prev_hash, hash FROM audit "
                "WHERE seq > ? ORDER BY seq", (self.seq,)):
            if seq != expected:
                problem = f"audit event #{expected} is missing (the next one is #{seq})"
                break
            if prev_hash != prev:
                problem = f"audit event #{seq} does not link to event #{seq - 1}"
                break
            if event_hash(prev_hash, seq, ts, actor, action, table, row_id, digest) != h:
                problem = f"audit event #{seq} ({action} {table}/{row_id}) does not match its hash"
                break
            intact.append((seq, h))
            prev, expected = h, seq + 1
        for seq, h in reversed(intact):  # the newest checkpoint in the intact run that verifies
            cp = checkpoints.get(seq)
            if cp is not None and cp[1] == h and checkpoint_valid(pub, self.store_uuid, seq, cp[0], h, cp[2], cp[3],
                                                                  cp[4]):
                self.seq, self.hash = seq, h
                break
        if problem is None and self.seq < head_seq:
            problem = (f"audit events #{self.seq + 1}..#{head_seq} are not covered by a valid signed checkpoint "
                       "(appended outside SafeMed)")
        self.problem = self.sticky or problem
        return self.problem

    def committed(self, seq: int, head: str) -> None:
        """This session just appended and signed up to (seq, head)."""
        self.seq, self.hash = seq, head
        self.problem = self.sticky

    def require_writable(self, conn: sqlite3.Connection, pub: Ed25519PublicKey) -> None:
        problem = self.advance(conn, pub)
        if problem is not None:
            raise IntegrityError(f"refusing to write: {problem}",
                                 hint="run `safemed store verify`; nothing was written")

