"""``safemed conversations``: list, read, rename and archive the stored conversations of the profile acting.

Every action reads or writes clinical records, so it acts as one profile (``--as`` or ``SAFEMED_PROFILE``,
its PIN from ``SAFEMED_PROFILE_PIN`` or a prompt) on the unlocked store; a clinician sees and changes only
the conversations they started. Renaming and archiving are audited store writes; an archived conversation is
hidden from the list (``--archived`` shows it), never deleted, and ``archive --undo`` brings it back.
"""

from __future__ import annotations

import json
import time
from typing import Any

from ..service import LEVEL_TEXT, finish_text, signal_title
from ..service.conversations import model_banner
from ._common import add_as_argument, cli_service, read_clinical_text, unlocked_store, warn_visible_argument


def register(sub) -> None:
    p = sub.add_parser("conversations", help="list, read, rename and archive your stored conversations")
    csub = p.add_subparsers(dest="conversations_command", metavar="ACTION", required=True)
    ls = csub.add_parser("list", help="your conversations, newest first (archived ones only with --archived)")
    ls.add_argument("--search", metavar="TEXT", help="only conversations whose title, questions or answers hold TEXT")
    ls.add_argument("--archived", action="store_true", help="list archived conversations too (marked archived)")
    ls.add_argument("--json", action="store_true", help="print JSON")
    add_as_argument(ls)
    ls.set_defaults(func=run_list)
    show = csub.add_parser("show", help="every turn of a conversation: question, patient snapshot, answer, signals")
    show.add_argument("conversation_id", metavar="ID")
    show.add_argument("--json", action="store_true", help="print JSON (each turn as `ask --json` prints a record)")
    add_as_argument(show)
    show.set_defaults(func=run_show)
    ren = csub.add_parser("rename", help="give a conversation a new title (the old one stays on record)")
    ren.add_argument("conversation_id", metavar="ID")
    ren.add_argument("title", metavar="TITLE|-", help="the new title, one line; '-' reads it from standard input")
    add_as_argument(ren)
    ren.set_defaults(func=run_rename)
    arc = csub.add_parser("archive", help="hide a conversation from the list (nothing is deleted)")
    arc.add_argument("conversation_id", metavar="ID")
    arc.add_argument("--undo", action="store_true", help="un-archive it: list it again")
    add_as_argument(arc)
    arc.set_defaults(func=run_archive)


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def run_list(args) -> int:
    service = cli_service()
    with unlocked_store(service, who=args.as_profile) as store:
        rows = service.list_conversations(store, args.search, include_archived=args.archived)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    if not rows:
        print("no conversations" + (" match" if args.search else "") +
              ("" if args.archived else " (archived ones are listed with --archived)"))
        return 0
    for row in rows:
        if "error" in row:
            print(f"{row['id']}  {_when(row['updated_at'])}  unreadable: {row['error']}")
            continue
        n = row["n_turns"]
        marks = [f"{n} turn{'s' if n != 1 else ''}", f"signals {LEVEL_TEXT.get(row['worst_level'], row['worst_level'])}"]
        if row.get("blocked"):
            marks.append("a question was blocked")
        if row.get("incomplete"):
            marks.append("an answer is incomplete")
        if row.get("archived"):
            marks.append("archived")
        print(f"{row['id']}  {_when(row['updated_at'])}  {row['title']}  [{'; '.join(marks)}]")
    return 0


def _turn_dict(i: int, record) -> dict[str, Any]:
    return {"turn": i, **record.to_dict()}


def run_show(args) -> int:
    service = cli_service()
    with unlocked_store(service, who=args.as_profile) as store:
        conv = service.open_conversation(store, args.conversation_id)
    if args.json:
        print(json.dumps({"id": conv.id, "title": conv.title, "created_at": conv.created_at,
                          "clinician_id": conv.clinician_id, "archived": conv.archived,
                          "turns": [_turn_dict(i, t) for i, t in enumerate(conv.turns, 1)]},
                         ensure_ascii=False, indent=2))
        return 0
    print(f"{conv.title or 'Conversation'}")
    print(f"conversation {conv.id}, started {_when(conv.created_at)}, {len(conv.turns)} turn(s)"
          + (", archived" if conv.archived else ""))
    for banner in sorted({model_banner(t) for t in conv.turns if t.model.demo or not t.model.approved}):
        print(f"[{banner}]")
    for i, t in enumerate(conv.turns, 1):
        print(f"\n== Turn {i} ({_when(t.created_at)}; answer {t.id}) ==")
        print("Patient: " + (t.patient.describe() if not t.patient.is_empty() else "none given"))
        print("Question:")
        print(_indent(t.question))
        if t.blocked:
            print(f"Blocked by site policy: {t.block_reason or 'no reason given'}")
        else:
            if t.reasoning_steps:
                print("Reasoning:")
                for n, step in enumerate(t.reasoning_steps, 1):
                    print(f"  {n}. {step}")
            print("Answer:")
            print(_indent(t.answer or "(no answer text)"))
            if t.finish_reason != "stop":
                print(f"[{finish_text(t.finish_reason)}]")
        print("Signals:")
        for s in t.signals:
            print(f"  {signal_title(s.name):<30} {LEVEL_TEXT.get(s.level, s.level):<13} {s.summary}")
    return 0


def _indent(text: str) -> str:
    return "\n".join("  " + ln for ln in text.strip().splitlines()) or "  "


def run_rename(args) -> int:
    if args.title == "-":
        title = read_clinical_text("-", "title")
    else:
        warn_visible_argument("title", "'-' (standard input)")
        title = args.title
    service = cli_service()
    with unlocked_store(service, who=args.as_profile) as store:
        stored = service.rename_conversation(store, args.conversation_id, title)
    print(f"conversation {args.conversation_id} renamed: {stored}")
    return 0


def run_archive(args) -> int:
    service = cli_service()
    with unlocked_store(service, who=args.as_profile) as store:
        service.archive_conversation(store, args.conversation_id, archived=not args.undo)
    if args.undo:
        print(f"conversation {args.conversation_id} un-archived: it is listed again")
    else:
        print(f"conversation {args.conversation_id} archived: hidden from the list (nothing deleted; "
              f"`safemed conversations archive {args.conversation_id} --undo` lists it again)")
    return 0
