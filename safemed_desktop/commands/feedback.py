"""``safemed feedback ANSWER_ID --score criterion=N ...``: score an answer from a script."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import InputError
from ..records import FeedbackDraft
from ._common import add_as_argument, cli_service, read_clinical_text, unlocked_store, warn_visible_argument

_SCORE = re.compile(r"^([a-z_]+)=(\d+)$")
_STEP = re.compile(r"^(\d+):([a-z_]+)=(\d+)$")


def parse_score(text: str) -> tuple[str, int]:
    m = _SCORE.match(text.strip())
    if not m:
        raise InputError(f"--score must look like criterion=N, got {text!r}")
    return m.group(1), int(m.group(2))


def parse_step(text: str) -> tuple[int, str, int]:
    m = _STEP.match(text.strip())
    if not m:
        raise InputError(f"--step must look like STEP:criterion=N, got {text!r}")
    return int(m.group(1)), m.group(2), int(m.group(3))


def register(sub) -> None:
    p = sub.add_parser("feedback", help="record rubric scores, flags, a comment or an edit for a stored answer")
    p.add_argument("answer_id")
    p.add_argument("--score", action="append", default=[], metavar="CRITERION=N", help="score 1-5 (repeatable)")
    p.add_argument("--step", action="append", default=[], metavar="N:CRITERION=N",
                   help="score for reasoning step N (1-based; repeatable)")
    p.add_argument("--flag", action="append", default=[], help="unsafe, hallucination, outdated_guideline, ...")
    p.add_argument("--comment", help="free-text comment (stored encrypted; visible to other local users while"
                                     " the command runs: prefer --comment-file)")
    p.add_argument("--comment-file", metavar="FILE|-", help="read the comment from FILE, or '-' for standard input")
    p.add_argument("--edit-file", type=Path, help="a file holding an edited answer text (a new version)")
    p.add_argument("--clinician", help="clinician profile id: must be the profile acting (--as); kept for scripts")
    add_as_argument(p)
    p.add_argument("--rubric", default="safemed-cts@1", help="rubric reference (default safemed-cts@1)")
    p.set_defaults(func=run_feedback)


def draft_from_args(args) -> FeedbackDraft:
    """The draft the flags describe (syntax only: the store validates the values, once)."""
    comment = ""
    if getattr(args, "comment_file", None) is not None:
        if args.comment is not None:
            raise InputError("give the comment once: --comment-file FILE|- or --comment TEXT")
        comment = read_clinical_text(args.comment_file, "comment")
    elif args.comment:
        warn_visible_argument("comment", "--comment-file FILE or --comment-file - (standard input)")
        comment = args.comment
    draft = FeedbackDraft(answer_id=args.answer_id, flags=list(args.flag), comment=comment)
    for text in args.score:
        key, value = parse_score(text)
        if key in draft.scores:
            raise InputError(f"criterion {key!r} scored twice")
        draft.scores[key] = value
    for text in args.step:
        n, key, value = parse_step(text)
        draft.step_scores.setdefault(n, {})[key] = value
    if args.edit_file is not None:
        try:
            draft.edited_text = args.edit_file.read_bytes().decode("utf-8")
        except FileNotFoundError:
            raise InputError(f"edit file not found: {args.edit_file}") from None
        except UnicodeDecodeError as exc:
            raise InputError(f"edit file {args.edit_file} is not valid UTF-8 (byte {exc.start})") from None
    return draft


def run_feedback(args) -> int:
    service = cli_service()
    rubric = service.load_rubric(args.rubric)
    draft = draft_from_args(args)
    if draft.is_empty():
        raise InputError("nothing to record: give --score, --flag, --comment-file or --edit-file")
    with unlocked_store(service, who=args.as_profile) as store:
        clinician = args.clinician or store.profile["id"]  # the store refuses any other than the signed-in one
        done = service.submit_feedback(store, clinician, draft, rubric)
    if done.feedback_id is not None:
        print(f"feedback {done.feedback_id}")
    if done.edit_version is not None:
        print(f"edit version {done.edit_version}")
    return 0
