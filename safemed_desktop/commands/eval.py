"""``safemed eval mcq|redteam|judge|list|show``: evaluation runs on the local model, stored in the encrypted store."""

from __future__ import annotations

import json
import sys

from ..errors import InputError
from ._common import add_as_argument, cli_service, unlocked_store

MCQ_FORMATS = ("medqa", "medmcqa", "pubmedqa")
MCQ_MODES = ("loglik", "generate")
JUDGE_MODEL_HELP = "a local judge model (default: the site's judge_model setting, else the rules judge)"
REDTEAM_FORMATS = ("medsafetybench", "jsonl")


def register(sub) -> None:
    p = sub.add_parser("eval", help="evaluation runs: benchmark accuracy, red team, the judge")
    esub = p.add_subparsers(dest="eval_command", metavar="ACTION", required=True)

    mcq = esub.add_parser("mcq", help="benchmark accuracy on a multiple-choice file (option log-likelihood, or "
                                      "reasoning then a grammar-constrained letter)")
    mcq.add_argument("file", metavar="FILE")
    mcq.add_argument("--format", required=True, choices=MCQ_FORMATS)
    mcq.add_argument("--test-ids", metavar="FILE", help="pubmedqa: the ids to score (e.g. test_ground_truth.json)")
    mcq.add_argument("--mode", default="loglik", choices=MCQ_MODES,
                     help="loglik (default): the option with the highest log-likelihood; generate: the model reasons "
                          "first, then a grammar limits its answer to the option letters (reasoning models)")
    mcq.add_argument("--think-tokens", type=int, metavar="N",
                     help="--mode generate: tokens the model may reason for before answering (default 256)")
    _run_args(mcq)
    mcq.set_defaults(func=run_mcq)

    rt = esub.add_parser("redteam", help="adversarial prompts to the raw model and through the app (two arms)")
    rt.add_argument("suite", metavar="SUITE", help="a MedSafetyBench CSV or folder of them, or a JSONL suite")
    rt.add_argument("--format", default="medsafetybench", choices=REDTEAM_FORMATS)
    rt.add_argument("--max-tokens", type=int, metavar="N", help="tokens per response in each arm (default 160)")
    rt.add_argument("--judge-model", metavar="ID|PATH", help=JUDGE_MODEL_HELP)
    _run_args(rt)
    rt.set_defaults(func=run_redteam)

    jd = esub.add_parser("judge", help="score {request, response} JSONL lines for harmfulness 1-5")
    jd.add_argument("file", nargs="?", metavar="FILE")
    jd.add_argument("--calibration", action="store_true",
                    help="report agreement with labelled lines (FILE, default: the shipped calibration set)")
    jd.add_argument("--judge-model", metavar="ID|PATH", help=JUDGE_MODEL_HELP)
    jd.add_argument("--json", action="store_true", help="print JSON (one object per line)")
    jd.set_defaults(func=run_judge)

    ls = esub.add_parser("list", help="evaluation runs in the store")
    ls.add_argument("--json", action="store_true", help="print JSON")
    add_as_argument(ls)
    ls.set_defaults(func=run_list)

    show = esub.add_parser("show", help="one run: description, status, figures")
    show.add_argument("run_id", metavar="RUN_ID")
    show.add_argument("--items", action="store_true", help="include each item's result")
    show.add_argument("--transcripts", action="store_true", help="include decrypted prompts and responses")
    show.add_argument("--json", action="store_true", help="print JSON")
    add_as_argument(show)
    show.set_defaults(func=run_show)


def _run_args(p) -> None:
    p.add_argument("--limit", type=int, metavar="N", help="only the first N items")
    p.add_argument("--run-id", metavar="ID", help="resume this run: finished items are skipped")
    p.add_argument("--model", metavar="ID|PATH", help="model id from a manifest, or a .gguf path")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on standard error")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_as_argument(p)


def _started(run_id: str, n_items: int, n_done: int) -> None:
    """One stderr line as soon as the run exists: its id, to resume it after any interruption."""
    what = f"resuming, {n_done} of {n_items} items already done" if n_done else f"{n_items} items"
    print(f"safemed: eval run {run_id} ({what}); resume with --run-id {run_id}", file=sys.stderr, flush=True)


def _check_limit(args) -> None:
    if args.limit is not None and args.limit < 1:
        raise InputError("--limit must be at least 1")


def run_mcq(args) -> int:
    _check_limit(args)
    if args.think_tokens is not None and args.mode != "generate":
        raise InputError("--think-tokens applies to --mode generate only")
    if args.think_tokens is not None and args.think_tokens < 1:
        raise InputError("--think-tokens must be at least 1")
    service = cli_service(model=args.model)
    with unlocked_store(service, who=args.as_profile) as store:
        out = service.eval_mcq(store, args.file, args.format, test_ids=args.test_ids, limit=args.limit,
                               run_id=args.run_id, progress=not args.no_progress, on_start=_started,
                               mode=args.mode, think_tokens=args.think_tokens)
    s = out.summary
    if args.json:
        print(json.dumps({"run_id": out.run_id, "n": s["n"], "accuracy": s["accuracy"], "ci95": s["ci95"],
                          "ece": s["ece"], "brier": s["brier"], "per_subject": s["per_subject"],
                          "items_per_s": s["items_per_s"], "auroc_app_confidence": s["auroc_app_confidence"],
                          "auroc_option_prob": s["auroc_option_prob"], "chance_accuracy": s["chance_accuracy"],
                          "reliability": s["reliability"], "n_new": out.n_new}))
        return 0
    ci = s["ci95"] or [None, None]
    print(f"run {out.run_id}: {s['n']} items ({out.n_new} scored now, {out.seconds:.1f} s)")
    print(f"accuracy {s['accuracy']:.3f} (95% CI {ci[0]:.3f}-{ci[1]:.3f}; chance {s['chance_accuracy']:.3f})")
    print(f"calibration: ECE {s['ece']:.3f} (15 bins), Brier {s['brier']:.3f}, mean confidence {s['mean_confidence']:.3f}")
    auroc = s["auroc_app_confidence"]
    print(f"AUROC right vs wrong: option probability {_fmt(s['auroc_option_prob'])}, "
          f"app confidence signal {_fmt(auroc)}")
    for subject, v in s["per_subject"].items():
        print(f"  {subject:<32} n={v['n']:<5} accuracy {v['accuracy']:.3f}")
    print(f"{_fmt(s['items_per_s'])} items/s")
    return 0


def _fmt(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def run_redteam(args) -> int:
    _check_limit(args)
    if args.max_tokens is not None and args.max_tokens < 1:
        raise InputError("--max-tokens must be at least 1")
    service = cli_service(model=args.model)
    with unlocked_store(service, who=args.as_profile) as store:
        out = service.eval_redteam(store, args.suite, args.format, limit=args.limit, run_id=args.run_id,
                                   max_tokens=args.max_tokens, judge_model=args.judge_model,
                                   progress=not args.no_progress, on_start=_started)
    s = out.summary
    if args.json:
        print(json.dumps({"run_id": out.run_id, "n": s["n"], "arms": s["arms"], "difference": s["difference"],
                          "judge_calibration": s.get("judge_calibration"), "items_per_s": s["items_per_s"],
                          "n_new": out.n_new}))
        return 0
    print(f"run {out.run_id}: {s['n']} prompts ({out.n_new} run now, {out.seconds:.1f} s)")
    for name in ("raw", "guarded"):
        a = s["arms"][name]
        ci = a["ci95"]
        line = f"  {name:<8} unsafe (judge >= 4) {a['unsafe_rate']:.3f} (95% CI {ci[0]:.3f}-{ci[1]:.3f})"
        if name == "guarded":
            line += f", blocked {a['n_blocked']} ({a['block_rate']:.3f})"
        print(line)
    d = s["difference"]
    print(f"  difference raw - guarded {d['unsafe_rate_raw_minus_guarded']:+.3f} (95% CI {d['ci95'][0]:+.3f} to "
          f"{d['ci95'][1]:+.3f}); McNemar exact p = {d['mcnemar']['p_value']:.4g}")
    return 0


def run_judge(args) -> int:
    service = cli_service()
    try:
        if args.calibration:
            report = service.judge_calibration(args.file, judge_model=args.judge_model)
            if args.json:
                print(json.dumps(report))
            else:
                print(f"{report['n']} labelled pairs, judge {report['judge']}: quadratic-weighted kappa "
                      f"{_fmt(report['quadratic_weighted_kappa'])}, exact {_fmt(report['exact_agreement'])}, "
                      f"within one {_fmt(report['within_one'])}, unsafe sensitivity "
                      f"{_fmt(report['unsafe_sensitivity'])}, specificity {_fmt(report['unsafe_specificity'])}")
            return 0
        if args.file is None:
            raise InputError("give the JSONL file to judge (or --calibration)")
        results = service.judge_file(args.file, judge_model=args.judge_model)
    finally:
        service.close_judge_models()
    for r in results:
        if args.json:
            print(json.dumps({"score": r["score"], "rationale": r["rationale"], "source": r["source"],
                              "unsafe": r["unsafe"]}))
        else:
            print(f"{r['score']}  {r['rationale']}")
    sys.stdout.flush()
    return 0


def run_list(args) -> int:
    service = cli_service()
    with unlocked_store(service, who=args.as_profile) as store:
        runs = service.list_eval_runs(store)
    if args.json:
        print(json.dumps(runs))
        return 0
    for r in runs:
        s = r["summary"] or {}
        figure = (f"accuracy {s['accuracy']:.3f}" if r["kind"] == "mcq" and s.get("accuracy") is not None else
                  f"unsafe raw {s['arms']['raw']['unsafe_rate']:.3f} guarded {s['arms']['guarded']['unsafe_rate']:.3f}"
                  if r["kind"] == "redteam" and s.get("arms") else "")
        print(f"{r['run_id']}  {r['kind']:<8} {r['status']:<11} {r['n_done']}/{r['n_items']}  "
              f"{r['description'].get('dataset_name', '')}  {figure}")
    return 0


def run_show(args) -> int:
    service = cli_service()
    with unlocked_store(service, who=args.as_profile) as store:
        run = service.show_eval_run(store, args.run_id, items=args.items, transcripts=args.transcripts)
    if args.json:
        print(json.dumps(run))
        return 0
    print(json.dumps({k: run[k] for k in ("run_id", "kind", "status", "n_items", "n_done")}))
    print(json.dumps(run["summary"], indent=2))
    return 0
