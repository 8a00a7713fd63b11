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


def decode_json_document(raw: bytes, origin: str) -> Any:
    """UTF-8 JSON bytes -> Python value; InputError (one line) naming ``origin`` and the offending place.

    The one place a user's JSON is parsed: invalid UTF-8, invalid JSON and a document nested more than
    :data:`MAX_JSON_DEPTH` levels (which would otherwise end in a RecursionError) are all InputErrors.
    """
    text = decode_utf8(raw, origin)
    too_deep = f"{origin} is nested too deeply (more than {MAX_JSON_DEPTH} levels of arrays or objects)"
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{origin} is not valid JSON: {exc.msg} at line {exc.lineno}") from exc
    except RecursionError:
        raise InputError(too_deep) from None
    if _too_deep(value, MAX_JSON_DEPTH):
        raise InputError(too_deep)
    return value


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
