"""``safemed signals``: Clinical Trust Signals for a given question and answer, without generating.

Input (a file or stdin), UTF-8 JSON::

    {"question": "...", "answer": "...", "patient": {...}, "reasoning": "..."}

``answer``, ``patient`` and ``reasoning`` are optional. No model runs, so ``confidence`` is
``not_assessed``. ``--json`` prints exactly ``{"signals": [...]}``.
"""

from __future__ import annotations

import dataclasses
import json
import sys

from ..errors import InputError
from ._common import cli_service


def register(sub) -> None:
    p = sub.add_parser("signals", help="compute trust signals for a question and answer (no generation)")
    p.add_argument("--file", metavar="FILE.json", help='read {"question", "answer", "patient"?} from FILE (default: stdin)')
    p.add_argument("--patient", metavar="FILE", help="patient context from a file (SafeMed JSON or a FHIR R4 "
                                                   "export) instead of the document's \"patient\"")
    p.add_argument("--json", action="store_true", help='print {"signals": [...]} as JSON')
    p.set_defaults(func=run)


def run(args) -> int:
    service = cli_service()
    if args.file:
        raw = service.read_user_file(args.file, "input file")
        origin = f"input file {args.file}"
    else:
        raw = sys.stdin.buffer.read()
        origin = "standard input"
    ctx = service.read_signal_input(raw, origin)
    if args.patient:
        if not ctx.patient.is_empty():
            raise InputError(f"{origin} has a \"patient\" and --patient names another: give one of them")
        imported = service.read_patient_file(args.patient)
        for note in imported.notes:
            print(f"[patient file: {note}]", file=sys.stderr)
        ctx = dataclasses.replace(ctx, patient=imported.context)
    signals = service.assess_signals(ctx)
    if args.json:
        print(json.dumps({"signals": [s.to_dict() for s in signals]}, ensure_ascii=False))
        return 0
    for s in signals:
        print(f"{s.name:<22} {s.level.upper():<13} {s.summary}")
        for e in s.evidence:
            print(f"{'':<22} - [{e.target} {e.start}:{e.end}] {e.text!r}: {e.detail}")
    return 0
