"""``safemed signals``: Clinical Trust Signals for a given question and answer, without generating.

Input (a file or stdin), UTF-8 JSON::

    {"question": "...", "answer": "...", "patient": {...}, "reasoning": "..."}

``answer``, ``patient`` and ``reasoning`` are optional. No model runs, so ``confidence`` is
``not_assessed``. ``--json`` prints exactly ``{"signals": [...]}``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import InputError
from ..jsonio import decode_json_document, read_user_file
from ..patient import PatientContext
from ..signals.record import SignalContext

_FIELDS = ("question", "answer", "patient", "reasoning")


def register(sub) -> None:
    p = sub.add_parser("signals", help="compute trust signals for a question and answer (no generation)")
    p.add_argument("--file", metavar="FILE.json", help='read {"question", "answer", "patient"?} from FILE (default: stdin)')
    p.add_argument("--json", action="store_true", help='print {"signals": [...]} as JSON')
    p.set_defaults(func=run)


def read_input(raw: bytes, origin: str) -> SignalContext:
    """Parse and validate the input document into a SignalContext (InputError on any problem)."""
    from ..inference.reasoning import split_steps
    from ..service import validate_question

    data = decode_json_document(raw, origin)
    if not isinstance(data, dict):
        raise InputError(f"{origin} must hold a JSON object with a \"question\"")
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise InputError(f"{origin} has unknown field(s): {', '.join(unknown)} (known: {', '.join(_FIELDS)})")
    if "question" not in data:
        raise InputError(f"{origin} has no \"question\"")
    question = validate_question(data["question"])
    answer = data.get("answer", "")
    reasoning = data.get("reasoning", "")
    for key, value in (("answer", answer), ("reasoning", reasoning)):
        if not isinstance(value, str):
            raise InputError(f"{origin}: \"{key}\" must be text")
    patient = PatientContext.from_dict(data.get("patient"))
    return SignalContext(
        question=question,
        answer=answer.strip(),
        patient=patient,
        reasoning=reasoning.strip(),
        reasoning_steps=split_steps(reasoning) if reasoning.strip() else (),
    )


def run(args) -> int:
    from ..service import assess_signals

    if args.file:
        path = Path(args.file)
        raw = read_user_file(path, "input file")
        origin = f"input file {path}"
    else:
        raw = sys.stdin.buffer.read()
        origin = "standard input"
    ctx = read_input(raw, origin)
    signals = assess_signals(ctx)
    if args.json:
        print(json.dumps({"signals": [s.to_dict() for s in signals]}, ensure_ascii=False))
        return 0
    for s in signals:
        print(f"{s.name:<22} {s.level.upper():<13} {s.summary}")
        for e in s.evidence:
            print(f"{'':<22} - [{e.target} {e.start}:{e.end}] {e.text!r}: {e.detail}")
    return 0
