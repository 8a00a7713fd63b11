"""FHIR R4 import: a Bundle (or ``$everything`` result, or one Patient with its resources) -> the patient
context the app uses, with each value's source and a note for everything that could not be used.

Built on ``fhir.resources`` (pydantic-validated FHIR models; its ``R4B`` package, which reads R4 JSON
for every resource used here). For speed on large exports, only the resources that can change the
context are validated and mapped (Patient; Observations with a weight, eGFR, creatinine or pregnancy
code; Conditions about pregnancy; AllergyIntolerance; MedicationStatement; MedicationRequest;
Medication); every other resource is counted in one "skipped" note. No Qt, no disk: the service reads
the file (``SafeMedService.read_patient_file``) and hands the decoded JSON here.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from ..records.patient import ImportedPatient

#: A file larger than this is refused before it is read (a patient's $everything is a few MB).
MAX_FILE_BYTES = 256 * 1024 * 1024
#: A Bundle with more resources than this is refused (10,000 import in well under 2 s).
MAX_RESOURCES = 50_000


def looks_like_fhir(data: Any) -> bool:
    """Whether a decoded JSON document is FHIR (an object with ``resourceType``, or a list of them)."""
    if isinstance(data, dict):
        return "resourceType" in data
    return isinstance(data, list) and bool(data) and all(isinstance(x, dict) and "resourceType" in x for x in data)


def import_fhir(data: Any, *, origin: str = "FHIR file", today: date | None = None,
                stale_days: int = 90) -> ImportedPatient:
    """Map a decoded FHIR R4 document to an :class:`ImportedPatient`; InputError when it cannot be used."""
    from .importer import FhirImport

    return FhirImport(origin, today or date.today(), stale_days).run(data)


__all__ = ["MAX_FILE_BYTES", "MAX_RESOURCES", "import_fhir", "looks_like_fhir"]
