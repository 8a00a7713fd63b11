"""Sync throughput on 100,000 records: export, first import, re-import, SQLite and PostgreSQL side by side.

* The workstation store holds ``N`` records written through the store API (answers and clinician feedback with
  encrypted comments; audit events and signed checkpoints as in production). ``export`` is the whole
  ``safemed sync export`` path: verified read, decryption, re-encryption to the site key, signature.
* ``import`` is ``Collection.import_bundle``: file read, signature, decryption, hashes, audit-chain and
  checkpoint verification, sealing of sensitive fields under the site data key, staged merge with conflict
  and count checks, in one transaction; as ``safemed collect import`` runs it (on Linux with two or more
  cores, the decryption, parsing, hashing, sealing and verification in a helper process while the importer
  writes: ``sync/prepare.py``).
* **Baseline** (same run, same backend, same durability settings): a plain ``executemany`` of the very rows
  the import stored (records, audit events, checkpoints), into empty tables of the same shape, in one
  transaction: what any import of these rows must at least cost.
* ``re-import``: the same bundle again (recognised by its id and sha256, verified, re-acknowledged).

Targets: import >= 20,000 records/s on SQLite; import >= 0.5 x baseline; re-import >= 5 x faster than import.
``SAFEMED_BENCH_SYNC_REPEAT`` (5) back-to-back pairs (import, baseline), each on a fresh collection and fresh
tables, their order alternating: the ratio is the median of the per-pair ratios (a drift in a shared machine's
speed hits both sides of a pair), the speeds the best of all pairs.
A real PostgreSQL server is started in a temporary directory (``tests/sync/pgserver.py``); without one the
PostgreSQL rows are reported as skipped.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import statistics
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

from safemed_desktop.records.answer import AnswerRecord, ModelIdentity  # noqa: E402
from safemed_desktop.records.events import Timings  # noqa: E402
from safemed_desktop.records.patient import PatientContext  # noqa: E402
from safemed_desktop.rubric import load_rubric  # noqa: E402
from safemed_desktop.store import FeedbackInput, KdfParams, Store  # noqa: E402
from safemed_desktop.sync import WorkstationSync  # noqa: E402
from safemed_desktop.sync import site as site_ops  # noqa: E402
from safemed_desktop.sync.bundle import read_bundle_file  # noqa: E402
from safemed_desktop.sync.collection import Collection  # noqa: E402
from safemed_desktop.sync.keys import SiteKeys  # noqa: E402

N = int(os.environ.get("SAFEMED_BENCH_SYNC_RECORDS", "100000"))
N_ANSWERS = max(1, N // 50)
BATCH = 2000
PASS, SITE_PASS, PIN = "bench passphrase", "bench site passphrase", "bench-pin-1234"
MODEL = ModelIdentity(id="demo", sha256="c" * 64, approved=True, demo=True, chat_format="think-answer")
COMMENT = ("Dose is appropriate for weight but the answer omits renal adjustment for eGFR 28; "
           "recommend checking trough levels and reviewing interacting medications. ")


def _pgserver():
    spec = importlib.util.spec_from_file_location("safemed_pgserver", ROOT / "tests" / "sync" / "pgserver.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _answer(i: int) -> AnswerRecord:
    return AnswerRecord(question=f"Maximum daily dose of paracetamol for a 72-year-old? #{i}",
                        patient=PatientContext(age=72, sex="female", weight_kg=60, egfr=28), model=MODEL,
                        reasoning_steps=["check weight", "check renal function"], answer="4 g per day.",
                        raw_text="<think>...</think><answer>4 g per day.</answer>",
                        timings=Timings(ttft_ms=100.0, total_ms=800.0, prompt_tokens=40, completion_tokens=20,
                                        tokens_per_s=30.0),
                        token_logprobs_summary={"mean": -0.4}, signals=[], prompt_template_hash="t" * 64,
                        pack_versions={"formulary": "2026.11.0"}, rubric="safemed-cts@1",
                        category=("dosing", "interactions", "general")[i % 3])


def _workstation(root: Path) -> Store:
    store = Store.create(root / "ws" / "safemed.db", PASS, "bench-site", kdf_params=KdfParams.fast_for_tests())
    pid = store.add_profile("Dr Bench", "site_admin", PIN)
    store.authenticate(pid, PIN)
    answers = [_answer(i) for i in range(N_ANSWERS)]
    for start in range(0, len(answers), BATCH):
        store.save_answers(answers[start:start + BATCH])
    rubric = load_rubric()
    n_fb = N - N_ANSWERS - 1
    for start in range(0, n_fb, BATCH):
        items = [FeedbackInput(answers[i % N_ANSWERS].id, pid,
                               {"medical_correctness": 3 + i % 3, "medication_safety": 4, "clinical_utility": 3},
                               {}, [], f"{COMMENT}#{i}") for i in range(start, min(start + BATCH, n_fb))]
        store.add_feedback_many(rubric, items)
    return store


#: The tables the import writes, as plain tables of the same shape (no key checks beyond the primary keys).
PLAIN = {
    "records": ("rtype TEXT NOT NULL, id TEXT NOT NULL, workstation_id TEXT NOT NULL, content_hash TEXT NOT NULL, "
                "clear TEXT NOT NULL, sealed {blob}, PRIMARY KEY (rtype, id)"),
    "audit_events": ("workstation_id TEXT NOT NULL, seq BIGINT NOT NULL, ts {real} NOT NULL, actor TEXT NOT NULL, "
                     "action TEXT NOT NULL, table_name TEXT NOT NULL, row_id TEXT NOT NULL, "
                     "record_digest TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL, "
                     "PRIMARY KEY (workstation_id, seq)"),
    "checkpoints": ("workstation_id TEXT NOT NULL, seq BIGINT NOT NULL, ts {real} NOT NULL, head_hash TEXT NOT NULL, "
                    "signature {blob} NOT NULL, version BIGINT NOT NULL, prev_seq BIGINT, "
                    "PRIMARY KEY (workstation_id, seq)"),
}

INDEX = "CREATE INDEX idx_plain_ws ON records (workstation_id, rtype)"  # the collection's own index


def _baseline(backend: str, rows: dict[str, list[tuple]], target) -> float:
    """A plain ``executemany`` of the very rows the import stored, into empty tables of the same shape, one
    transaction, same durability settings."""
    if backend == "sqlite":
        conn = sqlite3.connect(str(target), isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        for t, cols in PLAIN.items():
            conn.execute(f"CREATE TABLE {t} ({cols.format(blob='BLOB', real='REAL')})")
        conn.execute(INDEX)
        t0 = time.perf_counter()
        conn.execute("BEGIN")
        for t, rs in rows.items():
            conn.executemany(f"INSERT INTO {t} VALUES ({', '.join('?' * len(rs[0]))})", rs)
        conn.execute("COMMIT")
        dt = time.perf_counter() - t0
        conn.close()
        return dt
    import psycopg

    with psycopg.connect(target, autocommit=True) as conn:
        for t, cols in PLAIN.items():
            conn.execute(f"CREATE TABLE {t} ({cols.format(blob='BYTEA', real='DOUBLE PRECISION')})")
        conn.execute(INDEX)
        t0 = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur:
            for t, rs in rows.items():
                cur.executemany(f"INSERT INTO {t} VALUES ({', '.join(['%s'] * len(rs[0]))})", rs)
        return time.perf_counter() - t0


REPEAT = int(os.environ.get("SAFEMED_BENCH_SYNC_REPEAT", "5"))  # back-to-back pairs, each on fresh tables
#: ``SAFEMED_BENCH_SYNC_PARALLEL=0`` measures the sequential import (one core, macOS, Windows) instead of the default
PARALLEL = None if os.environ.get("SAFEMED_BENCH_SYNC_PARALLEL", "") in ("", "auto") else \
    os.environ["SAFEMED_BENCH_SYNC_PARALLEL"] not in ("0", "no", "false")


def _measure(backend: str, targets, keys: SiteKeys, bundle: Path) -> dict:
    """``REPEAT`` back-to-back pairs: a first import and re-import on a fresh collection, and the baseline on
    fresh tables, their order alternating (the baseline of an odd pair inserts the rows the previous import
    stored: the same rows, fresh nonces). The ratio is the median of the per-pair ratios, so that a drift in the
    machine's speed (a shared VM) hits both sides of a pair; times are the best of all pairs.

    ``targets()`` gives (site folder, collection URL or None, baseline target) for one fresh pair.
    """
    pairs, rows = [], None

    def first_import(site_dir, db_url):
        with Collection.open(site_dir, keys.site_id, db_url) as coll:
            t0 = time.perf_counter()
            res = coll.import_bundle(read_bundle_file(bundle), keys, parallel=PARALLEL)
            t_import = time.perf_counter() - t0
            assert res.new_records == N and not res.replay, res
            t0 = time.perf_counter()
            again = coll.import_bundle(read_bundle_file(bundle), keys)
            t_again = time.perf_counter() - t0
            assert again.replay and again.new_records == 0
            stored = {t: [tuple(r) for r in coll.db.query(f"SELECT * FROM {t}")] for t in PLAIN}
        return t_import, t_again, stored

    for i in range(REPEAT):
        site_dir, db_url, base_target = targets()
        if i % 2 and rows is not None:
            t_base = _baseline(backend, rows, base_target)
            rows = None  # bench machinery, not alive during the import (a fresh `collect import` holds no such heap)
            t_import, t_again, rows = first_import(site_dir, db_url)
        else:
            rows = None
            t_import, t_again, rows = first_import(site_dir, db_url)
            t_base = _baseline(backend, rows, base_target)
        pairs.append({"import_s": t_import, "reimport_s": t_again, "baseline_s": t_base,
                      "ratio": t_base / t_import})
    ratios = sorted(p["ratio"] for p in pairs)
    return {"import_s": min(p["import_s"] for p in pairs), "reimport_s": min(p["reimport_s"] for p in pairs),
            "baseline_s": min(p["baseline_s"] for p in pairs), "ratio": statistics.median(ratios),
            "ratio_range": (ratios[0], ratios[-1]), "pairs": pairs}


def run() -> dict:
    rows_out = []
    with tempfile.TemporaryDirectory(prefix="safemed-bench-sync-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        store = _workstation(root)
        build_s = time.perf_counter() - t0
        site_ops.init_site(root / "site", "bench-site", SITE_PASS, KdfParams.fast_for_tests())
        ws = WorkstationSync(root / "ws" / "sync", store)
        ws.enroll(root / "site" / "site-card.json")
        import json

        (root / "card.json").write_text(json.dumps(ws.card()))
        t0 = time.perf_counter()
        manifest = ws.export(root / "bundle.smb")
        export_s = time.perf_counter() - t0
        store.close()
        assert sum(manifest["counts"].values()) == N, manifest["counts"]
        size = (root / "bundle.smb").stat().st_size
        rows_out.append({"metric": f"export {N:,} records (records/s)", "value": round(N / export_s),
                         "target": "-", "pass": None})
        rows_out.append({"metric": "bundle size (bytes per record)", "value": round(size / N, 1), "target": "-",
                         "pass": None})
        keys = SiteKeys.unlock(root / "site", SITE_PASS)
        results = {}
        n_run = iter(range(10 ** 6))

        def sqlite_targets():
            i = next(n_run)
            d = root / f"site-sqlite-{i}"
            d.mkdir(mode=0o700)
            for name in ("site-keys.json", "site-card.json"):
                shutil.copy2(root / "site" / name, d / name)
            site_ops.accept(d, root / "card.json")
            return d, None, root / f"baseline-{i}.db"

        try:
            results["sqlite"] = _measure("sqlite", sqlite_targets, keys, root / "bundle.smb")
            pg = None
            try:
                mod = _pgserver()
                if mod.find_bin("initdb") is not None:
                    pg = mod.PgServer().start()

                    def pg_targets():
                        url = pg.new_database()
                        site_ops.accept(root / "site", root / "card.json", url)
                        return root / "site", url, pg.new_database()

                    results["postgresql"] = _measure("postgresql", pg_targets, keys, root / "bundle.smb")
            finally:
                if pg is not None:
                    pg.stop()
        finally:
            keys.close()
    for backend in ("sqlite", "postgresql"):
        r = results.get(backend)
        if r is None:
            rows_out.append({"metric": f"{backend}: import", "value": "skipped (no PostgreSQL)", "target": "-",
                             "pass": None})
            continue
        rate = N / r["import_s"]
        ratio = r["ratio"]
        speedup = r["import_s"] / r["reimport_s"]
        rows_out += [
            {"metric": f"{backend}: import (records/s)", "value": round(rate),
             "target": ">= 20000" if backend == "sqlite" else "-",
             "pass": rate >= 20000 if backend == "sqlite" else None},
            {"metric": f"{backend}: baseline executemany (records/s)", "value": round(N / r["baseline_s"]),
             "target": "-", "pass": None},
            {"metric": f"{backend}: import / baseline throughput (median of {len(r['pairs'])} pairs)",
             "value": round(ratio, 3), "target": ">= 0.5", "pass": ratio >= 0.5},
            {"metric": f"{backend}: import / baseline, lowest and highest pair",
             "value": f"{r['ratio_range'][0]:.3f} - {r['ratio_range'][1]:.3f}", "target": "-", "pass": None},
            {"metric": f"{backend}: re-import speed-up vs first import", "value": round(speedup, 1),
             "target": ">= 5x", "pass": speedup >= 5},
        ]
    mode = {None: "", True: ", forked import", False: ", sequential import"}[PARALLEL]
    return {"title": f"Sync: export and import of {N:,} records (SQLite and PostgreSQL{mode})", "rows": rows_out,
            "records": N, "store_build_s": round(build_s, 1), "raw": results}
