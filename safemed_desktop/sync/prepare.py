"""A bundle's rows prepared for the merge, and its payload verified: in this process, or on a second core.

An import costs about as much in Python (parsing, content hashes, the manifest's per-type hashes, the audit
chain, sealing under the site data key) as in the database writes, and one interpreter runs one of them at a
time. On Linux with two or more cores, a large bundle is prepared by a helper process forked once the bundle's
signature is verified (``ForkedParts``): it decrypts the payload, parses the events, checkpoints and records,
seals the records and streams all of them to the importer in chunks, then checks the records against the
manifest and verifies the whole audit chain. Meanwhile the importer writes each chunk as it arrives, in its
open transaction, and commits only after the helper's verdict. The checks are those of the sequential path
(``InlineParts``): the same functions on the same bytes, in the same order; a verification error outranks an
error the merge met first, as it would in sequence.

The helper touches no database, file or standard stream, dies with the importer, and leaves with ``os._exit``.
If it fails or dies, the import is refused and rolled back.

A part is one of ``("events", rows)``, ``("checkpoints", rows)``, ``("total", n_records)`` and
``("records", type, rows)``, rows ready for their tables.
"""

from __future__ import annotations

import ctypes
import gc
import io
import mmap
import os
import pickle
import signal
import struct
import sys
from itertools import repeat
from typing import Any, Iterator

from ..errors import BundleError, SafeMedError, StoreError
from .bundle import (Payload, SignedBundle, check_chain, events_plain, iter_event_columns, open_payload,
                     parse_checkpoints, parse_records, type_slices, verify_records)
from .keys import SiteKeys

#: Records per chunk handed to the merge (one bulk insert each); events go by ``EVENT_CHUNK``.
CHUNK = 5000
EVENT_CHUNK = 10000
#: The shared arena the helper writes its parts into: this many times the payload, plus a margin (address
#: space reserved; only what is written takes memory). Parts beyond it travel on the pipe.
ARENA_FACTOR, ARENA_EXTRA = 2, 64 * 1024 * 1024
_HEAD = struct.Struct("<QQ")  # a part's (offset in the arena, length)
_INLINE = 2 ** 64 - 1  # the offset of a part that follows on the pipe
#: Payloads shorter than this (bytes) are prepared inline: forking would cost more than it saves.
MIN_FORK_BYTES = 2 * 1024 * 1024

Part = tuple


def can_fork() -> bool:
    return sys.platform.startswith("linux") and hasattr(os, "fork") and (os.cpu_count() or 1) >= 2


def record_columns(recs: list[tuple], keys: SiteKeys) -> Iterator[tuple[str, list, list, list, list]]:
    """(type, ids, content hashes, clear JSON, sealed sensitive columns) in chunks (records sorted by type, id)."""
    chunk = CHUNK
    for rtype, start, end in type_slices(recs):
        for i in range(start, end, chunk):
            part = recs[i:min(i + chunk, end)]
            yield (rtype, [r[1] for r in part], [r[4] for r in part], [r[2] for r in part],
                   keys.seal_many([(r[0], r[1], r[3]) for r in part]))


def _record_rows(workstation_id: str, rtype: str, ids: list, hashes: list, clear: list, sealed: list) -> list[tuple]:
    return list(zip(repeat(rtype), ids, repeat(workstation_id), hashes, clear, sealed))  # the records table's order


def _event_rows(workstation_id: str, events: list[tuple]) -> list[tuple]:
    head = (workstation_id,)
    return [head + e for e in events]


class InlineParts:
    """The sequential path: a payload verified whole before the merge starts."""

    def __init__(self, pl: Payload, keys: SiteKeys, workstation_id: str):
        self._pl, self._keys, self._ws = pl, keys, workstation_id

    def __iter__(self) -> Iterator[Part]:
        pl, ws = self._pl, self._ws
        for start in range(0, len(pl.events), EVENT_CHUNK):
            yield "events", _event_rows(ws, pl.events[start:start + EVENT_CHUNK])
        yield "checkpoints", [(ws,) + cp for cp in pl.checkpoints]
        yield "total", len(pl.records)
        for rtype, *columns in record_columns(pl.records, self._keys):
            yield "records", rtype, _record_rows(ws, rtype, *columns)

    def verdict(self) -> SafeMedError | None:
        return None

    def close(self) -> None:
        pass


class ForkedParts:
    """Parts prepared, and the payload verified, by a forked helper; ``verdict()`` waits for its conclusion.

    The helper pickles each part straight into an anonymous shared mapping (the *arena*, mapped before the fork)
    and announces it on a pipe as (offset, length); the importer unpickles it from the arena, no copy through
    the kernel and no second thread. A part that does not fit in what is left of the arena travels on the pipe
    itself, after its announcement.
    """

    def __init__(self, b: SignedBundle, keys: SiteKeys, site_id: str, workstation_public: bytes):
        self._verdict: tuple | None = None
        self._ws = b.workstation_id
        self.parts_in_arena = self.parts_on_pipe = 0
        self._arena = mmap.mmap(-1, ARENA_FACTOR * len(b.ciphertext) + ARENA_EXTRA)  # MAP_SHARED | MAP_ANONYMOUS
        try:
            r, w = os.pipe()
            parent, libc = os.getpid(), _libc()
            self.pid = os.fork()
        except OSError:
            self._arena.close()
            raise
        if self.pid == 0:  # the helper: never returns
            os.close(r)
            _die_with(parent, libc)
            _helper(w, self._arena, b, keys, site_id, workstation_public)
        os.close(w)
        self._pipe = os.fdopen(r, "rb")

    def _next(self) -> tuple:
        if self._verdict is not None:
            return self._verdict
        head = self._pipe.read(_HEAD.size)
        msg: tuple = ("died",)
        if len(head) == _HEAD.size:
            offset, length = _HEAD.unpack(head)
            if offset == _INLINE:
                data = self._pipe.read(length)
                if len(data) == length:
                    msg = pickle.loads(data)
                    self.parts_on_pipe += 1
            else:
                with memoryview(self._arena)[offset:offset + length] as view:
                    msg = pickle.loads(view)
                self.parts_in_arena += 1
        kind = msg[0]
        if kind == "records":  # travels as columns: the type and workstation are not repeated on every row
            return "records", msg[1], _record_rows(self._ws, *msg[1:])
        if kind == "events":
            return "events", list(zip(repeat(self._ws), *msg[1])) if msg[1] else []
        if kind in ("ok", "error", "crash", "died"):
            self._verdict = msg
        return msg

    @staticmethod
    def _error(msg: tuple) -> SafeMedError | None:
        if msg[0] == "error":
            return BundleError(msg[1], hint=msg[2])
        if msg[0] == "crash":
            return StoreError(f"the import's helper process failed ({msg[1]}); nothing was imported",
                              hint="run the import again")
        if msg[0] == "died":
            return StoreError("the import's helper process ended without a verdict; nothing was imported",
                              hint="run the import again")
        return None

    def __iter__(self) -> Iterator[Part]:
        while True:
            msg = self._next()
            if msg[0] == "ok":
                return
            err = self._error(msg)
            if err is not None:
                raise err
            yield msg

    def verdict(self) -> SafeMedError | None:
        """Wait for the helper's conclusion (parts not yet read are dropped): None when the payload verified."""
        while self._verdict is None:
            self._next()
        return self._error(self._verdict)

    def close(self) -> None:
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)  # it has left already when it concluded: harmless then
            except ProcessLookupError:
                pass
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass
            self.pid = 0
        self._pipe.close()
        self._arena.close()


def _libc() -> Any:
    """The C library, loaded in the importer (never first in the forked helper: no loader work after a fork)."""
    global _LIBC
    if _LIBC is None:
        try:
            _LIBC = ctypes.CDLL(None, use_errno=True)
        except OSError:
            _LIBC = False
    return _LIBC


_LIBC: Any = None


def _die_with(parent: int, libc: Any) -> None:
    """Ask Linux to kill this helper when the importer dies (``PR_SET_PDEATHSIG``); leave if it already has."""
    try:
        if libc:
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
    except AttributeError:  # no prctl: the helper still leaves at its next write to a closed pipe
        pass
    if os.getppid() != parent:
        os._exit(1)


def _helper(w: int, arena: mmap.mmap, b: SignedBundle, keys: SiteKeys, site_id: str, public: bytes) -> None:
    """The forked helper's whole life: decrypt, parse and stream every part, then verify; then leave."""
    code = 0
    try:
        gc.disable()  # short-lived, no cycles: collections would only copy the parent's pages (copy-on-write)
        pos = 0

        def send(msg: tuple) -> None:
            nonlocal pos
            arena.seek(pos)
            try:
                pickler = pickle.Pickler(arena, pickle.HIGHEST_PROTOCOL)
                pickler.fast = True  # no memo: rows of plain values, no shared or recursive objects
                pickler.dump(msg)
            except ValueError:  # the arena is full: this part goes on the pipe
                buf = io.BytesIO()
                pickler = pickle.Pickler(buf, pickle.HIGHEST_PROTOCOL)
                pickler.fast = True
                pickler.dump(msg)
                write(_HEAD.pack(_INLINE, buf.tell()) + buf.getvalue())
                return
            end = arena.tell()
            write(_HEAD.pack(pos, end - pos))
            pos = end

        def write(data: bytes) -> None:
            view = memoryview(data)
            while view:
                view = view[os.write(w, view):]

        try:
            ws = b.workstation_id
            pt = open_payload(b, keys.enc_private, site_id)
            events: list[tuple] = []
            for columns in iter_event_columns(pt, EVENT_CHUNK):
                send(("events", columns))
                events += zip(*columns)
            checkpoints = parse_checkpoints(pt)
            send(("checkpoints", [(ws,) + cp for cp in checkpoints]))
            recs = parse_records(pt)
            send(("total", len(recs)))
            for columns in record_columns(recs, keys):
                send(("records", *columns))
            verify_records(recs, b.manifest, b.name)  # the merge waits for the verdict before it commits
            check_chain(b, Payload(events, checkpoints, recs, events_plain(pt)), public)
            send(("ok",))
        except BundleError as exc:
            send(("error", exc.message, exc.hint))
        except BaseException as exc:  # noqa: BLE001 - a failed import, reported by type only (no content)
            send(("crash", type(exc).__name__))
            code = 1
    except BaseException:  # noqa: BLE001 - the importer went away: nobody to tell
        code = 1
    finally:
        os._exit(code)


__all__ = ["CHUNK", "EVENT_CHUNK", "MIN_FORK_BYTES", "ForkedParts", "InlineParts", "can_fork", "record_columns"]
