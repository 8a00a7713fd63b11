"""Matching FHIR medication and allergy names to the formulary and the allergy classes (by ingredient name)."""

from __future__ import annotations

import re
from functools import lru_cache

from ..signals.formulary import Knowledge, load_knowledge, normalize_name
from ..signals.medication_parse import find_drugs

_STRENGTH = re.compile(r"(\d+(?:\.\d+)?)\s*(MG|G|MCG|UG|MEQ|UNT|UNITS?)\b(?!\s*/)", re.IGNORECASE)
_UNIT = {"mg": "mg", "g": "g", "mcg": "mcg", "ug": "mcg", "meq": "mEq", "unt": "units", "unit": "units", "units": "units"}
_CLEAN = re.compile(r"^(?:allergy|allergic reaction|intolerance|hypersensitivity)\s+to\s+|\s*\((?:substance|finding|disorder|product|medicinal product)\)\s*$",
                    re.IGNORECASE)


@lru_cache(maxsize=4)
def _allergy_regex(k: Knowledge) -> re.Pattern[str]:
    names = sorted(k.allergy_names, key=len, reverse=True)
    return re.compile(r"(?<![\w-])(?:" + "|".join(re.escape(n) for n in names) + r")(?![\w-])")


def clean_name(text: str) -> str:
    """'Allergy to penicillin (finding)' -> 'penicillin'; other names unchanged."""
    return _CLEAN.sub("", text.strip()).strip() or text.strip()


def formulary_generics(text: str) -> list[str]:
    """The formulary drugs named in ``text`` (generic, brand or synonym; whole words), in order, no classes."""
    k = load_knowledge()
    return list(dict.fromkeys(m.generic for m in find_drugs(text, k) if not m.is_class))


def allergy_targets(text: str) -> tuple[set[str], set[str]]:
    """(allergy-class ids, formulary generics or drug classes) that an allergy named ``text`` can be checked against."""
    k = load_knowledge()
    classes = {k.allergy_names[m.group(0)] for m in _allergy_regex(k).finditer(normalize_name(text))}
    drugs = {m.generic for m in find_drugs(text, k)}
    return classes, drugs


def strengths(text: str) -> list[tuple[float, str]]:
    """Strengths stated in a product name: 'Warfarin Sodium 5 MG Oral Tablet' -> [(5.0, 'mg')]."""
    return [(float(m.group(1)), _UNIT[m.group(2).lower()]) for m in _STRENGTH.finditer(text)]


def ucum_mass(unit: str | None) -> str | None:
    """A dose unit the medication parser reads ('mg', 'g', 'mcg', 'mEq', 'units'), else None."""
    if not unit:
        return None
    u = unit.strip().lower().strip("{}")
    return {"mg": "mg", "g": "g", "ug": "mcg", "mcg": "mcg", "meq": "mEq", "[iu]": "units", "iu": "units",
            "u": "units", "unit": "units", "units": "units"}.get(u)
