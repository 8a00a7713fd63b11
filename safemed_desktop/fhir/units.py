"""UCUM (and the common non-UCUM spellings exports use) -> the units the patient context uses."""

from __future__ import annotations

from ..records.patient import CREATININE_UMOL_PER_MG_DL


def _key(unit: str) -> str:
    return unit.strip().lower().replace(" ", "").replace("\u00b5", "u").replace("\u03bc", "u").replace("\u00b2", "2")


#: to kilograms
WEIGHT = {"kg": 1.0, "g": 0.001, "[lb_av]": 0.45359237, "lb": 0.45359237, "lbs": 0.45359237,
          "[oz_av]": 0.028349523125, "oz": 0.028349523125}
#: to mL/min/1.73m2
EGFR = {k: 1.0 for k in ("ml/min/{1.73_m2}", "ml/min/1.73_m2", "ml/min/1.73m2", "ml/min/[1.73_m2]",
                         "ml/min/1.73.m2", "ml/min/1.73m^2", "ml/min/{1.73m2}", "ml/min/1.73sqm")}
EGFR.update({k: 60.0 for k in ("ml/s/{1.73_m2}", "ml/s/1.73_m2", "ml/s/1.73m2")})
#: to umol/L
CREATININE = {"umol/l": 1.0, "mmol/l": 1000.0, "mg/dl": CREATININE_UMOL_PER_MG_DL, "mg/l": CREATININE_UMOL_PER_MG_DL / 10}


def convert(table: dict[str, float], value: float, *units: str | None) -> float | None:
    """``value`` in the first of ``units`` (UCUM code, then display unit) the table knows; None if none."""
    for unit in units:
        if unit:
            factor = table.get(_key(unit))
            if factor is not None:
                return value * factor
    return None
