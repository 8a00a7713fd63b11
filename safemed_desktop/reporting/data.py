"""The governance report's content as plain data: one function, ``assemble``, reads everything once.

Each section is a list or dict of plain values (JSON-serialisable) with a ``source`` naming the run, study
or records it came from; ``html`` only lays them out. Numbers are computed here (and tested on a fixture
against values computed by hand):

- ``score_distributions``: per model version and criterion, the count of each score 1-5 over clinician
  feedback;
- ``signal_auroc``: per trust signal and criterion, how well the signal's level (ok < caution < alert)
  predicts a low clinician score (<= ``LOW_SCORE``) on the same answer: AUROC = P(level of a low-scored
  answer > level of another) + 1/2 P(equal), from the Mann-Whitney U statistic (scipy); one observation per
  feedback record; signals not assessed are left out;
- five-strike escalations, evaluation runs (benchmark and red team, as the run engine summarised them),
  validation studies (the paired analysis once unblinded), audit-chain verification, and the versions and
  hashes of every model, pack, prompt template and rubric involved.

The same sections come from a workstation store (``store_inputs``) or from the site's collection
(``collection_inputs``: the clear columns of every merged record; study results from the assignment each
unblinding revealed, checked against the commitments recorded at creation); ``build`` turns either into
the report's data.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any, Iterable

from scipy import stats

from .. import __version__
from ..records.signal import LEVEL_RANK
from ..rubric import PUBLISHED_RUBRICS

if TYPE_CHECKING:
    from ..rubric import Rubric
    from ..store import Store

#: A clinician score at or below this is "low" for the trust-signal AUROC.
LOW_SCORE = 2


def auroc(levels: Iterable[float], low: Iterable[bool]) -> dict[str, Any]:
    """AUROC of ``levels`` for the positive class ``low``; None when a class is empty."""
    levels, low = list(levels), list(low)
    pos = [lv for lv, y in zip(levels, low) if y]
    neg = [lv for lv, y in zip(levels, low) if not y]
    out: dict[str, Any] = {"n": len(levels), "n_low": len(pos), "auroc": None}
    if pos and neg:
        u = stats.mannwhitneyu(pos, neg, alternative="two-sided").statistic
        out["auroc"] = float(u) / (len(pos) * len(neg))
    return out


def score_distributions(answers: dict[str, dict[str, Any]], feedback: list[dict[str, Any]],
                        criteria: Iterable[str]) -> dict[str, dict[str, dict[str, int]]]:
    """model sha256 -> criterion -> {"1".."5": count} over every feedback record."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    for f in feedback:
        sha = answers[f["answer_id"]]["model_sha256"]
        per = out.setdefault(sha, {c: {str(s): 0 for s in range(1, 6)} for c in criteria})
        for key, score in f["scores"].items():
            per.setdefault(key, {str(s): 0 for s in range(1, 6)})[str(score)] += 1
    return out


def signal_auroc(answers: dict[str, dict[str, Any]], feedback: list[dict[str, Any]],
                 criteria: Iterable[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """signal -> criterion -> {n, n_low, auroc} (see the module docstring)."""
    obs: dict[tuple[str, str], list[tuple[int, bool]]] = defaultdict(list)
    for f in feedback:
        levels = {s["name"]: s["level"] for s in answers[f["answer_id"]]["signal_levels"]}
        for sig, level in levels.items():
            if LEVEL_RANK.get(level, -1) < 0:
                continue
            for key, score in f["scores"].items():
                obs[(sig, key)].append((LEVEL_RANK[level], score <= LOW_SCORE))
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for (sig, key), pairs in sorted(obs.items()):
        out.setdefault(sig, {})[key] = auroc([p[0] for p in pairs], [p[1] for p in pairs])
    crit = list(criteria)
    for sig in out:
        out[sig] = {k: out[sig][k] for k in crit if k in out[sig]} | {k: v for k, v in out[sig].items() if k not in crit}
    return out


def _run_section(runs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    out = []
    for r in runs:
        if r.get("kind") != kind:
            continue
        desc = r.get("description") or {}
        out.append({"run_id": r["run_id"], "created_at": r.get("created_at"), "status": r.get("status"),
                    "n_items": r.get("n_items"), "n_done": r.get("n_done"), "description": desc,
                    "summary": r.get("summary") or {},
                    "source": f"evaluation run {r['run_id']} ({kind}, {r.get('status')}, "
                              f"{r.get('n_done')}/{r.get('n_items')} items)"})
    return out


def _study_entry(s: dict[str, Any], analysis: dict[str, Any] | None, n_reviews: int) -> dict[str, Any]:
    return {"name": s["name"], "study_id": s["id"], "n_cases": s["n_cases"], "n_reviews": n_reviews,
            "criteria": s["criteria"], "margin": s["margin"], "rubric": s["rubric"], "commitment": s["commitment"],
            "cases_sha256": s["cases_sha256"], "unblinded": analysis is not None, "analysis": analysis,
            "source": f"validation study {s['name']} (id {s['id']}, assignment commitment {s['commitment'][:16]})"}


# ---------------------------------------------------------------------------------------------- inputs
def store_inputs(store: "Store", service: Any | None = None, runs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """What the report reads from a workstation store (a lead role must be signed in)."""
    rec = store.studies.report_records()
    studies = []
    for s in store.studies.list():
        analysis = service.analyze_study(store, s["name"]) if (s["unblinded"] and service is not None) else None
        studies.append(_study_entry(s, analysis, s["n_reviews"]))
    verify = store.verify()
    return {**rec, "runs": store.list_eval_runs() if runs is None else runs, "studies": studies,
            "audit": {**verify.to_dict(), "source": f"store {store.store_uuid} audit chain"},
            "site_id": store.site_id, "origin": f"store {store.store_uuid}"}


def _clear(coll: Any, rtype: str) -> list[dict[str, Any]]:
    out = []
    for _rid, ws, clear in coll.clear_rows(rtype):
        row = json.loads(clear)
        row["_workstation"] = ws
        out.append(row)
    return out


def _loads(value: Any, default: Any) -> Any:
    if value is None:
        return default
    return json.loads(value) if isinstance(value, str) else value


def collection_inputs(coll: Any, *, seed: int = 0) -> dict[str, Any]:
    """What the report reads from a site collection (``sync.collection.Collection``): clear columns only."""
    from ..validation import analyze
    from ..validation.analysis import paired_reviews
    from ..validation.blinding import check_revealed

    answers = _clear(coll, "answers")
    for a in answers:
        a["pack_versions"] = _loads(a.get("pack_versions"), {})
        a["signal_levels"] = _loads(a.get("signal_levels"), [])
    feedback = _clear(coll, "feedback")
    for f in feedback:
        f["scores"], f["flags"] = _loads(f.get("scores"), {}), _loads(f.get("flags"), [])
    summaries: dict[str, dict[str, Any]] = {}
    for sm in sorted(_clear(coll, "eval_summaries"), key=lambda r: r["created_at"]):
        summaries[sm["run_id"]] = sm
    n_items = Counter(i["run_id"] for i in _clear(coll, "eval_items"))
    runs = []
    for r in _clear(coll, "eval_runs"):
        sm = summaries.get(r["id"])
        runs.append({"run_id": r["id"], "kind": r["kind"], "created_at": r["created_at"],
                     "description": _loads(r.get("description"), {}), "n_items": r.get("n_items"),
                     "n_done": n_items.get(r["id"], 0), "status": sm["status"] if sm else "running",
                     "summary": _loads(sm["summary"], {}) if sm else None})
    cases = _clear(coll, "study_cases")
    roots = {c["id"]: c["commitment"] for c in _clear(coll, "study_commitments")}
    reviews = _clear(coll, "study_reviews")
    unblind = _clear(coll, "study_unblindings")
    studies = []
    for s in _clear(coll, "studies"):
        s = {**s, "criteria": _loads(s["criteria"], []), "rubric": f"{s['rubric_id']}@{s['rubric_version']}"}
        mine = sorted((c for c in cases if c["study_id"] == s["id"]), key=lambda c: c["position"])
        case_ids = {c["id"]: c["case_id"] for c in mine}
        revs = [{"case_id": case_ids[r["case_row_id"]], "reviewer_id": r["reviewer_id"],
                 "scores_a": _loads(r["scores_a"], {}), "scores_b": _loads(r["scores_b"], {})}
                for r in reviews if r["study_id"] == s["id"]]
        u = [x for x in unblind if x["study_id"] == s["id"]]
        analysis = None
        if u:
            last = max(u, key=lambda x: x["created_at"])
            assignment = _loads(last["revealed_assignment"], {})
            problem = check_revealed(s["name"], bytes.fromhex(last["revealed_salt"]), assignment,
                                     [(c["case_id"], c["commitment"]) for c in mine], roots.get(s["id"], ""))
            if problem is None:
                analysis = analyze(paired_reviews(revs, assignment, {c["case_id"]: c.get("resident_level")
                                                                      for c in mine}), s["criteria"], s["margin"],
                                   seed=seed)
                analysis.update({"study": s["name"], "study_id": s["id"], "rubric": s["rubric"],
                                 "forced_unblinding": any(x["forced"] for x in u)})
            else:
                analysis = None
                s["name"] = f"{s['name']} (NOT ANALYSED: {problem})"
        studies.append(_study_entry(s, analysis, len(revs)))
    st = coll.stats()
    audit = {"ok": True, "first_broken": None, "n_events": st["audit_events"], "n_checkpoints": st["checkpoints"],
             "n_records": st["total_records"], "integrity": f"each of {st['bundles_imported']} bundle(s) verified at "
             "import (signature, enrollment, manifest, chain continuity)", "key_authenticated": None,
             "source": f"site collection {st['site_id']} ({st['backend']}), {len(st['workstations'])} workstation(s)"}
    return {"answers": answers, "feedback": feedback, "edits": _clear(coll, "edits"),
            "model_reviews": _clear(coll, "model_reviews"), "runs": runs, "studies": studies, "audit": audit,
            "site_id": st["site_id"], "origin": f"site collection {st['site_id']}"}


# ---------------------------------------------------------------------------------------------- the data
def build(inp: dict[str, Any], rubric: "Rubric", *, now: float | None = None) -> dict[str, Any]:
    """Every section of the governance report as plain data, from ``store_inputs`` or ``collection_inputs``."""
    answers = {a["id"]: a for a in inp["answers"]}
    feedback = [f for f in inp["feedback"] if f["answer_id"] in answers]
    criteria = list(rubric.keys)
    models: dict[str, dict[str, Any]] = {}
    for a in inp["answers"]:
        m = models.setdefault(a["model_sha256"], {"model_id": a["model_id"], "sha256": a["model_sha256"],
                                                  "demo": bool(a["model_demo"]), "n_answers": 0, "n_feedback": 0,
                                                  "n_strikes": 0})
        m["n_answers"] += 1
    for f in feedback:
        m = models[answers[f["answer_id"]]["model_sha256"]]
        m["n_feedback"] += 1
        m["n_strikes"] += int(f["strike"])
    packs = sorted({(k, v) for a in inp["answers"] for k, v in a["pack_versions"].items()})
    rubrics = sorted({a["rubric"] for a in inp["answers"] if a["rubric"]} |
                     {f"{f['rubric_id']}@{f['rubric_version']}" for f in feedback} | {rubric.ref})
    published = {f"{i}@{v}": sha for (i, v), sha in PUBLISHED_RUBRICS.items()}
    templates = sorted({a["prompt_template_hash"] for a in inp["answers"] if a["prompt_template_hash"]})
    benchmarks = _run_section(inp["runs"], "mcq")
    redteam = _run_section(inp["runs"], "redteam")
    for r in benchmarks + redteam:
        sha = r["description"].get("model_sha256")
        if sha and sha not in models:
            models[sha] = {"model_id": r["description"].get("model_id", "?"), "sha256": sha, "demo": None,
                           "n_answers": 0, "n_feedback": 0, "n_strikes": 0}
    fb_source = f"{inp['origin']} feedback: {len(feedback)} records on {len({f['answer_id'] for f in feedback})} answers"
    reviews = [{k: r[k] for k in ("id", "model_sha256", "marked_at", "strike_count", "window_days", "status")}
               for r in inp["model_reviews"]]
    return {
        "generated_at": time.time() if now is None else now, "app_version": __version__,
        "site_id": inp["site_id"], "origin": inp["origin"], "rubric": rubric.ref,
        "criteria": criteria, "criteria_titles": {c.key: c.title for c in rubric.criteria},
        "audit": inp["audit"], "benchmarks": benchmarks, "redteam": redteam, "studies": inp["studies"],
        "score_distributions": {"by_model": score_distributions(answers, feedback, criteria), "source": fb_source},
        "signal_auroc": {"by_signal": signal_auroc(answers, feedback, criteria), "low_score": LOW_SCORE,
                         "source": fb_source},
        "escalations": {"reviews": reviews, "strikes_by_model": {sha: m["n_strikes"] for sha, m in models.items()},
                        "source": f"{inp['origin']} five-strike reviews ({len(reviews)})"},
        "counts": {"answers": len(inp["answers"]), "feedback": len(feedback), "edits": len(inp["edits"]),
                   "score_histogram": dict(Counter(s for f in feedback for s in f["scores"].values()))},
        "versions": {"models": sorted(models.values(), key=lambda m: m["sha256"]),
                     "packs": [{"pack": k, "version": v} for k, v in packs],
                     "rubrics": [{"rubric": r, "sha256": published.get(r)} for r in rubrics],
                     "prompt_templates": templates,
                     "datasets": [{"run_id": r["run_id"], "kind": k,
                                   "dataset_sha256": r["description"].get("dataset_sha256")
                                   or r["description"].get("dataset_hash")}
                                  for k, rs in (("mcq", benchmarks), ("redteam", redteam)) for r in rs],
                     "study_case_files": [{"study": s["name"], "cases_sha256": s["cases_sha256"]}
                                          for s in inp["studies"]]},
    }


def assemble(store: "Store", rubric: "Rubric", *, service: Any | None = None, runs: list[dict[str, Any]] | None = None,
             now: float | None = None) -> dict[str, Any]:
    """The report's data for a workstation store (``build(store_inputs(...))``)."""
    return build(store_inputs(store, service, runs), rubric, now=now)
