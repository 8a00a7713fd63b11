"""Versioned scoring rubrics (SafeMed CTS): loading, validation, immutability.

A published rubric never changes: scores recorded against ``safemed-cts@1`` are only
comparable if the file they were scored against is byte-identical. ``load_rubric``
therefore refuses any rubric file whose sha256 is not the one registered in
``PUBLISHED_RUBRICS`` below. A new wording is a new version.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InputError, PackError

RUBRICS_DIR = Path(__file__).resolve().parent / "rubrics"

# (rubric id, version) -> sha256 of the published TOML file.
PUBLISHED_RUBRICS: dict[tuple[str, int], str] = {
    ("safemed-cts", 1): "f977b3c956bc2640ec8f37fdd02460a9bf817080c45f2f1f6c334ebee8ef42a6",
}


@dataclass(frozen=True)
class Criterion:
    key: str
    title: str
    description: str
    applies_to_steps: bool
    anchors: dict[int, str]


@dataclass(frozen=True)
class Rubric:
    id: str
    version: int
    title: str
    criteria: tuple[Criterion, ...]
    flags: dict[str, str]
    sha256: str
    scale_min: int = 1
    scale_max: int = 5

    @property
    def ref(self) -> str:
        return f"{self.id}@{self.version}"

    def criterion(self, key: str) -> Criterion:
        for c in self.criteria:
            if c.key == key:
                return c
        raise InputError(f"rubric {self.ref} has no criterion {key!r} (known: {', '.join(self.keys)})")

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(c.key for c in self.criteria)

    def validate_scores(self, scores: dict[str, int], step: bool = False) -> None:
        """Raise InputError unless every score names a known criterion with a whole number on the scale."""
        if not isinstance(scores, dict) or not scores:
            raise InputError("at least one criterion score is required")
        for key, value in scores.items():
            crit = self.criterion(key)
            if step and not crit.applies_to_steps:
                raise InputError(f"criterion {key!r} of {self.ref} does not apply to single reasoning steps")
            if isinstance(value, bool) or not isinstance(value, int):
                raise InputError(f"score for {key!r} must be a whole number, got {value!r}")
            if not self.scale_min <= value <= self.scale_max:
                raise InputError(f"score for {key!r} must be between {self.scale_min} and {self.scale_max}, got {value}")

    def validate_flags(self, flags: list[str] | tuple[str, ...]) -> None:
        for f in flags:
            if f not in self.flags:
                raise InputError(f"unknown flag {f!r} (known: {', '.join(self.flags)})")


def rubric_path(rubric_id: str, version: int) -> Path:
    return RUBRICS_DIR / f"{rubric_id}-v{version}.toml"


def parse_rubric(raw: bytes, origin: str) -> Rubric:
    """Parse and validate rubric TOML bytes (no hash check; see ``load_rubric``)."""
    try:
        data: dict[str, Any] = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PackError(f"rubric {origin} is not valid UTF-8 TOML: {exc}") from exc

    def need(d: dict, key: str, typ: type, where: str) -> Any:
        v = d.get(key)
        if not isinstance(v, typ) or (typ is str and not v.strip()):
            raise PackError(f"rubric {origin}: {where}{key} must be a non-empty {typ.__name__}")
        return v

    rid = need(data, "id", str, "")
    version = need(data, "version", int, "")
    title = need(data, "title", str, "")
    lo, hi = data.get("scale_min", 1), data.get("scale_max", 5)
    if (lo, hi) != (1, 5):
        raise PackError(f"rubric {origin}: scale must be 1..5, got {lo}..{hi}")
    flags = data.get("flags", {})
    if not isinstance(flags, dict) or not all(isinstance(v, str) and v for v in flags.values()):
        raise PackError(f"rubric {origin}: [flags] must map flag names to descriptions")
    crits = []
    seen: set[str] = set()
    for i, c in enumerate(need(data, "criteria", list, "")):
        where = f"criteria[{i}]."
        key = need(c, "key", str, where)
        if key in seen:
            raise PackError(f"rubric {origin}: duplicate criterion {key!r}")
        seen.add(key)
        applies = c.get("applies_to_steps")
        if not isinstance(applies, bool):
            raise PackError(f"rubric {origin}: {where}applies_to_steps must be true or false")
        anchors_raw = need(c, "anchors", dict, where)
        anchors = {}
        for level in range(lo, hi + 1):
            text = anchors_raw.get(str(level))
            if not isinstance(text, str) or not text.strip():
                raise PackError(f"rubric {origin}: criterion {key!r} has no anchor for level {level}")
            anchors[level] = text.strip()
        extra = set(anchors_raw) - {str(n) for n in range(lo, hi + 1)}
        if extra:
            raise PackError(f"rubric {origin}: criterion {key!r} has anchors outside the scale: {sorted(extra)}")
        crits.append(Criterion(key, need(c, "title", str, where), need(c, "description", str, where), applies, anchors))
    if not crits:
        raise PackError(f"rubric {origin}: no criteria")
    return Rubric(id=rid, version=version, title=title, criteria=tuple(crits), flags=dict(flags),
                  sha256=hashlib.sha256(raw).hexdigest(), scale_min=lo, scale_max=hi)


def load_rubric(rubric_id: str = "safemed-cts", version: int = 1, *, path: Path | None = None) -> Rubric:
    """Load a published rubric; refuse it unless its file hash is the published one."""
    expected = PUBLISHED_RUBRICS.get((rubric_id, version))
    if expected is None:
        known = ", ".join(f"{i}@{v}" for i, v in PUBLISHED_RUBRICS)
        raise PackError(f"rubric {rubric_id}@{version} is not published (known: {known})")
    p = path or rubric_path(rubric_id, version)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise PackError(f"cannot read rubric file {p}: {exc.strerror}") from exc
    actual = hashlib.sha256(raw).hexdigest()
    if actual != expected:
        raise PackError(f"rubric file {p} was modified after publication (sha256 {actual[:12]}..., "
                        f"published {expected[:12]}...)", hint="publish changes as a new rubric version")
    rubric = parse_rubric(raw, str(p))
    if (rubric.id, rubric.version) != (rubric_id, version):
        raise PackError(f"rubric file {p} declares {rubric.ref}, expected {rubric_id}@{version}")
    return rubric


def parse_ref(ref: str) -> tuple[str, int]:
    """'safemed-cts@1' -> ('safemed-cts', 1)."""
    rid, sep, ver = ref.partition("@")
    if not sep or not ver.isdigit():
        raise InputError(f"rubric reference must look like 'safemed-cts@1', got {ref!r}")
    return rid, int(ver)
