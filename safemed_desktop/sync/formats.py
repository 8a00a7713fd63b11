"""Shared encodings of the sync files: canonical JSON, base64, fingerprints, reading user-named files.

Every signed JSON document (cards, acknowledgements, site packs) is signed over its canonical
form: ``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` in UTF-8, with the
``signature`` member left out.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from pathlib import Path
from typing import Any

from ..errors import BundleError
from .. import jsonio
from ..jsonio import read_user_file

#: The largest card, acknowledgement or site pack read (bytes).
MAX_DOC_BYTES = 16 * 1024 * 1024
#: The largest bundle read (bytes).
MAX_BUNDLE_BYTES = 2 * 1024 * 1024 * 1024
#: Domain-separation prefix of every Ed25519 signature made by the sync package.
SIGN_DOMAIN = b"safemed-sync-v1|"
_ID_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,200}$")


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def b64(data: bytes) -> str:
    return base64.b64encode(bytes(data)).decode("ascii")


def unb64(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise BundleError(f"{what} is not base64 text")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise BundleError(f"{what} is not valid base64") from None


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fingerprint(*parts: bytes | str) -> str:
    """A short fingerprint IT compares by eye: 20 hex digits of sha256, in groups of four."""
    h = hashlib.sha256()
    for p in parts:
        b = p.encode("utf-8") if isinstance(p, str) else bytes(p)
        h.update(len(b).to_bytes(4, "big") + b)
    d = h.hexdigest()[:20].upper()
    return " ".join(d[i:i + 4] for i in range(0, 20, 4))


def sign_message(purpose: str, body: bytes) -> bytes:
    """The message an Ed25519 key of the sync package signs: domain, purpose, sha256 of the body."""
    return SIGN_DOMAIN + purpose.encode("ascii") + b"|" + hashlib.sha256(body).digest()


def check_id(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise BundleError(f"{what} is missing or not a valid identifier")
    return value


def read_json_doc(path: str | Path, what: str) -> dict[str, Any]:
    """A JSON object from a user-named file (size-limited); BundleError when it is not one."""
    raw = read_user_file(Path(path), what, MAX_DOC_BYTES)
    try:
        doc = jsonio.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise BundleError(f"{what} {path} is not valid JSON (truncated or damaged)") from None
    if not isinstance(doc, dict):
        raise BundleError(f"{what} {path} is not a JSON object")
    return doc


def expect(doc: dict[str, Any], fmt: str, version: int, what: str) -> None:
    if doc.get("format") != fmt:
        raise BundleError(f"{what} is not a {fmt} document (format {doc.get('format')!r})")
    if doc.get("version") != version:
        raise BundleError(f"{what} has format version {doc.get('version')!r}; this SafeMed reads version {version}",
                          hint="update SafeMed Desktop")
