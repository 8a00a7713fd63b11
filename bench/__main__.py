"""``make bench``: run every ``bench/bench_*.py`` and write ``bench/results/latest.json``.

Each benchmark module exposes ``run() -> dict`` returning
``{"title": str, "rows": [{"metric": str, "value": float|str, "target": str, "pass": bool|None}], ...}``.
Targets are ratios or differences against a baseline measured in the same run.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    only = set(argv)
    results = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": platform.platform(),
               "python": sys.version.split()[0], "benchmarks": {}}
    failed = False
    for info in sorted(pkgutil.iter_modules([str(HERE)]), key=lambda m: m.name):
        if not info.name.startswith("bench_"):
            continue
        short = info.name[len("bench_"):]
        if only and short not in only:
            continue
        module = importlib.import_module(f"bench.{info.name}")
        print(f"== {short} ...", flush=True)
        t0 = time.perf_counter()
        res = module.run()
        res["seconds"] = round(time.perf_counter() - t0, 1)
        results["benchmarks"][short] = res
        print(f"\n{res.get('title', short)}  ({res['seconds']} s)")
        print(f"  {'metric':<52} {'value':>14}  {'target':<22} ok")
        for row in res.get("rows", []):
            value = row["value"]
            value = f"{value:.4g}" if isinstance(value, float) else str(value)
            ok = {True: "yes", False: "NO", None: "-"}[row.get("pass")]
            failed |= row.get("pass") is False
            print(f"  {row['metric']:<52} {value:>14}  {row.get('target', ''):<22} {ok}")
    out = HERE / "results" / "latest.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    if only and out.exists():
        # A partial run updates its own entries and keeps the others' latest figures.
        previous = json.loads(out.read_text())
        previous["benchmarks"].update(results["benchmarks"])
        results["benchmarks"] = previous["benchmarks"]
    out.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
