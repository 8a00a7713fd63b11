"""Reading JSON documents that users hand us (patient files, signal inputs) with clear errors."""

from __future__ import annotations

import json
from typing import Any

from .errors import InputError


def decode_json_document(raw: bytes, origin: str) -> Any:
    """UTF-8 JSON bytes -> Python value; InputError naming ``origin`` and the offending place."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{origin} is not valid UTF-8 (invalid byte at offset {exc.start})") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{origin} is not valid JSON: {exc.msg} at line {exc.lineno}") from exc
