"""Reading documents that users hand us (patient files, signal inputs, config files) with clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import InputError, SafeMedError


def decode_utf8(raw: bytes, origin: str, error: type[SafeMedError] = InputError) -> str:
    """UTF-8 bytes -> text; ``error`` naming ``origin`` and the offset of the first invalid byte."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{origin} is not valid UTF-8 (invalid byte at offset {exc.start})") from exc


def decode_json_document(raw: bytes, origin: str) -> Any:
    """UTF-8 JSON bytes -> Python value; InputError naming ``origin`` and the offending place."""
    text = decode_utf8(raw, origin)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{origin} is not valid JSON: {exc.msg} at line {exc.lineno}") from exc


def read_user_file(path: Path, what: str) -> bytes:
    """The bytes of a file the user named; InputError saying ``what`` it was when it cannot be read."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{what} not found: {path}") from None
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror}") from exc
