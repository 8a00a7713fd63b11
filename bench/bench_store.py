"""Encrypted store vs plain sqlite-utils, same run, same records, same durability settings.

* single-commit feedback latency p50/p95 (one transaction each; WAL + synchronous=FULL on both sides)
* batched insert throughput (records/s) -- target: encrypted >= 0.5 x plain
* ``Store.verify()`` on 100,000 records (built in batches)
* issue 10, verified ground: single-commit feedback with the incremental chain check and the head anchor
  vs the same store's write path without them (interleaved, same run; goal p95 <= 1.5x); the first check
  of a session (the whole chain from its genesis); the provenance panel's query checked (every row it
  shows or counts verified against the chain) vs unchecked (the same data read plainly; goal <= 2x)

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
from safemed_desktop.store import FeedbackInput, KdfParams, Store
from safemed_desktop.store import provenance as prov
from safemed_desktop.store import rows as store_rows
from safemed_desktop.store.chain import ChainGuard

PASS = "benchmark passphrase"
N_SINGLE = int(os.environ.get("SAFEMED_BENCH_STORE_SINGLE", "200"))
N_BATCH = int(os.environ.get("SAFEMED_BENCH_STORE_BATCH", "20000"))
BATCH = 1000
N_VERIFY = int(os.environ.get("SAFEMED_BENCH_STORE_VERIFY", "100000"))
N_PROV_ANSWERS = int(os.environ.get("SAFEMED_BENCH_STORE_PROV_ANSWERS", "400"))  # one model's answers
PROV_FEEDBACK_PER_ANSWER = 5
N_PROV_CALLS = 40
PIN = "bench-pin-2468"
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


def _provenance_unchecked(store: Store, answer_id: str) -> dict:
    """The provenance panel's data read plainly (no digest, no chain check): the same rows, decrypted, the same
    figures aggregated in SQL. The baseline the checked read is measured against."""
    cipher, conn = store._keys.cipher_or_raise(), store._conn
    answer = store._row("answers", answer_id)
    audits = [store_rows.feedback_out(r, cipher) for r in store.db["feedback"].rows_where(
        "answer_id = ?", [answer_id], order_by="created_at")]
    acks = list(store.db["acknowledgements"].rows_where("answer_id = ?", [answer_id], order_by="created_at"))
    roles = {r["id"]: r["role"] for r in store.db["profiles"].rows_where(select="id, role")}
    history = [store_rows.original_version(answer, cipher)] + [
        store_rows.edit_out(r, roles.get(r["author_id"], "?"), cipher)
        for r in store.db["edits"].rows_where("answer_id = ?", [answer_id], order_by="version")]
    sha = answer["model_sha256"]
    return {"audits": audits, "acknowledgements": acks, "edit_history": history,
            "track_record": {"overall": prov.track_record(conn, sha), "category": prov.track_record(conn, sha,
                                                                                                    answer["category"])},
            "strikes": prov.strike_status(conn, sha, store._now(), store.strike_window_days)}


def _provenance_bench(path: Path, rubric) -> tuple[float, float, float]:
    """p50 ms of ``Store.provenance`` (checked) vs the plain read, interleaved, on one model's track record; and
    the checked read with the session's memo of verified rows emptied first (every row digested: a cold read)."""
    store = Store.create(path, PASS, "bench", kdf_params=KdfParams.fast_for_tests(), admin_pin=PIN)
    try:
        doc = store.add_profile("Dr Panel", "attending", PIN)
        store.authenticate(doc, PIN)
        answers = [_answer() for _ in range(N_PROV_ANSWERS)]
        for a in answers:
            a.id = str(uuid.uuid4())
        store.save_answers(answers)
        items = [FeedbackInput(a.id, doc, _scores(i * 7 + j), {}, [], f"{COMMENT}#{i}.{j}")
                 for i, a in enumerate(answers) for j in range(PROV_FEEDBACK_PER_ANSWER)]
        store.add_feedback_many(rubric, items)
        store.add_edit(answers[0].id, "an edited answer", doc)
        target = answers[0].id
        checked = store.provenance(target)
        plain = _provenance_unchecked(store, target)
        assert checked["track_record"] == plain["track_record"] and not checked["integrity"]["failed"]
        t_checked, t_plain, t_cold = [], [], []
        for _ in range(N_PROV_CALLS):
            t = time.perf_counter()
            store.provenance(target)
            t_checked.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            _provenance_unchecked(store, target)
            t_plain.append((time.perf_counter() - t) * 1000)
            store._verified_memo.clear()
            t = time.perf_counter()
            store.provenance(target)
            t_cold.append((time.perf_counter() - t) * 1000)
        return statistics.median(t_checked), statistics.median(t_plain), statistics.median(t_cold)
    finally:
        store.close()


def run() -> dict:
    """Measure encrypted vs plain latency and throughput, and verify time; rows in the bench format."""
    rubric = load_rubric()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="safemed-bench-store-") as tmp:
        tmp_path = Path(tmp)
        t0 = time.perf_counter()
        # real Argon2id defaults; the store is created with its site administrator (one more Argon2id for the PIN)
        store = Store.create(tmp_path / "enc.db", PASS, "bench", admin_pin=PIN, anchor_dir=tmp_path / "anchors")
        store.lock()
        t1 = time.perf_counter()
        store.unlock(PASS)
        unlock_s = time.perf_counter() - t1
        create_s = t1 - t0
        store.authenticate("admin", PIN)
        doc = store.add_profile("Dr Bench", "attending", PIN)
        t = time.perf_counter()
        store.authenticate(doc, PIN)
        signin_s = time.perf_counter() - t
        ans = _answer()
        store.save_answer(ans)
        plain = _plain_db(tmp_path / "plain.db")

        # --- single-commit latency (interleaved so all three see the same disk conditions): with the chain check
        # and the anchor (production), without them (the write path before issue 10), plain sqlite-utils
        enc_lat, bare_lat, plain_lat = [], [], []
        check, anchors = store._guard.require_writable, store.anchor_dir
        for i in range(N_SINGLE):
            for lat, verified in ((enc_lat, True), (bare_lat, False)):
                store._guard.require_writable = check if verified else (lambda conn, pub: None)
                store.anchor_dir = anchors if verified else None
                t = time.perf_counter()
                store.add_feedback(ans.id, doc, rubric, _scores(i), {1: {"reasoning_structure": 4}},
                                   ["unsafe"] if i % 50 == 0 else [], f"{COMMENT}#{i}")
                lat.append((time.perf_counter() - t) * 1000)
            row = _plain_row(i, ans.id, doc)
            t = time.perf_counter()
            plain["feedback"].insert(row)
            plain_lat.append((time.perf_counter() - t) * 1000)
        store._guard.require_writable, store.anchor_dir = check, anchors
        enc_p50, enc_p95 = statistics.median(enc_lat), _pct(enc_lat, 0.95)
        bare_p50, bare_p95 = statistics.median(bare_lat), _pct(bare_lat, 0.95)
        pl_p50, pl_p95 = statistics.median(plain_lat), _pct(plain_lat, 0.95)
        write_ratio = enc_p95 / bare_p95

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
        n_events = report.n_events
        t = time.perf_counter()  # the first check of a session: the whole chain from its genesis
        fresh = ChainGuard(store.store_uuid)
        assert fresh.advance(store._conn, store._public_key()) is None
        first_check_s = time.perf_counter() - t
        size_mb = (tmp_path / "enc.db").stat().st_size / 1e6
        store.close()

        prov_checked, prov_plain, prov_cold = _provenance_bench(tmp_path / "prov.db", rubric)
        prov_ratio = prov_checked / prov_plain

    rows += [
        {"metric": "argon2id create (t=3, 64 MiB, p=2) s", "value": round(create_s, 3), "target": "-", "pass": None},
        {"metric": "argon2id unlock s", "value": round(unlock_s, 3), "target": "-", "pass": None},
        {"metric": "profile sign-in (Argon2id PIN) s", "value": round(signin_s, 3), "target": "-", "pass": None},
        {"metric": "single-commit feedback p50 ms (encrypted, chain check + anchor)", "value": round(enc_p50, 3),
         "target": "-", "pass": None},
        {"metric": "single-commit feedback p95 ms (encrypted, chain check + anchor)", "value": round(enc_p95, 3),
         "target": "-", "pass": None},
        {"metric": "single-commit feedback p50 ms (encrypted, no chain check, no anchor)", "value": round(bare_p50, 3),
         "target": "-", "pass": None},
        {"metric": "single-commit feedback p95 ms (encrypted, no chain check, no anchor)", "value": round(bare_p95, 3),
         "target": "-", "pass": None},
        {"metric": "single-commit p95 ratio verified/unverified write", "value": round(write_ratio, 3),
         "target": "<= 1.5", "pass": write_ratio <= 1.5},
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
        {"metric": f"first chain check of a session s ({n_events} events, from genesis)",
         "value": round(first_check_s, 3), "target": "-", "pass": None},
        {"metric": f"provenance p50 ms checked ({N_PROV_ANSWERS} answers x {PROV_FEEDBACK_PER_ANSWER} feedback, "
                   "as the panel reopens it)",
         "value": round(prov_checked, 3), "target": "-", "pass": None},
        {"metric": "provenance p50 ms unchecked (same data, plain reads)", "value": round(prov_plain, 3),
         "target": "-", "pass": None},
        {"metric": "provenance p50 ms checked, cold (no row verified yet this session)", "value": round(prov_cold, 3),
         "target": "-", "pass": None},
        {"metric": "provenance p50 ratio checked cold/unchecked", "value": round(prov_cold / prov_plain, 3),
         "target": "-", "pass": None},
        {"metric": "provenance p50 ratio checked/unchecked", "value": round(prov_ratio, 3), "target": "<= 2",
         "pass": prov_ratio <= 2},
        {"metric": "store file MB", "value": round(size_mb, 1), "target": "-", "pass": None},
    ]
    return {"title": "Encrypted store vs plain sqlite-utils; verified ground (issue 10)", "rows": rows,
            "notes": f"single={N_SINGLE}, batch={N_BATCH}x{BATCH}, verify={N_VERIFY}; both WAL + synchronous=FULL"}


if __name__ == "__main__":
    for row in run()["rows"]:
        print(f"{row['metric']:<55} {row['value']!s:>12}  {row['target']:<8} {row['pass']}")
