"""The report's figures: matplotlib on the Agg backend (no display), each returned as a PNG data URI.

matplotlib is imported on first use, so the export and the rest of the app work where it is not installed;
the report then fails with one clear line.
"""

from __future__ import annotations

import base64
import io
from typing import Any

from ..errors import ConfigError

DPI = 90


class _Pyplot:
    """``matplotlib.pyplot`` on the Agg backend, imported on first attribute access."""

    _mod: Any = None

    def __getattr__(self, name: str) -> Any:
        if _Pyplot._mod is None:
            try:
                import matplotlib

                matplotlib.use("Agg")
                import matplotlib.pyplot as pyplot
            except ImportError as exc:
                raise ConfigError(f"the governance report needs matplotlib, which this installation lacks ({exc})",
                                  hint="install SafeMed with its reporting dependencies") from None
            _Pyplot._mod = pyplot
        return getattr(_Pyplot._mod, name)


plt = _Pyplot()


def _uri(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _err(value: float, ci: list | None) -> list[float]:
    if not ci or ci[0] is None or ci[1] is None:
        return [0.0, 0.0]
    return [max(0.0, value - ci[0]), max(0.0, ci[1] - value)]


def accuracy_bars(runs: list[dict[str, Any]]) -> str:
    fig, ax = plt.subplots(figsize=(6, 2.6))
    labels = [r["run_id"][:8] for r in runs]
    acc = [r["summary"].get("accuracy") or 0.0 for r in runs]
    errs = list(zip(*[_err(a, r["summary"].get("ci95")) for a, r in zip(acc, runs)])) or [[], []]
    ax.bar(labels, acc, yerr=errs, capsize=4, color="#4472c4")
    for r, x in zip(runs, range(len(runs))):
        chance = r["summary"].get("chance_accuracy")
        if chance:
            ax.hlines(chance, x - 0.4, x + 0.4, colors="#c00000", linestyles="dashed")
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy (95% CI)")
    ax.set_xlabel("run (dashed: chance)")
    return _uri(fig)


def reliability_diagram(run: dict[str, Any]) -> str:
    table = run["summary"].get("reliability") or []
    fig, ax = plt.subplots(figsize=(3.4, 3.2))
    ax.plot([0, 1], [0, 1], color="#999999", linestyle="dotted", label="perfect calibration")
    if table:
        xs = [row["mean_confidence"] for row in table]
        ys = [row["accuracy"] for row in table]
        ax.plot(xs, ys, marker="o", color="#4472c4", label="model")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=7, loc="upper left")
    return _uri(fig)


def redteam_bars(run: dict[str, Any]) -> str:
    arms = run["summary"].get("arms") or {}
    fig, ax = plt.subplots(figsize=(6, 2.6))
    styles = sorted({s for a in arms.values() for s in (a.get("per_style") or a.get("by_style") or {})})
    groups = ["all"] + styles
    width = 0.8 / max(1, len(arms))
    for i, (name, arm) in enumerate(sorted(arms.items())):
        per = arm.get("per_style") or arm.get("by_style") or {}
        vals, errs = [], []
        for g in groups:
            d = arm if g == "all" else per.get(g, {})
            v = d.get("unsafe_rate") or 0.0
            vals.append(v)
            errs.append(_err(v, d.get("ci95")))
        xs = [j + i * width for j in range(len(groups))]
        ax.bar(xs, vals, width=width, yerr=list(zip(*errs)) if errs else None, capsize=3, label=name)
    ax.set_xticks([j + width * (len(arms) - 1) / 2 for j in range(len(groups))])
    ax.set_xticklabels(groups, rotation=30, ha="right", fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("unsafe rate (95% CI)")
    ax.legend(fontsize=7)
    return _uri(fig)


def forest_plot(analysis: dict[str, Any], titles: dict[str, str]) -> str:
    crit = list(analysis["criteria"].items())
    fig, ax = plt.subplots(figsize=(6, 0.45 * len(crit) + 1.0))
    margin = analysis["margin"]
    for y, (key, c) in enumerate(crit):
        lo, hi = c["ci95"]
        if lo is not None:
            ax.hlines(y, lo, hi, color="#333333")
        ax.plot([c["mean_diff"]], [y], marker="s", color="#4472c4")
    ax.axvline(0, color="#999999", linewidth=1)
    ax.axvline(-margin, color="#c00000", linestyle="dashed", linewidth=1)
    ax.set_yticks(range(len(crit)))
    ax.set_yticklabels([titles.get(k, k) for k, _ in crit], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"model - resident (score points, 95% CI); dashed: -margin {margin:g}")
    return _uri(fig)


def score_distribution(per_criterion: dict[str, dict[str, int]], titles: dict[str, str]) -> str:
    keys = [k for k, v in per_criterion.items() if sum(v.values())]
    fig, ax = plt.subplots(figsize=(6, 0.4 * max(1, len(keys)) + 1.0))
    colors = ["#c00000", "#ed7d31", "#ffc000", "#70ad47", "#2e75b6"]
    left = [0.0] * len(keys)
    for s in range(1, 6):
        vals = []
        for k in keys:
            total = sum(per_criterion[k].values())
            vals.append(per_criterion[k][str(s)] / total if total else 0.0)
        ax.barh(range(len(keys)), vals, left=left, color=colors[s - 1], label=str(s))
        left = [a + b for a, b in zip(left, vals)]
    ax.set_yticks(range(len(keys)))
    ax.set_yticklabels([titles.get(k, k) for k in keys], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of scores")
    ax.legend(title="score", fontsize=7, ncol=5, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    return _uri(fig)


def auroc_heatmap(by_signal: dict[str, dict[str, dict[str, Any]]], criteria: list[str]) -> str:
    signals = sorted(by_signal)
    keys = [k for k in criteria if any(k in by_signal[s] for s in signals)]
    data = [[(by_signal[s].get(k) or {}).get("auroc") for k in keys] for s in signals]
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * max(1, len(signals)) + 1.4))
    import numpy as np

    arr = np.array([[np.nan if v is None else v for v in row] for row in data], dtype=float) if data else np.zeros((0, 0))
    im = ax.imshow(arr if arr.size else np.full((1, 1), np.nan), vmin=0, vmax=1, cmap="RdYlGn", aspect="auto")
    for i, row in enumerate(data):
        for j, v in enumerate(row):
            ax.text(j, i, "-" if v is None else f"{v:.2f}", ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels(keys, rotation=35, ha="right", fontsize=7)
    ax.set_yticks(range(len(signals)))
    ax.set_yticklabels(signals, fontsize=8)
    fig.colorbar(im, ax=ax, label="AUROC")
    return _uri(fig)
