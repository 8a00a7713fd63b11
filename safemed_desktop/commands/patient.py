"""``safemed patient import FILE [--json]``: read a patient file (FHIR R4 or the app's JSON) and print the
normalised patient context, where each value came from, and what could not be used."""

from __future__ import annotations

import json

from ..records import ImportedPatient
from ._common import cli_service


def register(sub) -> None:
    p = sub.add_parser("patient", help="import and show a patient context (FHIR R4 or SafeMed JSON)")
    psub = p.add_subparsers(dest="patient_command", metavar="ACTION", required=True)
    imp = psub.add_parser("import", help="read a FHIR R4 Bundle (or SafeMed patient JSON) and print the patient context")
    imp.add_argument("file", metavar="FILE", help="FHIR R4 Bundle / $everything result / Patient JSON, or SafeMed patient JSON")
    imp.add_argument("--json", action="store_true",
                     help='print {"format", "patient", "sources", "notes", "creatinine"?}; "patient" is the --patient file format')
    imp.set_defaults(func=run_import)


def run_import(args) -> int:
    imported = cli_service().read_patient_file(args.file)
    if args.json:
        print(json.dumps(imported.to_dict(), ensure_ascii=False, indent=2))
        return 0
    print(format_imported(imported))
    return 0


def format_imported(imported: ImportedPatient) -> str:
    """The import as text: one line per field with its source, the lists item by item, then the notes."""
    p, src = imported.context, imported.sources
    lines = [f"Patient context ({'FHIR R4 import' if imported.format == 'fhir' else 'SafeMed patient JSON'})"]

    def row(label: str, value: object, key: str) -> None:
        shown = "-" if value is None else value
        where = f"  [{src[key]}]" if key in src else ""
        lines.append(f"  {label:<12} {shown}{where}")

    row("age", None if p.age is None else f"{p.age:g} y", "age")
    row("sex", p.sex, "sex")
    row("weight", None if p.weight_kg is None else f"{p.weight_kg:g} kg", "weight_kg")
    row("pregnant", None if p.pregnant is None else ("yes" if p.pregnant else "no"), "pregnant")
    row("eGFR", None if p.egfr is None else f"{p.egfr:g} mL/min/1.73m2", "egfr")
    if imported.creatinine_umol_l is not None:
        row("creatinine", f"{imported.creatinine_umol_l:.0f} umol/L ({imported.creatinine_mg_dl:g} mg/dL)", "creatinine")
    for label, items, key in (("allergies", p.allergies, "allergies"), ("medications", p.medications, "medications")):
        lines.append(f"  {label:<12} {'-' if not items else ''}")
        for item in items:
            where = src.get(f"{key}: {item}")
            lines.append(f"    - {item}" + (f"  [{where}]" if where else ""))
    if imported.notes:
        lines.append(f"Notes ({len(imported.notes)}):")
        lines.extend(f"  ! {n}" for n in imported.notes)
    return "\n".join(lines)
