"""A study's case file: CSV (header row) or JSONL (one object a line).

Fields: ``case_id`` (unique, 1-64 characters of letters, digits, ``-_.``), ``vignette``, ``resident_answer``,
optional ``resident_level`` (``PGY1`` or ``PGY2``) and an optional patient context (``patient``: an object in
JSONL, a JSON object in a CSV cell; the fields of ``PatientContext``). Any problem is one ``InputError``
naming the line; nothing is imported from a file with a bad line.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..jsonio import decode_json_document, decode_utf8, jsonl_objects, read_user_file
from ..records.patient import PatientContext

MAX_CASE_FILE_BYTES = 16 * 1024 * 1024
MAX_TEXT_CHARS = 20_000
RESIDENT_LEVELS = ("PGY1", "PGY2")
_CASE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_FIELDS = ("case_id", "vignette", "resident_answer", "resident_level", "patient")


@dataclass(frozen=True)
class StudyCase:
    case_id: str
    vignette: str
    resident_answer: str
    resident_level: str | None = None
    patient: PatientContext = PatientContext()


def _case(obj: dict, where: str) -> StudyCase:
    unknown = sorted(set(obj) - set(_FIELDS))
    if unknown:
        raise InputError(f"{where}: unknown field(s) {', '.join(unknown)} (known: {', '.join(_FIELDS)})")
    cid = obj.get("case_id")
    cid = str(cid).strip() if isinstance(cid, (str, int)) and not isinstance(cid, bool) else ""
    if not _CASE_ID.match(cid):
        raise InputError(f"{where}: case_id must be 1-64 letters, digits, '-', '_' or '.'")
    texts = {}
    for key in ("vignette", "resident_answer"):
        v = obj.get(key)
        if not isinstance(v, str) or not v.strip():
            raise InputError(f"{where} (case {cid}): {key} must be non-empty text")
        if len(v) > MAX_TEXT_CHARS:
            raise InputError(f"{where} (case {cid}): {key} is longer than {MAX_TEXT_CHARS:,} characters")
        texts[key] = v.strip()
    level = obj.get("resident_level")
    level = level.strip().upper() if isinstance(level, str) and level.strip() else None
    if level is not None and level not in RESIDENT_LEVELS:
        raise InputError(f"{where} (case {cid}): resident_level must be one of {', '.join(RESIDENT_LEVELS)}")
    patient = obj.get("patient")
    if isinstance(patient, str):
        if patient.strip():
            try:  # the one JSON parser for user input (depth-limited: no RecursionError)
                patient = decode_json_document(patient.encode("utf-8"), f"{where} (case {cid}): patient")
            except InputError:
                raise InputError(f"{where} (case {cid}): patient must be a JSON object") from None
        else:
            patient = None
    try:
        ctx = PatientContext.from_dict(patient) if patient else PatientContext()
    except InputError as exc:
        raise InputError(f"{where} (case {cid}): {exc.message}") from None
    return StudyCase(cid, texts["vignette"], texts["resident_answer"], level, ctx)


def parse_cases(raw: bytes, origin: str) -> list[StudyCase]:
    """Cases from CSV or JSONL bytes (JSONL when the first non-blank character is ``{``)."""
    text = decode_utf8(raw, origin).lstrip("\ufeff")
    cases: list[StudyCase] = []
    if text.lstrip().startswith("{"):
        for n, obj in jsonl_objects(text, origin):
            cases.append(_case(obj, f"{origin}, line {n}"))
    else:
        try:
            reader = csv.DictReader(io.StringIO(text, newline=""))
            header = reader.fieldnames or []
            missing = [f for f in ("case_id", "vignette", "resident_answer") if f not in header]
            if missing:
                raise InputError(f"{origin}: the CSV header lacks {', '.join(missing)}")
            for row in reader:
                if None in row:
                    raise InputError(f"{origin} line {reader.line_num}: more cells than header columns")
                cases.append(_case({k: v for k, v in row.items() if v is not None and (v != "" or k in
                                    ("vignette", "resident_answer", "case_id"))}, f"{origin} line {reader.line_num}"))
        except csv.Error as exc:
            raise InputError(f"{origin}: not valid CSV ({exc})") from None
    if not cases:
        raise InputError(f"{origin} holds no cases")
    seen: set[str] = set()
    for c in cases:
        if c.case_id in seen:
            raise InputError(f"{origin}: case_id {c.case_id} appears twice")
        seen.add(c.case_id)
    return cases


def read_cases(path: str | Path) -> tuple[list[StudyCase], str]:
    """The cases of a case file and the file's sha256."""
    raw = read_user_file(Path(path), "case file", MAX_CASE_FILE_BYTES)
    return parse_cases(raw, f"case file {path}"), hashlib.sha256(raw).hexdigest()
