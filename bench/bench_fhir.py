"""FHIR R4 import of a 10,000-resource patient export vs ``json.load`` of the same file, same run.

The Bundle is the hand-written Synthea-style export of ``tests/fhir/data/synthea_maria.json`` grown to
N resources with older encounters, each with its claim, vital signs and labs (three in ten resources are
weights, eGFRs or creatinines the import validates and maps; the rest are counted and skipped), the way a
real ``$everything`` of a patient with a long history looks.

* ``json.load`` of the file: the baseline (the least any import has to do)
* ``SafeMedService.read_patient_file`` (read, decode, validate with fhir.resources, map): median of runs
* target: the import under 2 s on this machine; the ratio to the baseline is reported beside it
"""

from __future__ import annotations

import copy
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

if __package__ in (None, ""):  # `python bench/bench_fhir.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fhir" / "data" / "synthea_maria.json"
N = int(os.environ.get("SAFEMED_BENCH_FHIR_RESOURCES", "10000"))
RUNS = int(os.environ.get("SAFEMED_BENCH_FHIR_RUNS", "5"))
TARGET_S = 2.0


def _obs(i: int, day: str, loinc: str, display: str, value: float, unit: str, subject: str, category: str) -> dict:
    return {"fullUrl": f"urn:uuid:hist-obs-{loinc}-{i}", "resource": {
        "resourceType": "Observation", "id": f"hist-obs-{loinc}-{i}", "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": category}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc, "display": display}], "text": display},
        "subject": {"reference": subject}, "encounter": {"reference": f"urn:uuid:hist-enc-{i}"},
        "effectiveDateTime": f"{day}T09:00:00-05:00", "issued": f"{day}T09:00:00.412-05:00",
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}},
        "request": {"method": "POST", "url": "Observation"}}


def big_bundle(n: int = N) -> dict:
    """The Synthea-style fixture grown to exactly ``n`` resources with older, realistic history."""
    bundle = json.loads(FIXTURE.read_text())
    subject = bundle["entry"][0]["fullUrl"]
    start = date(2001, 1, 1)
    entries = bundle["entry"]
    i = 0
    while len(entries) < n:
        day = (start + timedelta(days=(i * 3) % 9000)).isoformat()
        block = [
            {"fullUrl": f"urn:uuid:hist-enc-{i}", "resource": {
                "resourceType": "Encounter", "id": f"hist-enc-{i}", "status": "finished",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                "type": [{"coding": [{"system": "http://snomed.info/sct", "code": "185349003", "display": "Encounter for check up"}]}],
                "subject": {"reference": subject}, "period": {"start": f"{day}T09:00:00-05:00", "end": f"{day}T09:30:00-05:00"}}},
            {"fullUrl": f"urn:uuid:hist-claim-{i}", "resource": {
                "resourceType": "Claim", "id": f"hist-claim-{i}", "status": "active", "use": "claim",
                "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}]},
                "patient": {"reference": subject}, "created": f"{day}T09:30:00-05:00",
                "provider": {"display": "LOWELL GENERAL HOSPITAL"},
                "priority": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/processpriority", "code": "normal"}]},
                "insurance": [{"sequence": 1, "focal": True, "coverage": {"display": "Medicare"}}],
                "total": {"value": 125.0 + i % 50, "currency": "USD"}}},
            {"fullUrl": f"urn:uuid:hist-eob-{i}", "resource": {
                "resourceType": "ExplanationOfBenefit", "id": f"hist-eob-{i}", "status": "active", "use": "claim",
                "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}]},
                "patient": {"reference": subject}, "created": f"{day}T09:30:00-05:00", "outcome": "complete",
                "insurer": {"display": "Medicare"}, "provider": {"display": "LOWELL GENERAL HOSPITAL"},
                "claim": {"reference": f"urn:uuid:hist-claim-{i}"},
                "insurance": [{"focal": True, "coverage": {"display": "Medicare"}}]}},
            _obs(i, day, "29463-7", "Body Weight", 64 + (i % 9) * 0.5, "kg", subject, "vital-signs"),
            _obs(i, day, "8302-2", "Body Height", 158.2, "cm", subject, "vital-signs"),
            _obs(i, day, "8867-4", "Heart rate", 60 + i % 30, "/min", subject, "vital-signs"),
            _obs(i, day, "33914-3", "Glomerular filtration rate/1.73 sq M.predicted", 40 + i % 30, "mL/min/{1.73_m2}", subject, "laboratory"),
            _obs(i, day, "2160-0", "Creatinine [Mass/volume] in Serum or Plasma", 1.1 + (i % 7) / 10, "mg/dL", subject, "laboratory"),
            _obs(i, day, "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", 6.0 + (i % 10) / 10, "%", subject, "laboratory"),
            {"fullUrl": f"urn:uuid:hist-proc-{i}", "resource": {
                "resourceType": "Procedure", "id": f"hist-proc-{i}", "status": "completed",
                "code": {"coding": [{"system": "http://snomed.info/sct", "code": "430193006", "display": "Medication Reconciliation (procedure)"}]},
                "subject": {"reference": subject}, "encounter": {"reference": f"urn:uuid:hist-enc-{i}"},
                "performedPeriod": {"start": f"{day}T09:00:00-05:00", "end": f"{day}T09:15:00-05:00"}}},
        ]
        entries.extend(copy.deepcopy(block[: n - len(entries)]))
        i += 1
    return bundle


def run() -> dict:
    from safemed_desktop.config import load_config
    from safemed_desktop.service import SafeMedService

    service = SafeMedService(load_config())
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="safemed-bench-fhir-") as tmp:
        path = Path(tmp) / "everything.json"
        path.write_text(json.dumps(big_bundle(N)))
        size_mb = path.stat().st_size / 1e6
        t = time.perf_counter()
        first = service.read_patient_file(path)  # includes loading fhir.resources and the packs once
        first_s = time.perf_counter() - t
        assert first.context.egfr == 25.0 and first.context.weight_kg == 61.5, first.context
        base, imp = [], []
        for _ in range(RUNS):  # interleaved: both see the same cache and CPU state
            t = time.perf_counter()
            with path.open("rb") as fh:
                json.load(fh)
            base.append(time.perf_counter() - t)
            t = time.perf_counter()
            service.read_patient_file(path)
            imp.append(time.perf_counter() - t)
    base_s, imp_s = statistics.median(base), statistics.median(imp)
    rows.append({"metric": f"json.load of the {N:,}-resource Bundle ({size_mb:.1f} MB), s", "value": round(base_s, 4),
                 "target": "baseline", "pass": None})
    rows.append({"metric": "FHIR import (read, validate, map), median s", "value": round(imp_s, 4),
                 "target": f"< {TARGET_S:g} s", "pass": imp_s < TARGET_S})
    rows.append({"metric": "FHIR import / json.load", "value": round(imp_s / base_s, 2), "target": "reported", "pass": None})
    rows.append({"metric": "first import in the process (loads fhir.resources), s", "value": round(first_s, 4),
                 "target": f"< {TARGET_S:g} s", "pass": first_s < TARGET_S})
    return {"title": f"FHIR R4 import of a {N:,}-resource Bundle vs json.load", "rows": rows,
            "resources": N, "notes_in_import": len(first.notes)}


if __name__ == "__main__":
    res = run()
    for row in res["rows"]:
        print(f"{row['metric']:<60} {row['value']!s:>10}  {row['target']}")
