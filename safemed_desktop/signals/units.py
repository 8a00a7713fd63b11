"""The dose-unit vocabulary shared by the medication packs, the dose parser and the safety checks.

* ``UNITS``: the units a pack may state a limit in (``mg``, ``mcg``, ``g``, ``units``, ``mEq``, ``mmol``);
* ``ALIASES``: how free text spells them ("micrograms", "µg", "ug", "IU", "milliequivalents", ...),
  lower-case, mapped to a pack unit;
* ``CANONICAL``: each pack unit -> (canonical unit, factor). Masses are compared in mg
  (1 mcg = 0.001 mg, 1 g = 1000 mg); units, mEq and mmol are not convertible and stay as they are.
"""

from __future__ import annotations

import re

UNITS: tuple[str, ...] = ("mg", "mcg", "g", "units", "mEq", "mmol")
CANONICAL_UNITS: tuple[str, ...] = ("mg", "units", "mEq", "mmol")

MASS_TO_MG: dict[str, float] = {"mg": 1.0, "mcg": 0.001, "g": 1000.0}
CANONICAL: dict[str, tuple[str, float]] = {
    **{u: ("mg", f) for u, f in MASS_TO_MG.items()},
    "units": ("units", 1.0), "mEq": ("mEq", 1.0), "mmol": ("mmol", 1.0),
}

#: lower-case spelling in text -> pack unit (multi-word spellings use single spaces)
ALIASES: dict[str, str] = {
    "mg": "mg", "milligram": "mg", "milligrams": "mg",
    "mcg": "mcg", "microgram": "mcg", "micrograms": "mcg", "\u00b5g": "mcg", "\u03bcg": "mcg", "ug": "mcg",
    "g": "g", "gm": "g", "gram": "g", "grams": "g",
    "unit": "units", "units": "units", "iu": "units", "international units": "units",
    "meq": "mEq", "milliequivalent": "mEq", "milliequivalents": "mEq",
    "mmol": "mmol", "millimole": "mmol", "millimoles": "mmol",
}

#: A regular-expression alternation matching any alias in lower-cased text (longest spelling first;
#: the space of a multi-word spelling matches any run of whitespace).
ALIAS_PATTERN: str = "(?:" + "|".join(
    r"\s+".join(re.escape(w) for w in alias.split(" ")) for alias in sorted(ALIASES, key=lambda a: (-len(a), a))
) + ")"


def unit_of(alias: str) -> str | None:
    """The pack unit a spelling names ("Micrograms" -> "mcg", "international  units" -> "units"), or None."""
    return ALIASES.get(" ".join(alias.lower().split()))


def canonical_unit(unit: str) -> str:
    """The unit a pack unit is compared in: masses -> "mg"; others unchanged."""
    return CANONICAL.get(unit, (unit, 1.0))[0]


def factor(unit: str) -> float:
    """Multiplier from ``unit`` to its canonical unit (1.0 for non-mass units)."""
    return CANONICAL.get(unit, (unit, 1.0))[1]


def to_canonical(value: float, unit: str) -> float:
    """``value`` in ``unit`` expressed in ``canonical_unit(unit)``: ``to_canonical(500, "mcg") == 0.5``."""
    return value * factor(unit)
