"""The bundle file: a signed manifest and a payload encrypted to the site.

Layout (all lengths big-endian)::

    MAGIC (8) | manifest length (4) | manifest (canonical JSON) | payload length (8) | payload | signature (64)

* **manifest** (clear, no clinical content): format and version, bundle id, workstation id, site id and
  fingerprint, creation time, the watermark range (``chain``: from/to audit sequence and hashes, event
  and checkpoint counts), per-type record counts and hashes, and the payload's encryption parameters.
* **payload** (UTF-8): a JSON header line (checkpoints, section lengths), then the audit events and the
  records as lines of unit-separated fields (``\x1f`` between fields, ``\x1e`` between lines; canonical JSON
  never holds either raw); zlib-compressed when the manifest's ``payload.compression`` says ``zlib``
  (``none`` by default: import speed over size); encrypted with AES-256-GCM under a
  key derived by HKDF-SHA256 from an X25519 exchange between a fresh ephemeral key and the site's
  key; the associated data binds it to the bundle id, workstation and site.
* **signature**: the workstation's Ed25519 key (its store's checkpoint key) over
  ``sign_message("bundle", everything before the signature)``.

A record line is ``type US id US clear US sensitive``: ``clear`` the canonical JSON of its clear columns,
``sensitive`` the canonical JSON of its decrypted sensitive columns (empty when it has none). Its content
hash is the sha256 of that line; the manifest's per-type hash is sha256 over the sorted
``id content_hash`` lines of that type. Records travel sorted by (type, id), the order the collection's primary
key is built in (an importer sorts a bundle that is not).
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import json
import operator
import os
import re
import struct
import time
import uuid
import zlib
from dataclasses import dataclass, field
from itertools import chain, repeat
from pathlib import Path
from typing import Any, Callable, Iterator

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .. import __version__, jsonio
from ..errors import BundleError, InputError
from ..store.audit import checkpoint_message, event_hash, genesis_hash
from .formats import MAX_BUNDLE_BYTES, SIGN_DOMAIN, b64, canonical, check_id, expect, sign_message, unb64

MAGIC = b"SMBUNDL\x01"
FORMAT = "safemed-bundle"
VERSION = 1
SIG_BYTES = 64
#: How a payload is compressed before encryption: "none" (default; faster import) or "zlib" (smaller bundle).
COMPRESSION = "none"
#: The largest decompressed payload accepted (bytes): a guard against decompression bombs.
MAX_PAYLOAD_BYTES = 4 * 1024 * 1024 * 1024
_HEAD = struct.Struct(">I")
_LEN = struct.Struct(">Q")


def _b(value: Any) -> Any:
    """A column value as JSON: bytes as ``{"$b": base64}``."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$b": b64(bytes(value))}
    return value


def encode_columns(cols: dict[str, Any]) -> str:
    return json.dumps({k: _b(v) for k, v in cols.items()}, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False)


US, RS = "\x1f", "\x1e"  # unit and record separators: canonical JSON never holds them raw (it escapes them)


def record_line(rtype: str, rid: str, clear: str, sensitive: str | None) -> str:
    """A record in the payload: type, id, clear JSON, sensitive JSON (empty when None), unit-separated."""
    return f"{rtype}{US}{rid}{US}{clear}{US}{sensitive or ''}"


def content_hash(rtype: str, rid: str, clear: str, sensitive: str | None) -> str:
    """sha256 of the record's line (``record_line``)."""
    return hashlib.sha256(record_line(rtype, rid, clear, sensitive).encode()).hexdigest()


def _event_line(e: tuple) -> str:
    for v in e[2:]:
        if US in v or RS in v or "\n" in v:
            raise BundleError("an audit event holds a control character; it cannot travel in a bundle")
    ts = str(e[1]) if type(e[1]) is int else repr(float(e[1]))  # as the store hashed it: int or float
    return US.join((str(e[0]), ts, *e[2:]))


_KEY, _TYPE = operator.itemgetter(0, 1), operator.itemgetter(0)  # a record's (type, id), its type
_EVENT_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
#: The manifest's hashed lines (``id content_hash``) checked in one call: a valid id, a sha256 (joined by newlines).
_ID_HASH_LINES = re.compile(r"[A-Za-z0-9_.:\-]{1,200} [0-9a-f]{64}(?:\n[A-Za-z0-9_.:\-]{1,200} [0-9a-f]{64})*")


_PLAIN = re.compile(r"[A-Za-z0-9_.:\- ]*")  # strings JSON writes as they are, between quotes
#: The characters of event lines whose every field is plain: those of ``_PLAIN`` plus the separators and ``+``
#: (numbers: ``1.5e+21``); a quote, backslash or any other character sends the bundle to ``_event_hash``.
_EVENTS_PLAIN_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:- +\x1e\x1f"


def _event_hash_matches(h: str, prev_hash: str, seq: int, ts: Any, actor: str, action: str, table: str,
                        row_id: str, digest: str) -> bool:
    """``h`` is the event's hash by ``_event_hash`` or, where that disagrees or cannot compute one (a link that is
    not hex), by the store's own function, which decides."""
    try:
        if _event_hash(prev_hash, seq, ts, actor, action, table, row_id, digest) == h:
            return True
    except (ValueError, TypeError):
        pass
    return event_hash(prev_hash, seq, ts, actor, action, table, row_id, digest) == h


def _event_hash(prev_hash: str, seq: int, ts: float, actor: str, action: str, table: str, row_id: str,
                digest: str) -> str:
    """``store.audit.event_hash`` without its per-call JSON encoder: the same bytes (plain strings and finite
    floats written as ``json`` writes them; anything else through one reused encoder). The store's own
    function decides whenever the two disagree, so a change of its format costs speed, never correctness."""
    if (type(ts) is float and ts - ts == 0 and _PLAIN.fullmatch(actor) and _PLAIN.fullmatch(action)
            and _PLAIN.fullmatch(table) and _PLAIN.fullmatch(row_id) and _PLAIN.fullmatch(digest)):
        body = f'[{seq},{ts!r},"{actor}","{action}","{table}","{row_id}","{digest}"]'
    else:
        body = _EVENT_JSON([seq, ts, actor, action, table, row_id, digest])
    return hashlib.sha256(bytes.fromhex(prev_hash) + body.encode("utf-8")).hexdigest()


def type_hashes(records: list[tuple[str, str, str]]) -> tuple[dict[str, int], dict[str, str]]:
    """Per-type counts and hashes of ``(type, id, content_hash)`` triples."""
    by_type: dict[str, list[str]] = {}
    for rtype, rid, chash in records:
        by_type.setdefault(rtype, []).append(f"{rid} {chash}")
    counts = {t: len(v) for t, v in sorted(by_type.items())}
    digests = {t: hashlib.sha256("\n".join(sorted(v)).encode()).hexdigest() for t, v in sorted(by_type.items())}
    return counts, digests


def _payload_key(shared: bytes, eph_pub: bytes, site_pub: bytes, bundle_id: str) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=eph_pub + site_pub,
                info=b"safemed-bundle-v1|" + bundle_id.encode()).derive(shared)


def _aad(bundle_id: str, workstation_id: str, site_id: str) -> bytes:
    return f"safemed-bundle-v1|{bundle_id}|{workstation_id}|{site_id}".encode()


# ---------------------------------------------------------------------- writing (workstation)
def build_bundle(batch: Any, site_enc_public: bytes, site_id: str, site_fingerprint: str,
                 sign: Callable[[bytes], bytes], *, bundle_id: str | None = None,
                 compression: str | None = None) -> tuple[bytes, dict[str, Any]]:
    """The bundle bytes and its manifest for an ``ExportBatch`` (``store.export``)."""
    bundle_id = bundle_id or str(uuid.uuid4())
    keyed = []
    for rtype, rid, clear_cols, sens_cols in batch.records:
        check_id(rtype, "a record type")
        check_id(rid, f"the id of a {rtype} record")
        keyed.append((rtype, rid, record_line(rtype, rid, encode_columns(clear_cols),
                                              encode_columns(sens_cols) if sens_cols else None)))
    keyed.sort(key=_KEY)  # sorted by (type, id): the order the collection builds its primary key in
    lines = [line for _, _, line in keyed]
    triples = [(rtype, rid, hashlib.sha256(line.encode()).hexdigest()) for rtype, rid, line in keyed]
    counts, digests = type_hashes(triples)
    events = RS.join(_event_line(e) for e in batch.events)
    records = RS.join(lines)
    header = {"checkpoints": [[s, ts, h, b64(sig), v, prev] for s, ts, h, sig, v, prev in batch.checkpoints],
              "events_chars": len(events), "records_chars": len(records)}
    plain = (json.dumps(header, separators=(",", ":")) + "\n" + events + records).encode("utf-8")
    compression = compression or COMPRESSION
    if compression == "zlib":
        plain = zlib.compress(plain, 3)
    elif compression != "none":
        raise BundleError(f"unknown payload compression {compression!r}")
    eph = X25519PrivateKey.generate()
    eph_pub = eph.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key = _payload_key(eph.exchange(X25519PublicKey.from_public_bytes(site_enc_public)), eph_pub,
                       site_enc_public, bundle_id)
    nonce = os.urandom(12)
    ciphertext = AESGCM(key).encrypt(nonce, plain, _aad(bundle_id, batch.workstation_id, site_id))
    manifest = {
        "format": FORMAT, "version": VERSION, "bundle_id": bundle_id, "workstation_id": batch.workstation_id,
        "site_id": site_id, "site_fingerprint": site_fingerprint, "created_at": time.time(),
        "app_version": __version__,
        "chain": {"from_seq": batch.from_seq, "from_hash": batch.from_hash, "to_seq": batch.to_seq,
                  "to_hash": batch.to_hash, "events": len(batch.events), "checkpoints": len(batch.checkpoints)},
        "counts": counts, "hashes": digests,
        "payload": {"cipher": "X25519-HKDF-SHA256-AES-256-GCM", "ephemeral_public": b64(eph_pub),
                    "nonce": b64(nonce), "bytes": len(ciphertext), "compression": compression},
    }
    mbytes = canonical(manifest)
    body = MAGIC + _HEAD.pack(len(mbytes)) + mbytes + _LEN.pack(len(ciphertext)) + ciphertext
    signature = sign(sign_message("bundle", body))
    if len(signature) != SIG_BYTES:
        raise BundleError("the workstation signature has an unexpected length")
    return body + signature, manifest


# ---------------------------------------------------------------------- reading (site)
@dataclass
class SignedBundle:
    """A bundle whose layout parsed; nothing is trusted until ``verify_signature``."""

    raw: bytes
    manifest: dict[str, Any]
    ciphertext: memoryview  # views into ``raw`` (a bundle may be large: no copies)
    body: memoryview
    signature: bytes
    name: str

    @property
    def bundle_id(self) -> str:
        return self.manifest["bundle_id"]

    @property
    def workstation_id(self) -> str:
        return self.manifest["workstation_id"]

    @functools.cached_property
    def body_digest(self) -> bytes:
        """sha256 of everything the signature covers (computed once: a bundle may be large)."""
        return hashlib.sha256(self.body).digest()

    @property
    def sha256(self) -> str:
        """The bundle's identity: sha256 of its signed part (a replay is recognised by it)."""
        return self.body_digest.hex()

    def verify_signature(self, public: bytes) -> None:
        try:
            Ed25519PublicKey.from_public_bytes(public).verify(self.signature,
                                                              SIGN_DOMAIN + b"bundle|" + self.body_digest)
        except (InvalidSignature, ValueError):
            raise BundleError(f"{self.name}: the workstation signature is invalid (the bundle was altered or "
                              "signed by another key)") from None


def parse_bundle(raw: bytes, name: str = "bundle") -> SignedBundle:
    """Split a bundle into manifest, payload and signature; BundleError on any malformed layout."""
    if len(raw) < len(MAGIC) + _HEAD.size + _LEN.size + SIG_BYTES or not raw.startswith(MAGIC):
        if len(raw) >= len(MAGIC) and raw[:len(MAGIC) - 1] == MAGIC[:-1] and raw[len(MAGIC) - 1] > MAGIC[-1]:
            raise BundleError(f"{name} has an unknown bundle format version", hint="update SafeMed Desktop")
        raise BundleError(f"{name} is not a SafeMed bundle (or it is truncated)")
    pos = len(MAGIC)
    (mlen,) = _HEAD.unpack_from(raw, pos)
    pos += _HEAD.size
    if pos + mlen + _LEN.size > len(raw):
        raise BundleError(f"{name} is truncated (its manifest is incomplete)")
    mbytes = raw[pos:pos + mlen]
    pos += mlen
    (clen,) = _LEN.unpack_from(raw, pos)
    pos += _LEN.size
    if pos + clen + SIG_BYTES != len(raw):
        raise BundleError(f"{name} is truncated or has trailing bytes (its length does not match its header)")
    view = memoryview(raw)
    ciphertext = view[pos:pos + clen]
    body, signature = view[:pos + clen], bytes(view[pos + clen:])
    try:
        manifest = jsonio.loads(mbytes.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise BundleError(f"{name}: the manifest is not valid JSON") from None
    if not isinstance(manifest, dict):
        raise BundleError(f"{name}: the manifest is not a JSON object")
    expect(manifest, FORMAT, VERSION, name)
    check_id(manifest.get("bundle_id"), f"the bundle id of {name}")
    check_id(manifest.get("workstation_id"), f"the workstation id of {name}")
    check_id(manifest.get("site_id"), f"the site id of {name}")
    return SignedBundle(raw, manifest, ciphertext, body, signature, name)


def read_bundle_file(path: str | Path) -> SignedBundle:
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > MAX_BUNDLE_BYTES:
                raise BundleError(f"bundle {p} is {size:,} bytes, more than the {MAX_BUNDLE_BYTES:,} accepted")
            raw = fh.read()
    except FileNotFoundError:
        raise InputError(f"bundle not found: {p}") from None
    except IsADirectoryError:
        raise InputError(f"bundle {p} is a directory, not a file") from None
    except OSError as exc:
        raise InputError(f"cannot read bundle {p}: {exc.strerror}") from exc
    return parse_bundle(raw, f"bundle {p.name}")


@dataclass
class Payload:
    events: list[tuple] = field(default_factory=list)
    # (seq, ts, head_hash, signature bytes, version, prev_seq or None)
    checkpoints: list[tuple] = field(default_factory=list)
    records: list[tuple[str, str, str, str | None, str]] = field(default_factory=list)  # + content hash
    events_plain: bool = False  # every string of every event is plain (``check_chain``'s fast path applies)


def _int(v: Any) -> bool:
    return type(v) is int and v >= 0


def _num(v: Any) -> bool:
    return type(v) in (int, float)


@dataclass
class PayloadText:
    """A decrypted payload's header and its two sections, not yet parsed. The records section is decoded when
    first read (``records``): a helper streams the events meanwhile."""

    name: str
    header: dict[str, Any]
    events: str
    raw_records: str | memoryview  # text, or the section's UTF-8 bytes (a view into the decrypted payload)

    @functools.cached_property
    def records(self) -> str:
        raw = self.raw_records
        if isinstance(raw, str):
            return raw
        try:
            text = str(raw, "utf-8")
        except UnicodeDecodeError:
            raise BundleError(f"{self.name}: the payload is not readable (not UTF-8, or a damaged header)") from None
        if len(text) != self.header.get("records_chars"):
            raise BundleError(f"{self.name}: the payload's sections do not match its header")
        return text


def open_payload(b: SignedBundle, site_enc_private: X25519PrivateKey, site_id: str) -> PayloadText:
    """Decrypt and decompress the payload; split it into header, events and records (nothing parsed yet)."""
    m = b.manifest
    name = b.name
    p = m.get("payload")
    if not isinstance(p, dict):
        raise BundleError(f"{name}: the manifest has no payload section")
    eph_pub = unb64(p.get("ephemeral_public"), f"the ephemeral key of {name}")
    nonce = unb64(p.get("nonce"), f"the nonce of {name}")
    if len(eph_pub) != 32 or len(nonce) != 12:
        raise BundleError(f"{name}: malformed payload parameters")
    site_pub = site_enc_private.public_key().public_bytes(serialization.Encoding.Raw,
                                                           serialization.PublicFormat.Raw)
    try:
        key = _payload_key(site_enc_private.exchange(X25519PublicKey.from_public_bytes(eph_pub)), eph_pub,
                           site_pub, m["bundle_id"])
        plain_z = AESGCM(key).decrypt(nonce, b.ciphertext, _aad(m["bundle_id"], m["workstation_id"], site_id))
    except (InvalidTag, ValueError):
        raise BundleError(f"{name}: the payload does not decrypt with this site's key (encrypted for another "
                          "site, or altered)") from None
    try:
        if p.get("compression") == "zlib":
            d = zlib.decompressobj()
            plain = d.decompress(plain_z, MAX_PAYLOAD_BYTES)
            if d.unconsumed_tail or not d.eof:
                raise BundleError(f"{name}: the payload is larger than {MAX_PAYLOAD_BYTES:,} bytes or incomplete")
        elif p.get("compression", "none") == "none":
            plain = plain_z
        else:
            raise BundleError(f"{name}: unknown payload compression {p.get('compression')!r}")
        nl = plain.find(b"\n")
        doc = jsonio.loads(plain[:nl].decode("utf-8")) if nl >= 0 else None
    except (zlib.error, UnicodeDecodeError, ValueError):
        raise BundleError(f"{name}: the payload is not readable (not UTF-8, or a damaged header)") from None
    if not isinstance(doc, dict):
        raise BundleError(f"{name}: the payload has no header")
    cps, n_ev, n_rec = doc.get("checkpoints"), doc.get("events_chars"), doc.get("records_chars")
    if not isinstance(cps, list) or not _int(n_ev) or not _int(n_rec):
        raise BundleError(f"{name}: the payload's sections do not match its header")
    try:
        body = memoryview(plain)[nl + 1:]
        head = bytes(body[:n_ev])
        if len(head) == n_ev and head.isascii():  # ASCII events (as ever): n_ev characters are n_ev bytes
            return PayloadText(name, doc, head.decode("ascii"), body[n_ev:])  # records decoded when read
        text = str(body, "utf-8")
    except UnicodeDecodeError:
        raise BundleError(f"{name}: the payload is not readable (not UTF-8, or a damaged header)") from None
    if len(text) != n_ev + n_rec:
        raise BundleError(f"{name}: the payload's sections do not match its header")
    return PayloadText(name, doc, text[:n_ev], text[n_ev:])


def iter_event_columns(pt: PayloadText, chunk: int = 20000) -> Iterator[tuple[list, ...]]:
    """The audit events, ``chunk`` at a time, as nine columns: seq, ts, actor, action, table, row id, digest, prev
    hash, hash (every line split at once, once each holds its nine fields)."""
    lines = pt.events.split(RS) if pt.events else []
    for start in range(0, len(lines), chunk):
        part = lines[start:start + chunk]
        try:
            if list(map(str.count, part, repeat(US))).count(8) != len(part):
                raise ValueError
            flat = US.join(part).split(US)
            seqs = flat[0::9]
            if not all(map(str.isdigit, seqs)):
                raise ValueError
            yield (list(map(int, seqs)), [int(t) if t.isdigit() else float(t) for t in flat[1::9]],
                   *(flat[k::9] for k in range(2, 9)))
        except ValueError:
            raise BundleError(f"{pt.name}: malformed audit event in the payload") from None


def parse_events(pt: PayloadText) -> list[tuple]:
    """Every audit event: (seq, ts, actor, action, table, row id, digest, prev hash, hash)."""
    return list(chain.from_iterable(zip(*cols) for cols in iter_event_columns(pt)))


def events_plain(pt: PayloadText) -> bool:
    """Every string of every event is plain (``check_chain``'s fast path applies): one pass over the section,
    deleting the plain characters (an ASCII string's bytes; anything else is not plain)."""
    return pt.events.isascii() and not pt.events.encode("ascii").translate(None, _EVENTS_PLAIN_BYTES)


def parse_checkpoints(pt: PayloadText) -> list[tuple]:
    """The signed checkpoints: (seq, ts, head hash, signature, version, prev seq or None)."""
    out = []
    for c in pt.header["checkpoints"]:
        if (not isinstance(c, list) or len(c) != 6 or not _int(c[0]) or not _num(c[1]) or not isinstance(c[2], str)
                or not _int(c[4]) or not (c[5] is None or _int(c[5]))):
            raise BundleError(f"{pt.name}: malformed checkpoint in the payload")
        out.append((c[0], c[1], c[2], unb64(c[3], f"a checkpoint signature in {pt.name}"), c[4], c[5]))
    return out


def parse_records(pt: PayloadText) -> list[tuple[str, str, str, str | None, str]]:
    """(type, id, clear, sensitive or None, content hash) of every record, sorted by (type, id)."""
    recs: list[tuple[str, str, str, str | None, str]] = []
    append, sha256 = recs.append, hashlib.sha256
    for line in (pt.records.split(RS) if pt.records else ()):
        r = line.split(US)
        if len(r) != 4 or not r[2]:
            raise BundleError(f"{pt.name}: malformed record in the payload")
        append((r[0], r[1], r[2], r[3] or None, sha256(line.encode()).hexdigest()))  # content_hash(), inlined
    recs.sort(key=_KEY)  # linear when the bundle came sorted, as ``build_bundle`` writes it
    return recs


def type_slices(recs: list[tuple]) -> list[tuple[str, int, int]]:
    """(type, start, end) of each type's run in records sorted by (type, id)."""
    out, start = [], 0
    while start < len(recs):
        end = bisect.bisect_right(recs, recs[start][0], start, key=_TYPE)
        out.append((recs[start][0], start, end))
        start = end
    return out


def verify_records(recs: list[tuple], manifest: dict[str, Any], name: str) -> None:
    """Types and ids valid, no record named twice, per-type hashes equal to the manifest's."""
    digests = {}
    for rtype, start, end in type_slices(recs):
        check_id(rtype, f"a record type in {name}")
        lines = "\n".join([f"{r[1]} {r[4]}" for r in recs[start:end]])  # sorted by id: sorted as these lines
        if not _ID_HASH_LINES.fullmatch(lines):
            raise BundleError(f"{name}: a record id in the payload is not a valid identifier")
        digests[rtype] = hashlib.sha256(lines.encode()).hexdigest()
    if any(map(operator.eq, map(_KEY, recs), map(_KEY, recs[1:]))):  # sorted: a record named twice is adjacent
        raise BundleError(f"{name}: the payload names a record twice")
    if not isinstance(manifest.get("hashes"), dict) or digests != manifest["hashes"]:
        raise BundleError(f"{name}: the payload's record hashes differ from the manifest")


def decrypt_payload(b: SignedBundle, site_enc_private: X25519PrivateKey, site_id: str) -> Payload:
    """Decrypt, decompress, parse and check the payload against the manifest (hashes, chain shape).

    The per-type counts are checked after the merge, inside its transaction (Anki's sanity check).
    """
    return parse_payload(open_payload(b, site_enc_private, site_id), b.manifest)


def parse_payload(pt: PayloadText, manifest: dict[str, Any]) -> Payload:
    """Parse an opened payload and check its records against the manifest (``decrypt_payload`` after decryption)."""
    plain = events_plain(pt)
    out = Payload(events=parse_events(pt), checkpoints=parse_checkpoints(pt), events_plain=plain)
    out.records = parse_records(pt)
    verify_records(out.records, manifest, pt.name)
    return out


def chain_range(b: SignedBundle) -> dict[str, Any]:
    """The manifest's watermark range, its shape checked (``chain``: sequences, hashes, event and checkpoint
    counts)."""
    ch = b.manifest.get("chain")
    if (not isinstance(ch, dict) or not _int(ch.get("from_seq")) or not _int(ch.get("to_seq"))
            or not isinstance(ch.get("from_hash"), str) or not isinstance(ch.get("to_hash"), str)
            or not _int(ch.get("events")) or not _int(ch.get("checkpoints"))):
        raise BundleError(f"{b.name}: the manifest has no valid watermark range")
    return ch


def check_chain(b: SignedBundle, pl: Payload, workstation_public: bytes) -> None:
    """The events form one hash chain from the manifest's ``from`` to its ``to``, closed by a signed checkpoint."""
    name = b.name
    ch = chain_range(b)
    from_seq, to_seq = ch["from_seq"], ch["to_seq"]
    prev = ch.get("from_hash")
    if from_seq == 0 and prev != genesis_hash(b.workstation_id):
        raise BundleError(f"{name}: the audit chain does not start at this workstation's genesis")
    if len(pl.events) != to_seq - from_seq or ch.get("events") != len(pl.events) \
            or ch.get("checkpoints") != len(pl.checkpoints):
        raise BundleError(f"{name}: the audit events do not cover the watermark range")
    events, plain, sha256, fromhex = pl.events, pl.events_plain, hashlib.sha256, bytes.fromhex
    expect = from_seq
    for seq, ts, actor, action, table, row_id, digest, prev_hash, h in events:
        expect += 1
        if seq != expect or prev_hash != prev:
            raise BundleError(f"{name}: the audit chain is broken at event #{seq}")
        try:  # every string plain (one scan for the bundle) and a finite float: as the store's JSON writes it
            ok = plain and type(ts) is float and ts - ts == 0 and sha256(fromhex(prev_hash) + (
                f'[{seq},{ts!r},"{actor}","{action}","{table}","{row_id}","{digest}"]').encode()).hexdigest() == h
        except ValueError:  # a link that is not hex
            ok = False
        if not ok and not _event_hash_matches(h, prev_hash, seq, ts, actor, action, table, row_id, digest):
            raise BundleError(f"{name}: the audit chain is broken at event #{seq}")
        prev = h
    if (to_seq > from_seq and prev != ch.get("to_hash")) or (to_seq == from_seq and ch.get("to_hash") != prev):
        raise BundleError(f"{name}: the audit chain does not end at the manifest's head")
    pub = Ed25519PublicKey.from_public_bytes(workstation_public)
    covered = to_seq == from_seq
    for seq, ts, head, sig, version, prev_seq in pl.checkpoints:
        if not from_seq < seq <= to_seq or events[seq - from_seq - 1][8] != head:  # consecutive, checked above
            raise BundleError(f"{name}: checkpoint #{seq} does not match the audit chain")
        try:
            pub.verify(sig, checkpoint_message(b.workstation_id, seq, head, ts, prev_seq, version))
        except (InvalidSignature, ValueError, TypeError):
            raise BundleError(f"{name}: checkpoint #{seq} is not signed by the workstation") from None
        covered |= seq == to_seq
    if not covered:
        raise BundleError(f"{name}: the last audit event is not covered by a signed checkpoint")
