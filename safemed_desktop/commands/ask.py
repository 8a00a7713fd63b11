"""``safemed ask``: ask a question on the local model, headless."""

from __future__ import annotations

import json
import os
import sys

from ..answer import AnswerRecord
from ..errors import GenerationCancelled, InputError
from ..inference.events import TokenEvent
from ..patient import PatientContext
from ..service import SafeMedService
from ._common import load_cli_config
from .store import read_passphrase


def register(sub) -> None:
    p = sub.add_parser("ask", help="ask a clinical question on the local model")
    p.add_argument("question", help="the question (use quotes)")
    p.add_argument("--patient", metavar="FILE.json", help="patient context JSON file")
    p.add_argument("--model", metavar="ID|PATH", help="model id from a manifest, or a .gguf path")
    p.add_argument("--max-tokens", type=int, metavar="N", help="maximum tokens in the answer")
    p.add_argument("--temperature", type=float, metavar="T", help="sampling temperature")
    p.add_argument("--json", action="store_true", help="print one JSON record instead of streaming text")
    p.add_argument("--no-store", action="store_true", help="do not save the answer in the encrypted store")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.max_tokens is not None and args.max_tokens < 1:
        raise InputError("--max-tokens must be at least 1")
    patient = PatientContext.from_file(args.patient) if args.patient else PatientContext()
    config = load_cli_config(model=args.model)
    service = SafeMedService(config)
    service.load_model()
    loaded = service.loaded
    if not args.json:
        banner = []
        if loaded.identity.demo:
            banner.append("DEMO MODEL: not clinically validated")
        if not loaded.identity.approved:
            banner.append("UNAPPROVED MODEL: no manifest names this file")
        for line in banner:
            print(f"[{line}]", file=sys.stderr)

    record: AnswerRecord | None = None
    try:
        for item in service.ask(args.question, patient, max_tokens=args.max_tokens, temperature=args.temperature):
            if isinstance(item, TokenEvent):
                if not args.json:
                    sys.stdout.write(item.text)
                    sys.stdout.flush()
            else:
                record = item
    except KeyboardInterrupt:
        service.cancel()
        raise GenerationCancelled("generation stopped by the user") from None
    assert record is not None

    stored_note = None
    provenance = None
    if not args.no_store and not record.blocked:
        stored_note, provenance = _store(service, record)

    if args.json:
        out = record.to_dict()
        out["model"]["label"] = loaded.resolved.label
        out["model"]["load"] = loaded.load_note
        out["stored"] = provenance is not None
        out["provenance"] = provenance
        print(json.dumps(out, ensure_ascii=False))
    else:
        _print_text(record)
        if stored_note:
            print(stored_note, file=sys.stderr)
    return 0


def _store(service: SafeMedService, record: AnswerRecord) -> tuple[str, dict | None]:
    """Save the answer when the store exists and can be unlocked; say why not otherwise."""
    if not service.store_exists():
        return "[not stored: no encrypted store yet; create one with 'safemed store init']", None
    if not os.environ.get("SAFEMED_PASSPHRASE") and not sys.stdin.isatty():
        return "[not stored: the store is locked; set SAFEMED_PASSPHRASE or run interactively]", None
    with service.open_store() as store:
        store.unlock(read_passphrase())
        store.save_answer(record)
        return f"[stored as {record.id}]", store.provenance(record.id)


def _print_text(record: AnswerRecord) -> None:
    out = sys.stdout
    if record.blocked:
        print(f"BLOCKED: {record.block_reason}", file=out)
    else:
        out.write("\n")
        if record.reasoning_steps:
            print("\nReasoning steps:", file=out)
            for i, step in enumerate(record.reasoning_steps, 1):
                print(f"  {i}. {step}", file=out)
        if record.answer_collapsed:
            print("\n[answer collapsed behind a medication-safety alert in the GUI]", file=out)
        if record.timings:
            t = record.timings
            print(f"\n({t.completion_tokens} tokens, {t.tokens_per_s:.1f} tok/s, first token after {t.ttft_ms:.0f} ms;"
                  f" finish: {record.finish_reason})", file=out)
    print("\nClinical Trust Signals:", file=out)
    for s in record.signals:
        print(f"  {s.name:<22} {s.level.upper():<13} {s.summary}", file=out)
