"""Encrypted store vs plain sqlite-utils, same run, same records, same durability settings.

* single-commit feedback latency p50/p95 (one transaction each; WAL + synchronous=FULL on both sides)
* batched insert throughput (records/s) -- target: encrypted >= 0.5 x plain
* ``Store.verify()`` on 100,000 records (built in batches)

The encrypted side does everything it does in production: validation against the rubric,
AES-256-GCM of the comment, record digest, audit event, signed checkpoint per transaction.
The store is created with the real Argon2id parameters (cost paid once, at unlock).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

if __package__ in (None, ""):  # `python bench/bench_store.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlite_utils

from safemed_desktop.records.answer import AnswerRecord, ModelIdentity
from safemed_desktop.records.patient import PatientContext
from safemed_desktop.rubric import load_rubric
from safemed_desktop.store import FeedbackInput, Store

PASS = "benchmark passphrase"
N_SINGLE = int(os.environ.get("SAFEMED_BENCH_STORE_SINGLE", "200"))
N_BATCH = int(os.environ.get("SAFEMED_BENCH_STORE_BATCH", "20000"))
BATCH = 1000
N_VERIFY = int(os.environ.get("SAFEMED_BENCH_STORE_VERIFY", "100000"))
COMMENT = ("Dose is appropriate for weight but the answer omits renal adjustment for eGFR 28; "
           "recommend checking trough levels and reviewing interacting medications. ")


def _scores(i: int) -> dict[str, int]:
    return {"medical_correctness": 1 + i % 5, "medication_safety": 1 + (i // 5) % 5, "clinical_utility": 3}


def _plain_row(i: int, answer_id: str, clinician: str) -> dict:
    """The same record, same shape, comment in clear text."""
    return {"id": str(uuid.uuid4()), "answer_id": answer_id, "clinician_id": clinician, "clinician_role": "attending",
            "rubric_id": "safemed-cts", "rubric_version": 1, "created_at": time.time(),
            "scores": json.dumps(_scores(i), sort_keys=True), "step_scores": json.dumps({"1": {"reasoning_structure": 4}}),
            "flags": json.dumps(["unsafe"] if i % 50 == 0 else []), "strike": int(i % 50 == 0),
            "comment": f"{COMMENT}#{i}"}


def _item(i: int, answer_id: str, clinician: str) -> FeedbackInput:
    return FeedbackInput(answer_id, clinician, _scores(i), {1: {"reasoning_structure": 4}},
                         ["unsafe"] if i % 50 == 0 else [], f"{COMMENT}#{i}")


def _plain_db(path: Path) -> sqlite_utils.Database:
    db = sqlite_utils.Database(path)
    db.enable_wal()
    db.execute("PRAGMA synchronous = FULL")
    db["feedback"].create({"id": str, "answer_id": str, "clinician_id": str, "clinician_role": str, "rubric_id": str,
                           "rubric_version": int, "created_at": float, "scores": str, "step_scores": str,
                           "flags": str, "strike": int, "comment": str}, pk="id")
    return db


def _answer() -> AnswerRecord:
    return AnswerRecord(question="Vancomycin dosing in CKD?", patient=PatientContext(age=70, egfr=28),
                        model=ModelIdentity("bench", "c" * 64, True, True, "plain"),
                        reasoning_steps=["renal function", "loading dose"], answer="Load 25 mg/kg, then AUC-guided.")


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def run() -> dict:
    """Measure encrypted vs plain latency and throughput, and verify time; rows in the bench format."""
    rubric = load_rubric()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="safemed-bench-store-") as tmp:
        tmp_path = Path(tmp)
        t0 = time.perf_counter()
        store = Store.create(tmp_path / "enc.db", PASS, "bench")  # real Argon2id defaults
        store.lock()
        t1 = time.perf_counter()
        store.unlock(PASS)
        unlock_s = time.perf_counter() - t1
        create_s = t1 - t0
        doc = store.add_profile("Dr Bench", "attending")
        ans = _answer()
        store.save_answer(ans)
        plain = _plain_db(tmp_path / "plain.db")

        # --- single-commit latency (interleaved so both see the same disk conditions)
        enc_lat, plain_lat = [], []
        for i in range(N_SINGLE):
            t = time.perf_counter()
            store.add_feedback(ans.id, doc, rubric, _scores(i), {1: {"reasoning_structure": 4}},
                               ["unsafe"] if i % 50 == 0 else [], f"{COMMENT}#{i}")
            enc_lat.append((time.perf_counter() - t) * 1000)
            row = _plain_row(i, ans.id, doc)
            t = time.perf_counter()
            plain["feedback"].insert(row)
            plain_lat.append((time.perf_counter() - t) * 1000)
        enc_p50, enc_p95 = statistics.median(enc_lat), _pct(enc_lat, 0.95)
        pl_p50, pl_p95 = statistics.median(plain_lat), _pct(plain_lat, 0.95)

        # --- batched throughput
        t = time.perf_counter()
        for start in range(0, N_BATCH, BATCH):
            store.add_feedback_many(rubric, [_item(i, ans.id, doc) for i in range(start, min(N_BATCH, start + BATCH))])
        enc_rate = N_BATCH / (time.perf_counter() - t)
        t = time.perf_counter()
        for start in range(0, N_BATCH, BATCH):
            plain["feedback"].insert_all([_plain_row(i, ans.id, doc) for i in range(start, min(N_BATCH, start + BATCH))],
                                         batch_size=BATCH)
        plain_rate = N_BATCH / (time.perf_counter() - t)
        plain.close()
        ratio = enc_rate / plain_rate

        # --- verify on N_VERIFY records
        have = store.stats()["records"]["feedback"]
        t = time.perf_counter()
        for start in range(have, N_VERIFY, 5000):
            store.add_feedback_many(rubric, [_item(i, ans.id, doc) for i in range(start, min(N_VERIFY, start + 5000))])
        build_s = time.perf_counter() - t
        t = time.perf_counter()
        report = store.verify()
        verify_s = time.perf_counter() - t
        n_records = report.n_records
        size_mb = (tmp_path / "enc.db").stat().st_size / 1e6
        store.close()

    rows += [
        {"metric": "argon2id create (t=3, 64 MiB, p=2) s", "value": round(create_s, 3), "target": "-", "pass": None},
        {"metric": "argon2id unlock s", "value": round(unlock_s, 3), "target": "-", "pass": None},
        {"metric": "single-commit feedback p50 ms (encrypted)", "value": round(enc_p50, 3), "target": "-", "pass": None},
        {"metric": "single-commit feedback p95 ms (encrypted)", "value": round(enc_p95, 3), "target": "-", "pass": None},
        {"metric": "single-commit insert p50 ms (plain sqlite-utils)", "value": round(pl_p50, 3), "target": "-",
         "pass": None},
        {"metric": "single-commit insert p95 ms (plain sqlite-utils)", "value": round(pl_p95, 3), "target": "-",
         "pass": None},
        {"metric": "single-commit p50 ratio encrypted/plain", "value": round(enc_p50 / pl_p50, 3), "target": "-",
         "pass": None},
        {"metric": f"batched feedback/s (encrypted, batches of {BATCH})", "value": round(enc_rate, 1), "target": "-",
         "pass": None},
        {"metric": "batched inserts/s (plain sqlite-utils insert_all)", "value": round(plain_rate, 1), "target": "-",
         "pass": None},
        {"metric": "batched throughput ratio encrypted/plain", "value": round(ratio, 3), "target": ">= 0.5",
         "pass": ratio >= 0.5},
        {"metric": f"build {N_VERIFY} records s", "value": round(build_s, 2), "target": "-", "pass": None},
        {"metric": f"store verify s ({n_records} records)", "value": round(verify_s, 2), "target": "-", "pass": None},
        {"metric": "store file MB", "value": round(size_mb, 1), "target": "-", "pass": None},
    ]
    return {"title": "Encrypted store vs plain sqlite-utils", "rows": rows,
            "notes": f"single={N_SINGLE}, batch={N_BATCH}x{BATCH}, verify={N_VERIFY}; both WAL + synchronous=FULL"}


if __name__ == "__main__":
    for row in run()["rows"]:
        print(f"{row['metric']:<55} {row['value']!s:>12}  {row['target']:<8} {row['pass']}")
