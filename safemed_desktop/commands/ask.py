"""``safemed ask``: ask a question on the local model, headless."""

from __future__ import annotations

import json
import os
import sys

from ..errors import GenerationCancelled, InputError, SafeMedError
from ..records import AnswerRecord, PatientContext, TokenEvent
from ..service import SafeMedService
from ._common import add_as_argument, cli_service, read_clinical_text, unlocked_store, warn_visible_argument


def register(sub) -> None:
    p = sub.add_parser("ask", help="ask a clinical question on the local model")
    p.add_argument("question", nargs="?", metavar="QUESTION|-",
                   help="'-' reads the question from standard input (recommended: a question given here"
                        " is visible to other local users, e.g. in `ps`)")
    p.add_argument("--file", metavar="FILE", help="read the question from FILE (UTF-8)")
    p.add_argument("--patient", metavar="FILE.json", help="patient context: SafeMed JSON or a FHIR R4 Bundle")
    p.add_argument("--model", metavar="ID|PATH", help="model id from a manifest, or a .gguf path")
    p.add_argument("--max-tokens", type=int, metavar="N", help="maximum tokens in the answer")
    p.add_argument("--temperature", type=float, metavar="T", help="sampling temperature")
    p.add_argument("--json", action="store_true", help="print one JSON record instead of streaming text")
    p.add_argument("--no-store", action="store_true", help="do not save the answer in the encrypted store")
    p.add_argument("--conversation", metavar="ID",
                   help="continue the stored conversation ID ('new' starts one): the model reads its earlier turns, "
                        "its patient context is used unless --patient is given, and the answer is stored as its next"
                        " turn (the conversation id is printed)")
    add_as_argument(p)
    p.set_defaults(func=run)


def question_from_args(args) -> str:
    """The question: from standard input (``-``), a file (``--file``), or (with a warning) the argument."""
    if args.file is not None and args.question is not None:
        raise InputError("give the question once: as '-' (standard input), with --file, or as an argument")
    if args.file is not None:
        return read_clinical_text(args.file, "question")
    if args.question is None:
        raise InputError("no question: give '-' to read it from standard input, or --file FILE")
    if args.question == "-":
        return read_clinical_text("-", "question")
    warn_visible_argument("question", "'-' (standard input) or --file FILE")
    return args.question


def run(args) -> int:
    if args.max_tokens is not None and args.max_tokens < 1:
        raise InputError("--max-tokens must be at least 1")
    question = question_from_args(args)
    if args.conversation is not None and args.no_store:
        raise InputError("--conversation stores the answer as the conversation's next turn; drop --no-store")
    service = cli_service(model=args.model)
    patient = PatientContext()
    if args.conversation is not None:
        return _run_in_conversation(args, service, question)
    if args.patient:
        patient = _read_patient(service, args.patient)
    loaded = service.load_model()
    if not args.json:
        _print_model_banner(loaded)

    record = _stream(service, args, question, patient)

    stored_note, provenance = (None, None) if args.no_store else _store(service, record, args.as_profile)

    if args.json:
        out = record.to_dict()
        out["model"]["label"] = loaded.label
        out["model"]["load"] = loaded.load_note
        out["stored"] = provenance is not None
        out["provenance"] = provenance
        if stored_note and provenance is None:
            out["not_stored_because"] = stored_note
        print(json.dumps(out, ensure_ascii=False))
    else:
        _print_text(record)
        if stored_note:
            print(stored_note, file=sys.stderr)
    return 0


def _print_model_banner(loaded) -> None:
    """The model's status before its answer (plain and conversation asks alike): demo, unapproved."""
    if loaded.identity.demo:
        print("[DEMO MODEL: not clinically validated]", file=sys.stderr)
    if not loaded.identity.approved:
        print("[UNAPPROVED MODEL: no manifest names this file]", file=sys.stderr)


def _read_patient(service: SafeMedService, path: str) -> PatientContext:
    """The app's JSON or FHIR R4 patient file; what the import could not use is said before the answer."""
    imported = service.read_patient_file(path)
    for note in imported.notes:
        print(f"[patient file: {note}]", file=sys.stderr)
    return imported.context


def _stream(service: SafeMedService, args, question: str, patient: PatientContext, **ask_kwargs) -> AnswerRecord:
    """Ask, printing tokens as they come (not with --json); the answer record. Ctrl+C stops the model."""
    record: AnswerRecord | None = None
    try:
        for item in service.ask(question, patient, max_tokens=args.max_tokens, temperature=args.temperature,
                                **ask_kwargs):
            if isinstance(item, TokenEvent):
                if not args.json:
                    sys.stdout.write(item.text)
                    sys.stdout.flush()
            else:
                record = item
    except KeyboardInterrupt:
        service.cancel()
        raise GenerationCancelled("generation stopped by the user") from None
    if record is None:
        raise SafeMedError("the question produced no answer record")
    return record


def _run_in_conversation(args, service: SafeMedService, question: str) -> int:
    """``ask --conversation ID``: read the conversation, ask with its earlier turns, store the next turn."""
    from ..service import Conversation

    with unlocked_store(service, who=args.as_profile) as store:
        conv = (Conversation(id=None, title="", created_at=0.0, clinician_id=None, turns=())  # type: ignore[arg-type]
                if args.conversation == "new" else service.open_conversation(store, args.conversation))
        patient = conv.patient
        if args.patient:
            patient = _read_patient(service, args.patient)
        loaded = service.load_model()
        if not args.json:
            _print_model_banner(loaded)
        dropped: list[int] = []
        record = _stream(service, args, question, patient, history=conv.history(),
                         on_screened=lambda _s, n: dropped.append(n))
        cid, provenance = service.record_turn(store, conv.id, record)
    n_dropped = dropped[0] if dropped else 0
    if args.json:
        out = record.to_dict()
        out["model"]["label"] = loaded.label
        out["model"]["load"] = loaded.load_note
        out.update(stored=True, provenance=provenance, conversation={"id": cid, "turn": len(conv.turns) + 1,
                                                                     "earlier_turns_left_out": n_dropped})
        print(json.dumps(out, ensure_ascii=False))
    else:
        _print_text(record)
        if n_dropped:
            print(f"[note: the {n_dropped} oldest turn(s) were left out of what the model read, to fit its context]",
                  file=sys.stderr)
        print(f"[stored as turn {len(conv.turns) + 1} of conversation {cid}]", file=sys.stderr)
    return 0


def _store(service: SafeMedService, record: AnswerRecord, who: str | None = None) -> tuple[str, dict | None]:
    """Record the answer when the store exists and can be unlocked; say why not otherwise.

    The answer has been printed (or is about to be) whatever happens here: a store that cannot
    take it is reported in one line, never at the cost of the answer.
    """
    if not service.store_exists():
        return "[not stored: no encrypted store yet; create one with 'safemed store init']", None
    if not os.environ.get("SAFEMED_PASSPHRASE") and not sys.stdin.isatty():
        return "[not stored: the store is locked; set SAFEMED_PASSPHRASE or run interactively]", None
    try:
        with unlocked_store(service, who=who) as store:
            provenance = service.record_answer(store, record)
    except SafeMedError as exc:
        return f"[not stored: {exc}]", None
    what = "blocked attempt" if record.blocked else "answer"
    return f"[{what} stored as {record.id}]", provenance


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
            names = ", ".join(record.guard.collapsed_by)
            print(f"\n[answer collapsed in the GUI behind the alert of: {names}]", file=out)
        if record.timings:
            t = record.timings
            print(f"\n({t.completion_tokens} tokens, {t.tokens_per_s:.1f} tok/s, first token after {t.ttft_ms:.0f} ms;"
                  f" finish: {record.finish_reason})", file=out)
    print("\nClinical Trust Signals:", file=out)
    for s in record.signals:
        print(f"  {s.name:<22} {s.level.upper():<13} {s.summary}", file=out)
