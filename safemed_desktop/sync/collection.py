"""The site's collection: enrolled workstations, merged records, audit events and checkpoints.

One code path over two backends (``backends``). Records are keyed by (type, id); their clear columns
stay queryable JSON (ids, times, scores, signal levels, model and pack versions) and their sensitive
columns are sealed with AES-256-GCM under the site's data key (``store.crypto.FieldCipher``, bound to
type / id / "sealed"). Each bundle merges in one transaction:

1. chain continuity with what the collection holds for that workstation (event ``from_seq`` present
   and equal to the bundle's ``from_hash``);
2. audit events, checkpoints and records are bulk-inserted with ``ON CONFLICT DO NOTHING``
   (``backends``): identical duplicates are skipped;
3. when rows were skipped, each must be held with the very same content (record hash, event hash,
   checkpoint head), else the bundle is rejected;
4. Anki's sanity check: per type, the records the collection gained plus the identical ones it held
   must equal the manifest's count, else everything rolls back;
5. the import is logged (bundle id and sha256: a replayed bundle is recognised and only re-acknowledged).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import BundleError, SchemaTooNewError, StoreError
from .backends import Backend, open_backend
from .bundle import SignedBundle, chain_range, check_chain, open_payload, parse_payload
from .formats import b64, unb64
from .keys import SiteKeys, WorkstationCard
from .prepare import MIN_FORK_BYTES, ForkedParts, InlineParts, can_fork

Progress = Callable[[str, int, int], None]

# (name, statements); {real} {blob} {bigint} are the backend's types. Append only.
MIGRATIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("c001_collection", (
        "CREATE TABLE site (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "CREATE TABLE workstations (id TEXT PRIMARY KEY, site_id TEXT NOT NULL, sign_public TEXT NOT NULL, "
        "fingerprint TEXT NOT NULL, card TEXT NOT NULL, enrolled_at {real} NOT NULL)",
        "CREATE TABLE records (rtype TEXT NOT NULL, id TEXT NOT NULL, workstation_id TEXT NOT NULL, "
        "content_hash TEXT NOT NULL, clear TEXT NOT NULL, sealed {blob}, PRIMARY KEY (rtype, id))",
        "CREATE INDEX idx_records_ws ON records (workstation_id, rtype)",
        "CREATE TABLE audit_events (workstation_id TEXT NOT NULL, seq {bigint} NOT NULL, ts {real} NOT NULL, "
        "actor TEXT NOT NULL, action TEXT NOT NULL, table_name TEXT NOT NULL, row_id TEXT NOT NULL, "
        "record_digest TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (workstation_id, seq))",
        "CREATE TABLE checkpoints (workstation_id TEXT NOT NULL, seq {bigint} NOT NULL, ts {real} NOT NULL, "
        "head_hash TEXT NOT NULL, signature {blob} NOT NULL, version {bigint} NOT NULL, prev_seq {bigint}, "
        "PRIMARY KEY (workstation_id, seq))",
        "CREATE TABLE imports (bundle_id TEXT PRIMARY KEY, workstation_id TEXT NOT NULL, bundle_sha256 TEXT NOT NULL, "
        "from_seq {bigint} NOT NULL, to_seq {bigint} NOT NULL, to_hash TEXT NOT NULL, counts TEXT NOT NULL, "
        "new_records {bigint} NOT NULL, imported_at {real} NOT NULL)",
        "CREATE TABLE packs (version {bigint} PRIMARY KEY, created_at {real} NOT NULL, sha256 TEXT NOT NULL)",
    )),
)
KNOWN = tuple(n for n, _ in MIGRATIONS)

_REC_COLS = ("rtype", "id", "workstation_id", "content_hash", "clear", "sealed")
_EV_COLS = ("workstation_id", "seq", "ts", "actor", "action", "table_name", "row_id", "record_digest",
            "prev_hash", "hash")
_CP_COLS = ("workstation_id", "seq", "ts", "head_hash", "signature", "version", "prev_seq")


@dataclass
class ImportResult:
    bundle_id: str
    workstation_id: str
    counts: dict[str, int]
    new_records: int
    replay: bool
    to_seq: int
    to_hash: str
    # the workstation's signed checkpoint at ``to_seq`` (seq, hash, ts, version, prev_seq, signature)
    head: dict[str, Any]
    events: int = 0
    skipped: int = 0
    notes: list[str] = field(default_factory=list)


class Collection:
    """An open collection (SQLite file or PostgreSQL database) for one site."""

    def __init__(self, backend: Backend, site_id: str):
        self.db = backend
        self.site_id = site_id
        self.migrate()

    @classmethod
    def open(cls, site_dir: str | Path, site_id: str, db_url: str | None = None) -> "Collection":
        backend = open_backend(site_dir, db_url)
        try:
            return cls(backend, site_id)
        except BaseException:
            backend.close()
            raise

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "Collection":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ schema
    def migrate(self) -> list[str]:
        db = self.db
        with db.transaction():
            db.execute(db.ddl("CREATE TABLE IF NOT EXISTS collection_migrations (name TEXT PRIMARY KEY, "
                              "applied_at {real} NOT NULL)"))
        applied = [r[0] for r in db.query("SELECT name FROM collection_migrations")]
        unknown = [n for n in applied if n not in KNOWN]
        if unknown:
            raise SchemaTooNewError(f"the collection uses schema migrations this SafeMed does not know "
                                    f"({', '.join(unknown)})", hint="update SafeMed Desktop; nothing was changed")
        done = []
        for name, statements in MIGRATIONS:
            if name in applied:
                continue
            with db.transaction():
                if db.query("SELECT 1 FROM collection_migrations WHERE name = ?", (name,)):
                    continue  # applied meanwhile by another process
                for sql in statements:
                    db.execute(db.ddl(sql))
                db.execute("INSERT INTO collection_migrations (name, applied_at) VALUES (?, ?)", (name, time.time()))
            done.append(name)
        with db.transaction():
            row = db.query("SELECT value FROM site WHERE key = 'site_id'")
            if not row:
                db.execute("INSERT INTO site (key, value) VALUES ('site_id', ?) ON CONFLICT DO NOTHING",
                           (self.site_id,))
                row = db.query("SELECT value FROM site WHERE key = 'site_id'")
        if row[0][0] != self.site_id:
            raise StoreError(f"this collection belongs to site {row[0][0]}, not {self.site_id}")
        return done

    # ------------------------------------------------------------------ workstations
    def accept(self, card: WorkstationCard, card_doc: dict[str, Any]) -> bool:
        """Enroll a workstation; True when new, False when that exact card was already enrolled."""
        db = self.db
        with db.transaction():
            row = db.query("SELECT sign_public FROM workstations WHERE id = ?", (card.workstation_id,))
            if row:
                if row[0][0] != b64(card.sign_public):
                    raise BundleError(f"workstation {card.workstation_id} is already enrolled with another key")
                return False
            db.execute("INSERT INTO workstations (id, site_id, sign_public, fingerprint, card, enrolled_at) "
                       "VALUES (?, ?, ?, ?, ?, ?)", (card.workstation_id, card.site_id, b64(card.sign_public),
                                                     card.fingerprint, json.dumps(card_doc), time.time()))
        return True

    def workstation_key(self, workstation_id: str) -> bytes | None:
        row = self.db.query("SELECT sign_public FROM workstations WHERE id = ?", (workstation_id,))
        return unb64(row[0][0], "an enrolled key") if row else None

    # ------------------------------------------------------------------ import
    def import_bundle(self, b: SignedBundle, keys: SiteKeys, progress: Progress | None = None,
                      parallel: bool | None = None) -> ImportResult:
        """Verify and merge one bundle in one transaction; BundleError (nothing changed) when refused.

        ``parallel``: parse, verify and seal in a helper process while merging (``prepare.ForkedParts``); by
        default on Linux with two or more cores, for payloads of ``prepare.MIN_FORK_BYTES`` or more.
        """
        report = progress or (lambda stage, done, total: None)
        m = b.manifest
        public = self.workstation_key(b.workstation_id)
        if public is None:
            raise BundleError(f"{b.name}: workstation {b.workstation_id} is not enrolled at this site",
                              hint="enroll its card with `safemed collect accept`")
        b.verify_signature(public)
        if m["site_id"] != self.site_id or m.get("site_fingerprint") != keys.card.fingerprint:
            raise BundleError(f"{b.name}: the bundle is encrypted for site {m['site_id']}, not this site "
                              f"({self.site_id})")
        ch = m.get("chain") or {}
        prior = self.db.query("SELECT bundle_sha256, counts, new_records FROM imports WHERE bundle_id = ?",
                              (b.bundle_id,))
        if prior:
            if prior[0][0] != b.sha256:
                raise BundleError(f"{b.name}: bundle id {b.bundle_id} was imported before with other content")
            report("replay", 1, 1)
            return self._result(b, json.loads(prior[0][1]), 0, True, ch)
        report("decrypt", 0, 1)
        counts = m.get("counts")
        no_counts = None if isinstance(counts, dict) and all(isinstance(v, int) for v in counts.values()) else \
            BundleError(f"{b.name}: the manifest has no per-type counts")
        helper = None
        if parallel is None:
            parallel = can_fork() and len(b.ciphertext) >= MIN_FORK_BYTES
        if parallel:
            try:  # a helper process decrypts, parses, verifies and seals while this one writes (``prepare``)
                helper = ForkedParts(b, keys, self.site_id, public)
            except OSError:  # no process to be had (a limit): all of it here, in sequence
                helper = None
        if helper is None:
            pl = parse_payload(open_payload(b, keys.enc_private, self.site_id), m)
            check_chain(b, pl, public)
            report("decrypt", 1, 1)
            if no_counts:
                raise no_counts
            with self.db.transaction():
                new, n_events, total = self._merge(b, InlineParts(pl, keys, b.workstation_id), counts, report)
        else:
            try:
                report("decrypt", 1, 1)
                try:
                    if no_counts:
                        raise no_counts
                    chain_range(b)
                    with self.db.transaction():
                        new, n_events, total = self._merge(b, helper, counts, report)
                except BundleError:
                    verdict = helper.verdict()  # the payload's own checks outrank what the merge met first
                    if verdict is not None:
                        raise verdict from None
                    raise
            finally:
                helper.close()
        return self._result(b, counts, new, False, ch, events=n_events, skipped=total - new)

    def _result(self, b: SignedBundle, counts: dict[str, int], new: int, replay: bool, ch: dict[str, Any],
                **kw: Any) -> ImportResult:
        to_seq = ch.get("to_seq", 0)
        cp = self.db.query("SELECT head_hash, ts, version, prev_seq, signature FROM checkpoints "
                           "WHERE workstation_id = ? AND seq = ?", (b.workstation_id, to_seq))
        head = {"seq": to_seq, "hash": cp[0][0], "ts": cp[0][1], "version": int(cp[0][2]),
                "prev_seq": None if cp[0][3] is None else int(cp[0][3]), "signature": b64(bytes(cp[0][4]))} \
            if cp else {"seq": to_seq, "hash": ch.get("to_hash", "")}
        return ImportResult(b.bundle_id, b.workstation_id, dict(counts), new, replay, to_seq, ch.get("to_hash", ""),
                            head, **kw)

    def _merge(self, b: SignedBundle, parts: InlineParts | ForkedParts, counts: dict[str, int],
               report: Progress) -> tuple[int, int, int]:
        """Write the parts in the open transaction; (records new, events, records in the bundle)."""
        db, ws, ch = self.db, b.workstation_id, b.manifest["chain"]
        from_seq, to_seq = ch["from_seq"], ch["to_seq"]
        if from_seq > 0:
            held = db.query("SELECT hash FROM audit_events WHERE workstation_id = ? AND seq = ?", (ws, from_seq))
            if not held:
                raise BundleError(f"{b.name}: it continues the audit chain after event #{from_seq}, which this "
                                  "collection does not hold", hint="import the workstation's earlier bundle first")
            if held[0][0] != ch["from_hash"]:
                raise BundleError(f"{b.name}: its audit chain forks from the one held for this workstation "
                                  f"at event #{from_seq}")
        before = dict(db.query("SELECT rtype, COUNT(*) FROM records WHERE workstation_id = ? GROUP BY rtype", (ws,)))
        new_total, duplicates, done, total, n_events = 0, {}, 0, 0, 0
        for part in parts:
            kind = part[0]
            if kind == "records":  # sorted by (type, id): new ones inserted, identical duplicates skipped,
                rtype, rows = part[1], part[2]  # differing duplicates refused
                inserted = db.upsert("records", _REC_COLS, rows)
                new_total += inserted
                duplicates[rtype] = duplicates.get(rtype, 0) + len(rows) - inserted
                if inserted < len(rows):
                    for start in range(0, len(rows), 500):
                        chunk = rows[start:start + 500]
                        held = dict(db.query(f"SELECT id, content_hash FROM records WHERE rtype = ? AND id IN "
                                             f"({', '.join('?' * len(chunk))})", (rtype, *(r[1] for r in chunk))))
                        clash = [f"{rtype}/{r[1]}" for r in chunk if held.get(r[1]) != r[3]]
                        if clash:
                            raise BundleError(f"{b.name}: rejected: record {', '.join(clash[:3])} is already held "
                                              "with different content (nothing was imported)")
                done += len(rows)
                report("merge", done if done < total else total - 1, total)
            elif kind == "events":
                n_events += len(part[1])
                self._insert_chain(b, "audit_events", _EV_COLS, "hash", part[1],
                                   "audit event #{} is already held with different content (the chain forks; "
                                   "nothing was imported)")
            elif kind == "checkpoints":
                self._insert_chain(b, "checkpoints", _CP_COLS, "head_hash", part[1],
                                   "checkpoint #{} is already held with different content")
            elif kind == "total":
                total = part[1]
                report("merge", 0, total)
        verdict = parts.verdict()
        if verdict is not None:
            raise verdict
        # Anki's sanity check, on what the database now holds: per type, the records this merge added plus the
        # identical ones already held must equal the manifest's count, else everything rolls back
        after = dict(db.query("SELECT rtype, COUNT(*) FROM records WHERE workstation_id = ? GROUP BY rtype", (ws,)))
        held_now = {t: int(after.get(t, 0)) - int(before.get(t, 0)) + duplicates.get(t, 0)
                    for t in set(after) | set(duplicates)}
        held_now = {t: n for t, n in held_now.items() if n}
        declared = {k: int(v) for k, v in counts.items() if v}
        events_held = db.query("SELECT COUNT(*) FROM audit_events WHERE workstation_id = ? AND seq > ? AND "
                               "seq <= ?", (ws, from_seq, to_seq))[0][0]
        if held_now != declared or events_held != ch["events"]:
            raise BundleError(f"{b.name}: rejected and rolled back: the records merged ({_fmt(held_now)}) differ from "
                              f"the manifest's counts ({_fmt(declared)})")
        db.execute("INSERT INTO imports (bundle_id, workstation_id, bundle_sha256, from_seq, to_seq, to_hash, counts, "
                   "new_records, imported_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (b.bundle_id, ws, b.sha256, from_seq, to_seq, ch["to_hash"], json.dumps(counts, sort_keys=True),
                    new_total, time.time()))
        report("merge", total, total)
        return new_total, n_events, total

    def _insert_chain(self, b: SignedBundle, table: str, cols: tuple[str, ...], hash_col: str, rows: list[tuple],
                      clash: str) -> None:
        """Insert audit events or checkpoints (rows: workstation, seq, ...); an overlap with those held must be
        the very same chain, else the bundle is rejected (``clash`` names the first differing one)."""
        if not rows or self.db.upsert(table, cols, rows) == len(rows):
            return
        at = cols.index(hash_col)
        held = dict(self.db.query(f"SELECT seq, {hash_col} FROM {table} WHERE workstation_id = ? AND seq >= ? AND "
                                  "seq <= ?", (b.workstation_id, min(r[1] for r in rows), max(r[1] for r in rows))))
        differ = [r[1] for r in rows if held.get(r[1]) != r[at]]
        if differ:
            raise BundleError(f"{b.name}: rejected: " + clash.format(differ[0]))

    # ------------------------------------------------------------------ reading
    def stats(self) -> dict[str, Any]:
        db = self.db
        by_type = dict(db.query("SELECT rtype, COUNT(*) FROM records GROUP BY rtype ORDER BY rtype"))
        per_ws = {}
        for wid, fp in db.query("SELECT id, fingerprint FROM workstations ORDER BY id"):
            n = db.query("SELECT COUNT(*) FROM records WHERE workstation_id = ?", (wid,))[0][0]
            ev = db.query("SELECT COUNT(*), MAX(seq) FROM audit_events WHERE workstation_id = ?", (wid,))[0]
            last = db.query("SELECT MAX(imported_at) FROM imports WHERE workstation_id = ?", (wid,))[0][0]
            per_ws[wid] = {"fingerprint": fp, "records": int(n), "audit_events": int(ev[0]),
                           "head_seq": int(ev[1] or 0), "last_import_at": last}
        return {"site_id": self.site_id, "backend": self.db.name,
                "schema": [r[0] for r in db.query("SELECT name FROM collection_migrations ORDER BY name")],
                "records": {k: int(v) for k, v in by_type.items()}, "total_records": int(sum(by_type.values())),
                "audit_events": int(db.query("SELECT COUNT(*) FROM audit_events")[0][0]),
                "checkpoints": int(db.query("SELECT COUNT(*) FROM checkpoints")[0][0]),
                "bundles_imported": int(db.query("SELECT COUNT(*) FROM imports")[0][0]),
                "workstations": per_ws}

    def content_digest(self) -> str:
        """sha256 over every record (type, id, content hash, clear) and every audit event: equal content, equal
        digest."""
        import hashlib

        h = hashlib.sha256()
        for row in self.db.query("SELECT rtype, id, content_hash, clear FROM records ORDER BY rtype, id"):
            h.update(("|".join(row) + "\n").encode())
        for row in self.db.query("SELECT workstation_id, seq, hash FROM audit_events ORDER BY workstation_id, seq"):
            h.update(f"{row[0]}|{row[1]}|{row[2]}\n".encode())
        return h.hexdigest()

    def clear_rows(self, rtype: str) -> list[tuple[str, str, str]]:
        """(id, workstation, clear JSON) of every record of one type (no decryption)."""
        return [tuple(r) for r in self.db.query("SELECT id, workstation_id, clear FROM records WHERE rtype = ? "
                                                "ORDER BY id", (rtype,))]

    def unseal(self, keys: SiteKeys, rtype: str, rid: str) -> dict[str, Any] | None:
        """The decrypted sensitive columns of one record (site passphrase needed)."""
        row = self.db.query("SELECT sealed FROM records WHERE rtype = ? AND id = ?", (rtype, rid))
        if not row or row[0][0] is None:
            return None
        return json.loads(keys.cipher.decrypt(rtype, rid, "sealed", bytes(row[0][0])))

    def next_pack_version(self) -> int:
        return int(self.db.query("SELECT COALESCE(MAX(version), 0) FROM packs")[0][0]) + 1

    def log_pack(self, version: int, created_at: float, sha256: str) -> None:
        with self.db.transaction():
            self.db.execute("INSERT INTO packs (version, created_at, sha256) VALUES (?, ?, ?)",
                            (version, created_at, sha256))


def _fmt(counts: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "none"
