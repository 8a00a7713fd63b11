"""``safemed study create|generate|list|status|queue|show|review|unblind|analyze``: blinded expert validation.

Every action acts as a signed-in profile (``--as NAME|ID`` or ``SAFEMED_PROFILE``, its PIN from
``SAFEMED_PROFILE_PIN`` or a prompt); set-up, generation and unblinding need a lead role (site_admin,
attending), reviewing the reviewer role. ``show`` prints one case as a reviewer sees it (answers A and B in the neutral
format); nothing before ``unblind`` reveals which answer is the model's.
"""

from __future__ import annotations

import json
import re
import sys

from ..errors import InputError
from ._common import add_as_argument, cli_service, read_clinical_text, unlocked_store

_SCORE = re.compile(r"^([a-z_]+)=(\d+)$")


def _as(p) -> None:
    add_as_argument(p)


def _json_flag(p) -> None:
    p.add_argument("--json", action="store_true", help="print JSON")


def register(sub) -> None:
    p = sub.add_parser("study", help="blinded expert validation: the model against residents")
    ssub = p.add_subparsers(dest="study_command", metavar="ACTION", required=True)

    c = ssub.add_parser("create", help="import cases (CSV or JSONL) and commit the random A/B assignment")
    c.add_argument("name")
    c.add_argument("--cases", required=True, metavar="FILE", help="CSV or JSONL: case_id, vignette, resident_answer, "
                   "optional resident_level (PGY1/PGY2) and patient")
    c.add_argument("--criteria", help="comma-separated rubric criteria (default: every criterion of the rubric)")
    c.add_argument("--margin", type=float, default=0.25, help="non-inferiority margin in score points (default 0.25)")
    c.add_argument("--reviewers", type=int, default=2, help="reviews needed per case (default 2)")
    _as(c)
    _json_flag(c)
    c.set_defaults(func=run_create)

    g = ssub.add_parser("generate", help="the model's answer for every case (resumable)")
    g.add_argument("name")
    g.add_argument("--max-tokens", type=int, help="maximum tokens per answer (default: the configured max_tokens)")
    _as(g)
    _json_flag(g)
    g.set_defaults(func=run_generate)

    ls = ssub.add_parser("list", help="list studies")
    _as(ls)
    _json_flag(ls)
    ls.set_defaults(func=run_list)
    st = ssub.add_parser("status", help="a study's progress")
    st.add_argument("name")
    _as(st)
    _json_flag(st)
    st.set_defaults(func=run_status)

    q = ssub.add_parser("queue", help="the cases a reviewer still has to score")
    q.add_argument("name")
    _as(q)
    _json_flag(q)
    q.set_defaults(func=run_queue)

    sh = ssub.add_parser("show", help="one case as the reviewer sees it (vignette, answers A and B)")
    sh.add_argument("name")
    sh.add_argument("case_id")
    _as(sh)
    _json_flag(sh)
    sh.set_defaults(func=run_show)

    r = ssub.add_parser("review", help="score answers A and B of one case (final)")
    r.add_argument("name")
    r.add_argument("case_id")
    r.add_argument("--a", action="append", default=[], metavar="CRITERION=N", help="score of answer A (repeatable)")
    r.add_argument("--b", action="append", default=[], metavar="CRITERION=N", help="score of answer B (repeatable)")
    r.add_argument("--comment-file", metavar="FILE|-", help="a comment from FILE or standard input")
    _as(r)
    _json_flag(r)
    r.set_defaults(func=run_review)

    u = ssub.add_parser("unblind", help="check the assignment against its commitment and reveal it")
    u.add_argument("name")
    u.add_argument("--force", action="store_true", help="unblind although reviews are missing (recorded)")
    _as(u)
    _json_flag(u)
    u.set_defaults(func=run_unblind)

    a = ssub.add_parser("analyze", help="means, paired differences, bootstrap CIs, Wilcoxon, alpha, verdicts")
    a.add_argument("name")
    a.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    _as(a)
    _json_flag(a)
    a.set_defaults(func=run_analyze)


def _print_json(obj) -> None:
    print(json.dumps(obj, indent=2, sort_keys=True, default=str))


def run_create(args) -> int:
    service = cli_service()
    criteria = [c.strip() for c in args.criteria.split(",") if c.strip()] if args.criteria else None
    with unlocked_store(service, who=args.as_profile) as store:
        study = service.create_study(store, args.name, args.cases, criteria=criteria,
                                     margin=args.margin, min_reviewers=args.reviewers)
    if args.json:
        _print_json(study)
    else:
        print(f"study {study['name']}: {study['n_cases']} cases, {len(study['criteria'])} criteria, margin "
              f"{study['margin']:g}; assignment committed ({study['commitment'][:16]}...)")
    return 0


def run_generate(args) -> int:
    from tqdm import tqdm

    service = cli_service()
    with unlocked_store(service, who=args.as_profile) as store:
        status = service.study_status(store, args.name)
        service.load_model()
        bar = tqdm(total=status["n_cases"], initial=status["n_generated"], unit="case", file=sys.stderr,
                   disable=None, desc=f"study {args.name}")
        try:
            done = service.generate_study(store, args.name, max_tokens=args.max_tokens,
                                          progress=lambda n, total, cid: bar.update(1))
        finally:
            bar.close()
    if args.json:
        _print_json(done)
    else:
        print(f"study {args.name}: {done['n_generated']}/{done['n_cases']} answers ({done['generated_now']} new)")
    return 0


def run_list(args) -> int:
    service = cli_service()
    with unlocked_store(service, who=args.as_profile) as store:
        studies = service.list_studies(store)
    if args.json:
        _print_json(studies)
    else:
        for s in studies:
            print(f"{s['name']}\t{s['n_cases']} cases\t{s['n_generated']} answered\t{s['n_reviews']} reviews\t"
                  f"{'unblinded' if s['unblinded'] else 'blinded'}")
    return 0


def run_status(args) -> int:
    service = cli_service()
    with unlocked_store(service, who=args.as_profile) as store:
        s = service.study_status(store, args.name)
    if args.json:
        _print_json(s)
    else:
        print(f"{s['name']}: {s['n_cases']} cases, {s['n_generated']} answered, {s['n_reviews']} reviews by "
              f"{len(s['reviewers'])} reviewer(s), {'unblinded' if s['unblinded'] else 'blinded'}")
    return 0


def run_queue(args) -> int:
    service = cli_service()
    with unlocked_store(service, who=args.as_profile) as store:
        q = service.review_queue(store, args.name)
    if args.json:
        _print_json({"study": q.study, "n_cases": q.n_cases, "done": list(q.done), "pending": list(q.pending)})
    else:
        print(f"{len(q.done)}/{q.n_cases} scored; pending: {' '.join(q.pending) or '(none)'}")
    return 0


def run_show(args) -> int:
    service = cli_service()
    with unlocked_store(service, who=args.as_profile) as store:
        case = service.blinded_case(store, args.name, args.case_id)
    if args.json:
        _print_json({"case_id": case.case_id, "position": case.position, "n_cases": case.n_cases,
                     "vignette": case.vignette, "patient": case.patient_summary, "answer_a": case.answer_a,
                     "answer_b": case.answer_b, "criteria": list(case.criteria), "reviewed": case.reviewed})
    else:
        print(f"case {case.case_id} ({case.position + 1}/{case.n_cases})\n\n{case.vignette}\n")
        if case.patient_summary:
            print(f"patient: {case.patient_summary}\n")
        print(f"--- answer A ---\n{case.answer_a}\n\n--- answer B ---\n{case.answer_b}")
    return 0


def _scores(items: list[str], side: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for text in items:
        m = _SCORE.match(text.strip())
        if not m:
            raise InputError(f"--{side.lower()} must look like criterion=N, got {text!r}")
        if m.group(1) in out:
            raise InputError(f"answer {side}: criterion {m.group(1)!r} scored twice")
        out[m.group(1)] = int(m.group(2))
    return out


def run_review(args) -> int:
    service = cli_service()
    a, b = _scores(args.a, "A"), _scores(args.b, "B")
    comment = read_clinical_text(args.comment_file, "comment") if args.comment_file else None
    with unlocked_store(service, who=args.as_profile) as store:
        rid = service.submit_review(store, args.name, args.case_id, a, b, comment)
    if args.json:
        _print_json({"review_id": rid, "case_id": args.case_id})
    else:
        print(f"review {rid}")
    return 0


def run_unblind(args) -> int:
    service = cli_service()
    with unlocked_store(service, who=args.as_profile) as store:
        u = service.unblind_study(store, args.name, force=args.force)
    if args.json:
        _print_json({"study": u.study, "forced": u.forced, "n_reviews": u.n_reviews, "n_expected": u.n_expected,
                     "model_side": u.assignments})
    else:
        print(f"study {u.study} unblinded{' (forced)' if u.forced else ''}: {u.n_reviews}/{u.n_expected} reviews; "
              "the assignment matches its commitment")
    return 0


def run_analyze(args) -> int:
    service = cli_service()
    with unlocked_store(service, who=args.as_profile) as store:
        res = service.analyze_study(store, args.name, seed=args.seed)
    if args.json:
        _print_json(res)
        return 0
    print(f"study {res['study']}: {res['n_cases']} cases, {res['n_reviewers']} reviewers, margin {res['margin']:g}")
    for key, c in res["criteria"].items():
        lo, hi = c["ci95"]
        ci = f"[{lo:+.2f}, {hi:+.2f}]" if lo is not None else "[n/a]"
        alpha = f"{c['alpha']:.2f}" if c.get("alpha") is not None else "n/a"
        print(f"{key:26s} model {c['mean_model']:.2f} resident {c['mean_resident']:.2f} diff {c['mean_diff']:+.2f} "
              f"{ci} p={c['wilcoxon']['p']:.3g} alpha={alpha} {c['verdict']}")
    return 0
