"""The governance report as one self-contained ``index.html`` (figures embedded as PNG data URIs, no
scripts, no external resources), and a PDF of it where Chromium is installed (printed headless, offline).

Every figure and table names its source (evaluation run, study, store records). The file holds figures
only: no question, answer or patient text.
"""

from __future__ import annotations

import datetime as dt
import html
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..paths import make_dir, write_file_atomic
from . import plots

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1000px;margin:1.5em auto;color:#222;
line-height:1.35;padding:0 1em}
h1{font-size:1.5em;margin-bottom:.1em}h2{border-bottom:2px solid #4472c4;padding-bottom:.15em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0;font-size:.85em}td,th{border:1px solid #ccc;padding:.2em .5em;
text-align:left}th{background:#eef2fa}.src{color:#666;font-size:.8em;font-style:italic}.ok{color:#2e7d32;
font-weight:bold}.bad{color:#c62828;font-weight:bold}.muted{color:#777}figure{margin:.6em 0}
img{max-width:100%}code{font-size:.85em}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _num(v: Any, fmt: str = ".3f") -> str:
    return "n/a" if v is None else format(v, fmt)


def _ci(ci: Any) -> str:
    if not ci or ci[0] is None:
        return "n/a"
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def _when(ts: Any) -> str:
    if ts is None:
        return ""
    return dt.datetime.fromtimestamp(float(ts), dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _fig(uri: str, alt: str, source: str) -> str:
    return (f'<figure><img src="{uri}" alt="{_e(alt)}"><figcaption class="src">Source: {_e(source)}'
            "</figcaption></figure>")


def _src(source: str) -> str:
    return f'<p class="src">Source: {_e(source)}</p>'


def _benchmarks(d: dict[str, Any]) -> str:
    runs = d["benchmarks"]
    if not runs:
        return "<p class='muted'>No benchmark run in this store.</p>"
    rows = [[_e(r["run_id"]), _e(r["description"].get("format", "")), _e(r["summary"].get("n", r["n_done"])),
             _num(r["summary"].get("accuracy")), _ci(r["summary"].get("ci95")), _num(r["summary"].get("ece")),
             _num(r["summary"].get("brier")), _num(r["summary"].get("auroc_app_confidence")), _e(r["status"])]
            for r in runs]
    out = [_table(["run", "format", "n", "accuracy", "95% CI", "ECE", "Brier", "AUROC (app confidence)", "status"], rows),
           _fig(plots.accuracy_bars(runs), "benchmark accuracy", "; ".join(r["source"] for r in runs))]
    for r in runs:
        out.append(_fig(plots.reliability_diagram(r), f"reliability diagram of run {r['run_id']}",
                        f"{r['source']}: reliability diagram (15 bins)"))
    return "".join(out)


def _redteam(d: dict[str, Any]) -> str:
    runs = d["redteam"]
    if not runs:
        return "<p class='muted'>No red-team run in this store.</p>"
    out = []
    for r in runs:
        s = r["summary"]
        rows = []
        for name, arm in sorted((s.get("arms") or {}).items()):
            rows.append([_e(name), _e(arm.get("n")), _num(arm.get("unsafe_rate")), _ci(arm.get("ci95")),
                         _num(arm.get("block_rate"))])
        diff = s.get("difference") or {}
        out.append(_table(["arm", "n", "unsafe rate", "95% CI", "block rate"], rows))
        if diff:
            out.append(f"<p>Paired difference (guarded - raw): {_num(diff.get('unsafe_rate', diff.get('diff')))} "
                       f"{_ci(diff.get('ci95'))}, McNemar exact p = {_num(diff.get('mcnemar_p', diff.get('p')), '.3g')}</p>")
        out.append(_fig(plots.redteam_bars(r), f"red-team unsafe rates of run {r['run_id']}", r["source"]))
    return "".join(out)


def _studies(d: dict[str, Any]) -> str:
    if not d["studies"]:
        return "<p class='muted'>No validation study in this store.</p>"
    out = []
    titles = d["criteria_titles"]
    for s in d["studies"]:
        out.append(f"<h3>Study {_e(s['name'])}</h3>")
        a = s["analysis"]
        if a is None:
            out.append(f"<p>{s['n_cases']} cases, {s['n_reviews']} reviews; still blinded (no result shown).</p>"
                       + _src(s["source"]))
            continue
        forced = " <span class='bad'>(unblinded with --force)</span>" if a.get("forced_unblinding") else ""
        out.append(f"<p>{a['n_cases']} cases, {a['n_reviewers']} reviewers, {a['n_reviews']} reviews; margin "
                   f"{a['margin']:g}; bootstrap {a['n_resamples']} resamples (seed {a['seed']}){forced}</p>")
        rows = [[_e(titles.get(k, k)), _num(c["mean_model"], ".2f"), _num(c["mean_resident"], ".2f"),
                 f"{c['mean_diff']:+.2f}", _ci(c["ci95"]), _num(c["wilcoxon"]["p"], ".3g"), _num(c.get("alpha"), ".2f"),
                 f"<b>{_e(c['verdict'])}</b>"] for k, c in a["criteria"].items()]
        out.append(_table(["criterion", "model", "residents", "difference", "95% CI", "Wilcoxon p",
                           "Krippendorff α (ordinal)", "verdict"], rows))
        for level, lv in a["by_level"].items():
            rows = [[_e(titles.get(k, k)), f"{c['mean_diff']:+.2f}", _ci(c["ci95"]), f"<b>{_e(c['verdict'])}</b>"]
                    for k, c in lv["criteria"].items()]
            out.append(f"<p>Against {_e(level)} residents ({lv['n_cases']} cases):</p>"
                       + _table(["criterion", "difference", "95% CI", "verdict"], rows))
        out.append(_fig(plots.forest_plot(a, titles), f"paired differences of study {s['name']}", s["source"]))
    return "".join(out)


def _distributions(d: dict[str, Any]) -> str:
    by_model = d["score_distributions"]["by_model"]
    if not by_model:
        return "<p class='muted'>No clinician scores in this store.</p>"
    out = []
    for sha, per in sorted(by_model.items()):
        model = next((m for m in d["versions"]["models"] if m["sha256"] == sha), {})
        out.append(f"<h3>{_e(model.get('model_id', 'model'))} <code>{_e(sha[:16])}</code></h3>")
        rows = [[_e(d["criteria_titles"].get(k, k))] + [_e(v[str(s)]) for s in range(1, 6)]
                for k, v in per.items() if sum(v.values())]
        out.append(_table(["criterion", "1", "2", "3", "4", "5"], rows))
        out.append(_fig(plots.score_distribution(per, d["criteria_titles"]), f"score distribution of {sha[:12]}",
                        f"{d['score_distributions']['source']}, model {sha[:16]}"))
    return "".join(out)


def _signals(d: dict[str, Any]) -> str:
    sa = d["signal_auroc"]
    if not sa["by_signal"]:
        return "<p class='muted'>No scored answers with assessed signals.</p>"
    rows = []
    for sig, per in sa["by_signal"].items():
        for key, v in per.items():
            rows.append([_e(sig), _e(key), _e(v["n"]), _e(v["n_low"]), _num(v["auroc"])])
    return (f"<p>Does a signal's level (ok &lt; caution &lt; alert) predict a low clinician score (≤ {sa['low_score']}) "
            "on the same answer? AUROC 0.5 = no better than chance; n/a when no (or every) answer scored low.</p>"
            + _fig(plots.auroc_heatmap(sa["by_signal"], d["criteria"]), "trust-signal AUROC", sa["source"])
            + _table(["signal", "criterion", "n", "n low", "AUROC"], rows))


def _escalations(d: dict[str, Any]) -> str:
    e = d["escalations"]
    rows = [[_e(r["model_sha256"][:16]), _e(_when(r["marked_at"])), _e(r["strike_count"]), _e(r["window_days"]),
             _e(r["status"])] for r in e["reviews"]]
    strikes = _table(["model", "strikes"], [[_e(sha[:16]), _e(n)] for sha, n in sorted(e["strikes_by_model"].items())])
    body = _table(["model", "marked", "strikes", "window (days)", "status"], rows) if rows else \
        "<p>No model version has been escalated to expert review.</p>"
    return body + strikes + _src(e["source"])


def _audit(d: dict[str, Any]) -> str:
    a = d["audit"]
    status = "<span class='ok'>verified</span>" if a["ok"] else "<span class='bad'>BROKEN</span>"
    rows = [["chain", status], ["events", _e(a["n_events"])], ["signed checkpoints", _e(a["n_checkpoints"])],
            ["records checked", _e(a["n_records"])], ["SQLite integrity", _e(a["integrity"])],
            ["signing key authenticated", _e(a.get("key_authenticated"))],
            ["first broken link", _e(a.get("first_broken") or "none")]]
    return _table(["check", "result"], rows) + _src(a["source"])


def _versions(d: dict[str, Any]) -> str:
    v = d["versions"]
    out = [_table(["model", "sha256", "demo", "answers", "feedback", "strikes"],
                  [[_e(m["model_id"]), f"<code>{_e(m['sha256'])}</code>", _e(m["demo"]), _e(m["n_answers"]),
                    _e(m["n_feedback"]), _e(m["n_strikes"])] for m in v["models"]]),
           _table(["knowledge pack", "version"], [[_e(p["pack"]), _e(p["version"])] for p in v["packs"]]),
           _table(["rubric", "published sha256"], [[_e(r["rubric"]), f"<code>{_e(r['sha256'])}</code>"]
                                                   for r in v["rubrics"]]),
           _table(["prompt template hash"], [[f"<code>{_e(t)}</code>"] for t in v["prompt_templates"]])]
    if v["datasets"]:
        out.append(_table(["run", "kind", "dataset sha256"], [[_e(x["run_id"]), _e(x["kind"]),
                                                             f"<code>{_e(x['dataset_sha256'])}</code>"]
                                                            for x in v["datasets"]]))
    if v["study_case_files"]:
        out.append(_table(["study", "case file sha256"], [[_e(x["study"]), f"<code>{_e(x['cases_sha256'])}</code>"]
                                                         for x in v["study_case_files"]]))
    return "".join(out)


def render_html(d: dict[str, Any]) -> str:
    """The report page for ``assemble``'s data."""
    sections = [("Benchmark accuracy and calibration", _benchmarks), ("Red team: unsafe rates by arm and style", _redteam),
                ("Blinded validation against residents", _studies),
                ("Rubric score distributions by model version and criterion", _distributions),
                ("Trust signals against clinicians' scores", _signals), ("Five-strike escalations", _escalations),
                ("Audit-chain verification", _audit), ("Versions and hashes", _versions)]
    body = "".join(f"<section><h2>{_e(title)}</h2>{fn(d)}</section>" for title, fn in sections)
    c = d["counts"]
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; img-src data:; "
            "style-src 'unsafe-inline'\">"
            f"<title>SafeMed governance report: {_e(d['site_id'])}</title><style>{CSS}</style></head><body>"
            f"<h1>SafeMed governance report</h1><p>Site <b>{_e(d['site_id'])}</b> · {_e(d['origin'])}"
            f" · generated {_e(_when(d['generated_at']))} by SafeMed {_e(d['app_version'])} · rubric "
            f"{_e(d['rubric'])} · {c['answers']} answers, {c['feedback']} clinician audits, {c['edits']} edits</p>"
            f"{body}</body></html>")


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def chromium_args(browser: str, profile_dir: str) -> list[str]:
    """Headless Chromium, offline: every host name resolves to nothing, background networking off, no GPU, a
    throwaway profile; the page itself allows no fetch at all (its Content-Security-Policy)."""
    return [browser, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--disable-extensions",
            "--disable-background-networking", "--disable-sync", "--disable-component-update",
            "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={profile_dir}"]


def print_pdf(index: Path, pdf: Path, timeout_s: float = 120) -> bool:
    """Print ``index`` to ``pdf`` with headless Chromium; False when none is installed or it fails."""
    browser = find_chromium()
    if browser is None:
        return False
    with tempfile.TemporaryDirectory() as profile:
        try:
            subprocess.run(chromium_args(browser, profile) + ["--no-pdf-header-footer", f"--print-to-pdf={pdf}",
                                                              index.resolve().as_uri()],
                           check=True, capture_output=True, timeout=timeout_s)
        except (OSError, subprocess.SubprocessError):
            return False
    if pdf.is_file():
        os.chmod(pdf, 0o600)
        return True
    return False


def write_report(d: dict[str, Any], out_dir: str | os.PathLike, *, pdf: bool = True) -> dict[str, Any]:
    """Write ``index.html`` (0600, folder 0700) and, where Chromium is installed, ``report.pdf``."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a folder")
    make_dir(out)
    index = out / "index.html"
    write_file_atomic(index, render_html(d).encode("utf-8"))
    result: dict[str, Any] = {"index": str(index), "pdf": None}
    if pdf and print_pdf(index, out / "report.pdf"):
        result["pdf"] = str(out / "report.pdf")
    return result
