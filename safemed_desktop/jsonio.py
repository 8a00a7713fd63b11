"""Reading documents that users hand us (patient files, signal inputs, config files) with clear errors."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .errors import InputError, SafeMedError


def decode_utf8(raw: bytes, origin: str, error: type[SafeMedError] = InputError) -> str:
    """UTF-8 bytes -> text; ``error`` naming ``origin`` and the offset of the first invalid byte."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{origin} is not valid UTF-8 (invalid byte at offset {exc.start})") from exc


#: The deepest nesting of arrays and objects a user's document may have (real ones stay under 20).
MAX_JSON_DEPTH = 256


def _too_deep(value: Any, limit: int) -> bool:
    """Whether ``value`` nests arrays/objects more than ``limit`` levels (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


class JsonTooDeep(ValueError):
    """A JSON document nested more than :data:`MAX_JSON_DEPTH` levels."""


def loads(text: str | bytes) -> Any:
    """``json.loads`` for JSON from outside the process (files, bundles, cards): a document nested more than
    :data:`MAX_JSON_DEPTH` levels raises :class:`JsonTooDeep`, a ``ValueError`` like invalid JSON itself,
    never the ``RecursionError`` the decoder would otherwise end in."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise JsonTooDeep(f"nested more than {MAX_JSON_DEPTH} levels of arrays or objects") from None
    if _too_deep(value, MAX_JSON_DEPTH):
        raise JsonTooDeep(f"nested more than {MAX_JSON_DEPTH} levels of arrays or objects")
    return value


def decode_json_document(raw: bytes, origin: str) -> Any:
    """UTF-8 JSON bytes -> Python value; InputError (one line) naming ``origin`` and the offending place.

    The one place a user's JSON is parsed: invalid UTF-8, invalid JSON and a document nested more than
    :data:`MAX_JSON_DEPTH` levels (which would otherwise end in a RecursionError) are all InputErrors.
    """
    text = decode_utf8(raw, origin)
    try:
        return loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{origin} is not valid JSON: {exc.msg} at line {exc.lineno}") from exc
    except JsonTooDeep:
        raise InputError(f"{origin} is nested too deeply (more than {MAX_JSON_DEPTH} levels of arrays or objects)") \
            from None


def jsonl_objects(text: str, origin: str, expect: str = "a JSON object") -> list[tuple[int, dict]]:
    """The non-blank lines of JSON Lines ``text`` as (line number, object), in order.

    The JSONL twin of :func:`decode_json_document`: a line that is not valid JSON, is nested more than
    :data:`MAX_JSON_DEPTH` levels, or is not an object is an InputError naming ``origin`` and the line
    (``expect`` says what each line must be).
    """
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{origin}, line {n}"
        try:
            obj = loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{where}: not valid JSON ({exc.msg})") from None
        except JsonTooDeep:
            raise InputError(f"{where}: nested too deeply (more than {MAX_JSON_DEPTH} levels of arrays or objects)") \
                from None
        if not isinstance(obj, dict):
            raise InputError(f"{where}: each line must be {expect}")
        out.append((n, obj))
    return out


def check_size(raw: bytes, origin: str, max_bytes: int | None) -> bytes:
    """``raw`` unchanged, or InputError when it is longer than ``max_bytes``."""
    if max_bytes is not None and len(raw) > max_bytes:
        raise InputError(f"{origin} is more than the {max_bytes:,} bytes it may be")
    return raw


def read_user_file(path: Path, what: str, max_bytes: int | None = None) -> bytes:
    """The bytes of a file the user named; InputError saying ``what`` it was when it cannot be read.

    With ``max_bytes``, a larger file is refused before it is read (its size from ``stat``), and the
    read itself stops one byte past the limit (a file that grows meanwhile is refused too).
    """
    origin = f"{what} {path}"
    try:
        with open(path, "rb") as fh:
            if max_bytes is not None:
                size = os.fstat(fh.fileno()).st_size
                if size > max_bytes:
                    raise InputError(f"{origin} is {size:,} bytes, more than the {max_bytes:,} it may be")
            raw = fh.read() if max_bytes is None else fh.read(max_bytes + 1)
    except FileNotFoundError:
        raise InputError(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise InputError(f"{origin} is a directory, not a file") from None
    except OSError as exc:
        raise InputError(f"cannot read {origin}: {exc.strerror}") from exc
    return check_size(raw, origin, max_bytes)
