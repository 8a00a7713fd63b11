"""Patient context attached to a question: age, sex, weight, pregnancy, eGFR, allergies, medications."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..jsonio import decode_json_document, read_user_file

_SEXES = ("female", "male", "other", "unknown")


@dataclass(frozen=True)
class PatientContext:
    age: float | None = None
    sex: str | None = None
    weight_kg: float | None = None
    pregnant: bool | None = None
    egfr: float | None = None
    allergies: tuple[str, ...] = ()
    medications: tuple[str, ...] = ()

    def is_empty(self) -> bool:
        return self == PatientContext()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["allergies"] = list(self.allergies)
        d["medications"] = list(self.medications)
        return {k: v for k, v in d.items() if v not in (None, [], ())}

    def describe(self) -> str:
        """A compact line for the prompt, e.g. 'age 72; weight 60 kg; eGFR 25; allergies: penicillin'."""
        parts = []
        if self.age is not None:
            parts.append(f"age {self.age:g}")
        if self.sex:
            parts.append(f"sex {self.sex}")
        if self.weight_kg is not None:
            parts.append(f"weight {self.weight_kg:g} kg")
        if self.pregnant:
            parts.append("pregnant")
        if self.egfr is not None:
            parts.append(f"eGFR {self.egfr:g} mL/min/1.73m2")
        if self.allergies:
            parts.append("allergies: " + ", ".join(self.allergies))
        if self.medications:
            parts.append("current medications: " + ", ".join(self.medications))
        return "; ".join(parts)

    @classmethod
    def from_dict(cls, data: Any) -> "PatientContext":
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise InputError("patient context must be a JSON object")
        known = {"age", "sex", "weight_kg", "pregnant", "egfr", "allergies", "medications"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"patient context has unknown field(s): {', '.join(unknown)}")

        def number(key: str, lo: float, hi: float) -> float | None:
            v = data.get(key)
            if v is None:
                return None
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise InputError(f"patient {key} must be a number (the value given is not shown)")
            if not lo <= v <= hi:
                raise InputError(f"patient {key} must be between {lo:g} and {hi:g} (the value given is not shown)")
            return float(v)

        def strings(key: str) -> tuple[str, ...]:
            v = data.get(key) or []
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise InputError(f"patient {key} must be a list of strings")
            return tuple(x.strip() for x in v if x.strip())

        sex = data.get("sex")
        if sex is not None:
            if not isinstance(sex, str) or sex.lower() not in _SEXES:
                raise InputError(f"patient sex must be one of {', '.join(_SEXES)} (the value given is not shown)")
            sex = sex.lower()
        pregnant = data.get("pregnant")
        if pregnant is not None and not isinstance(pregnant, bool):
            raise InputError("patient pregnant must be true or false (the value given is not shown)")
        return cls(
            age=number("age", 0, 130),
            sex=sex,
            weight_kg=number("weight_kg", 0.2, 500),
            pregnant=pregnant,
            egfr=number("egfr", 0, 200),
            allergies=strings("allergies"),
            medications=strings("medications"),
        )

    @classmethod
    def from_json_bytes(cls, raw: bytes, origin: str = "patient file") -> "PatientContext":
        return cls.from_dict(decode_json_document(raw, origin))

    @classmethod
    def from_file(cls, path: str | Path) -> "PatientContext":
        p = Path(path)
        return cls.from_json_bytes(read_user_file(p, "patient file"), origin=f"patient file {p}")


#: The fields of an imported patient whose source an import names (``ImportedPatient.sources``):
#: the context's fields, and ``creatinine`` (shown, not part of the context).
SOURCE_FIELDS: tuple[str, ...] = ("age", "sex", "weight_kg", "pregnant", "egfr", "creatinine", "allergies", "medications")


@dataclass(frozen=True)
class ImportedPatient:
    """A patient file as read: the context the app uses, where each value came from, and what could not be used.

    ``sources`` maps a field of ``SOURCE_FIELDS`` (for the lists, ``"allergies: TEXT"`` /
    ``"medications: TEXT"`` per item) to a line such as ``"Observation/obs-12 (LOINC 33914-3, 2026-10-02)"``.
    ``notes`` lists, one line each, what the import could not map or flags (unknown unit, code not in
    the formulary, stale observation, ...). A file in the app's own JSON format has ``format`` "json"
    and no sources or notes.
    """

    context: PatientContext
    sources: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    format: str = "json"  # "json" (the app's own) | "fhir"
    creatinine_umol_l: float | None = None  # latest serum creatinine, shown beside eGFR

    @property
    def creatinine_mg_dl(self) -> float | None:
        return None if self.creatinine_umol_l is None else round(self.creatinine_umol_l / CREATININE_UMOL_PER_MG_DL, 2)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": self.format, "patient": self.context.to_dict(), "sources": dict(self.sources),
                               "notes": list(self.notes)}
        if self.creatinine_umol_l is not None:
            out["creatinine"] = {"umol_l": round(self.creatinine_umol_l, 1), "mg_dl": self.creatinine_mg_dl}
        return out


#: Serum creatinine: 1 mg/dL = 88.42 umol/L.
CREATININE_UMOL_PER_MG_DL = 88.42
