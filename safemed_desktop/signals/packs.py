"""Loading versioned knowledge packs (data files in ``safemed_desktop/packs/``).

Every pack is a JSON object with a header::

    {"pack": "formulary", "version": "2026.11.0", "description": "...",
     "sources": {"fda-label": "U.S. FDA prescribing information (DailyMed), ...", ...},
     "entries": [...]}

and every entry cites one of the header's ``sources`` keys in its own ``source`` field.
The generic checks live here; each signal module validates its own entry schema.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import PackError

PACK_DIR = Path(__file__).resolve().parent.parent / "packs"
_VERSION = re.compile(r"^\d{4}\.\d{1,2}\.\d+$")


@dataclass(frozen=True)
class Pack:
    name: str
    version: str
    sources: dict[str, str]
    entries: tuple[Any, ...]
    raw: dict[str, Any]

    @property
    def ref(self) -> str:
        """How signals cite the pack, e.g. ``formulary@2026.11.0``."""
        return f"{self.name}@{self.version}"


def normalize_sources(value: Any) -> tuple[Any, ...]:
    """An entry's ``source`` field as a tuple of source ids: a list as its items, a single id as a 1-tuple.

    ``normalize_sources("fda-label") == ("fda-label",)``; ``normalize_sources(["a", "b"]) == ("a", "b")``.
    """
    return tuple(value) if isinstance(value, list) else (value,)


def join_sources(value: Any, sep: str = ", ") -> str:
    """An entry's ``source`` field as one display string: ``["nice-ng109", "idsa"] -> "nice-ng109, idsa"``."""
    return sep.join(normalize_sources(value))


def parse_pack(data: Any, origin: str) -> Pack:
    if not isinstance(data, dict):
        raise PackError(f"{origin}: a pack must be a JSON object")
    for key in ("pack", "version", "sources", "entries"):
        if key not in data:
            raise PackError(f"{origin}: missing header field {key!r}")
    if not _VERSION.match(str(data["version"])):
        raise PackError(f"{origin}: version {data['version']!r} is not YYYY.MM.N")
    sources = data["sources"]
    if not isinstance(sources, dict) or not sources:
        raise PackError(f"{origin}: 'sources' must be a non-empty object of id -> citation")
    entries = data["entries"]
    if not isinstance(entries, list) or not entries:
        raise PackError(f"{origin}: 'entries' must be a non-empty list")
    for i, entry in enumerate(entries):
        if isinstance(entry, dict):
            src = entry.get("source")
            if not src or any(r not in sources for r in normalize_sources(src)):
                raise PackError(f"{origin}: entry {i} cites unknown or missing source {src!r}")
    return Pack(name=data["pack"], version=str(data["version"]), sources=dict(sources), entries=tuple(entries), raw=data)


#: Knowledge packs from the applied site pack (``set_site_overlay``): each replaces the bundled pack of its name.
_OVERLAY: dict[str, Pack] = {}


def version_key(version: str) -> tuple[int, ...]:
    """``"2026.12.0" -> (2026, 12, 0)``: pack versions compare as numbers, not as text."""
    return tuple(int(x) for x in str(version).split("."))


def bundled_pack(name: str) -> Pack:
    """The pack shipped with the app, whatever a site pack overlays."""
    return _read_pack_file(name)


def site_overlay() -> dict[str, str]:
    """``{pack name: version}`` of the knowledge packs the applied site pack provides."""
    return {name: pack.version for name, pack in sorted(_OVERLAY.items())}


def overlay_packs() -> dict[str, Pack]:
    """The knowledge packs in effect instead of the bundled ones (to restore with ``set_site_overlay``)."""
    return dict(_OVERLAY)


def check_overlay(docs: dict[str, Any], origin: str) -> dict[str, Pack]:
    """Parse a site pack's knowledge packs: each must name a pack this app ships, under its own name, with the
    generic header checks and a version not older than the bundled one (a site can update knowledge, never
    roll it back). PackError naming the first problem."""
    if not isinstance(docs, dict):
        raise PackError(f"{origin}: knowledge packs must be an object of pack name -> pack")
    out: dict[str, Pack] = {}
    for name, doc in sorted(docs.items()):
        where = f"{origin}, knowledge pack {name!r}"
        if not isinstance(name, str) or not (PACK_DIR / f"{name}.json").is_file():
            raise PackError(f"{where}: this app has no knowledge pack of that name")
        pack = parse_pack(doc, where)
        if pack.name != name:
            raise PackError(f"{where}: its header names pack {pack.name!r}")
        bundled = bundled_pack(name)
        if version_key(pack.version) < version_key(bundled.version):
            raise PackError(f"{where}: version {pack.version} is older than the bundled {bundled.version}; refused")
        out[name] = pack
    return out


def set_site_overlay(packs: dict[str, Pack]) -> bool:
    """Use ``packs`` (from ``check_overlay``) instead of the bundled packs of their names, process-wide; returns
    True when that changed anything. Every cached rule built from a pack is dropped so the next assessment
    reads the new knowledge."""
    global _OVERLAY
    if {n: p.raw for n, p in packs.items()} == {n: p.raw for n, p in _OVERLAY.items()}:
        return False
    _OVERLAY = dict(packs)
    clear_pack_caches()
    return True


def clear_pack_caches() -> None:
    """Drop every ``lru_cache`` of the signal modules (rules compiled from packs)."""
    import sys

    load_pack.cache_clear()
    for mod_name, mod in list(sys.modules.items()):
        if mod is None or not mod_name.startswith(__package__ + "."):
            continue
        for value in list(vars(mod).values()):
            clear = getattr(value, "cache_clear", None)
            if callable(clear) and getattr(value, "__module__", None) == mod_name:
                clear()


@lru_cache(maxsize=None)
def load_pack(name: str) -> Pack:
    """The pack ``name``: the applied site pack's version where it provides one, else the bundled file."""
    overlay = _OVERLAY.get(name)
    if overlay is not None:
        return overlay
    return _read_pack_file(name)


def _read_pack_file(name: str) -> Pack:
    path = PACK_DIR / f"{name}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PackError(f"knowledge pack {name!r} not found at {path}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PackError(f"knowledge pack {path} is not valid UTF-8 JSON: {exc}") from exc
    pack = parse_pack(data, str(path))
    if pack.name != name:
        raise PackError(f"{path}: header names pack {pack.name!r}, expected {name!r}")
    return pack


def compile_patterns(patterns: Any, origin: str, *, allow_none: bool = False,
                     non_empty: bool = False) -> tuple[re.Pattern[str], ...]:
    """Compile a pack's list of regular expressions (case-insensitive); PackError naming ``origin``.

    ``allow_none``: a missing list means no patterns. ``non_empty``: at least one pattern is required.
    """
    if patterns is None and allow_none:
        return ()
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns) or (non_empty and not patterns):
        what = "a non-empty list of strings" if non_empty else "a list of strings"
        raise PackError(f"{origin}: patterns must be {what}")
    try:
        return tuple(re.compile(p, re.IGNORECASE) for p in patterns)
    except re.error as exc:
        raise PackError(f"{origin}: bad regular expression ({exc})") from exc

