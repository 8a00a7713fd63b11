"""``safemed signals``: Clinical Trust Signals for a given question and answer, without generating.

Input (a file or stdin), UTF-8 JSON::

    {"question": "...", "answer": "...", "patient": {...}, "reasoning": "..."}

``answer``, ``patient`` and ``reasoning`` are optional. No model runs, so ``confidence`` is
``not_assessed``. ``--json`` prints exactly ``{"signals": [...]}``.
"""

from __future__ import annotations

import json
import sys

from ._common import cli_service


def register(sub) -> None:
    p = sub.add_parser("signals", help="compute trust signals for a question and answer (no generation)")
    p.add_argument("--file", metavar="FILE.json", help='read {"question", "answer", "patient"?} from FILE (default: stdin)')
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
    signals = service.assess_signals(service.read_signal_input(raw, origin))
    if args.json:
        print(json.dumps({"signals": [s.to_dict() for s in signals]}, ensure_ascii=False))
        return 0
    for s in signals:
        print(f"{s.name:<22} {s.level.upper():<13} {s.summary}")
        for e in s.evidence:
            print(f"{'':<22} - [{e.target} {e.start}:{e.end}] {e.text!r}: {e.detail}")
    return 0
