"""Faults: another process holding the lock, SIGKILL mid-write, a full disk; plus the plaintext canary."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from safemed_desktop.errors import DiskFullError, StoreLockedError
from safemed_desktop.records.patient import PatientContext
from safemed_desktop.store import KdfParams, Store

from .conftest import ADMIN_PIN, PASSPHRASE, PIN, REPO_ROOT, make_answer, sign_in


def _python(script: str, *args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


HOLD_LOCK = """
    import sqlite3, sys, time
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    if sys.argv[2] == "exclusive-mode":
        conn.execute("PRAGMA locking_mode = EXCLUSIVE")
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("INSERT INTO meta (id, value) VALUES ('x-lock', 'x')")
        conn.execute("ROLLBACK")  # the exclusive file lock is kept in EXCLUSIVE locking mode
        conn.execute("SELECT COUNT(*) FROM meta").fetchone()
    else:
        conn.execute("BEGIN EXCLUSIVE")
    print("locked", flush=True)
    time.sleep(60)
"""


def test_database_locked_by_another_process(store, store_path, clinician, rubric):
    rec = make_answer()
    store.save_answer(rec)
    store.busy_timeout_s = 0.3
    store._conn.execute("PRAGMA busy_timeout = 300")
    holder = _python(HOLD_LOCK, str(store_path), "write-lock")
    try:
        assert holder.stdout.readline().strip() == "locked"
        t0 = time.monotonic()
        with pytest.raises(StoreLockedError, match="locked by another process"):
            store.add_feedback(rec.id, clinician, rubric, {"medical_correctness": 3}, comment="while locked")
        assert time.monotonic() - t0 < 5
        assert store.is_unlocked  # a busy database does not lock the session
    finally:
        holder.kill()
        holder.wait()
    fid = store.add_feedback(rec.id, clinician, rubric, {"medical_correctness": 3}, comment="after")
    assert [a["id"] for a in store.provenance(rec.id)["audits"]] == [fid]
    assert store.verify().ok


def test_open_fails_clearly_while_another_process_holds_an_exclusive_lock(store, store_path):
    store.close()
    holder = _python(HOLD_LOCK, str(store_path), "exclusive-mode")
    try:
        assert holder.stdout.readline().strip() == "locked", holder.stderr.read()
        with pytest.raises(StoreLockedError, match="locked by another process"):
            Store.open(store_path, busy_timeout_s=0.3)
    finally:
        holder.kill()
        holder.wait()
    s = Store.open(store_path)
    s.close()


WRITER = """
    import sys
    from safemed_desktop.rubric import load_rubric
    from safemed_desktop.store import Store
    store = Store.open(sys.argv[1])
    store.unlock(sys.argv[2])
    store.authenticate(sys.argv[4], sys.argv[5])
    rubric = load_rubric()
    i = 0
    while True:
        fid = store.add_feedback(sys.argv[3], sys.argv[4], rubric, {"medical_correctness": 1 + i % 5},
                                 {1: {"reasoning_structure": 1 + i % 5}}, ["unsafe"] if i % 7 == 0 else [],
                                 f"comment number {i}")
        print(fid, flush=True)
        i += 1
"""


def test_sigkill_during_feedback_writes_loses_no_committed_record(store, store_path, clinician):
    rec = make_answer()
    store.save_answer(rec)
    store.close()
    child = _python(WRITER, str(store_path), PASSPHRASE, rec.id, clinician, PIN)
    committed = []
    try:
        while len(committed) < 40:
            line = child.stdout.readline()
            assert line, child.stderr.read()
            committed.append(line.strip())
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL
    committed += [line.strip() for line in child.stdout.read().splitlines() if line.strip()]
    s = Store.open(store_path)
    try:
        s.unlock(PASSPHRASE)
        sign_in(s, clinician)
        stored = {a["id"] for a in s.provenance(rec.id)["audits"]}
        assert set(committed) <= stored
        assert len(stored) >= 40
        report = s.verify()
        assert report.ok, report.problems
        assert report.integrity == "ok"
        s.add_feedback(rec.id, clinician, __import__("safemed_desktop.rubric").rubric.load_rubric(),
                       {"medical_correctness": 4})  # the chain continues after the crash
        assert s.verify().ok
    finally:
        s.close()


def _fill_until_full(store, rec_id, clinician, rubric):
    n_before = store._conn.execute("SELECT COUNT(*) FROM feedback").fetchone()[0]
    events_before = store._conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0]
    written = 0
    with pytest.raises(DiskFullError, match="full.*nothing partial"):
        for i in range(10_000):
            store.add_feedback(rec_id, clinician, rubric, {"medical_correctness": 3}, comment=os.urandom(3000).hex())
            written += 1
    n_after = store._conn.execute("SELECT COUNT(*) FROM feedback").fetchone()[0]
    assert n_after == n_before + written  # the failed transaction left nothing behind
    assert store._conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0] == events_before + written
    assert not store._conn.in_transaction
    return written


def test_disk_full_via_max_page_count(store, clinician, rubric):
    rec = make_answer()
    store.save_answer(rec)
    pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
    store._conn.execute(f"PRAGMA max_page_count = {pages + 20}")
    written = _fill_until_full(store, rec.id, clinician, rubric)
    assert written >= 1
    report = store.verify()
    assert report.ok, report.problems


def _mount_tiny_tmpfs(path) -> bool:
    if os.geteuid() != 0 or sys.platform != "linux":
        return False
    path.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(path)], capture_output=True)
    return res.returncode == 0


def test_disk_full_on_a_real_tiny_filesystem(tmp_path, rubric):
    mnt = tmp_path / "tiny"
    if not _mount_tiny_tmpfs(mnt):
        pytest.skip("needs root and tmpfs to mount a 2 MiB filesystem (covered by the max_page_count test)")
    try:
        s = Store.create(mnt / "safemed.db", PASSPHRASE, "site", kdf_params=KdfParams.fast_for_tests(),
                         admin_pin=ADMIN_PIN)
        try:
            doc = s.add_profile("Dr Full Disk", "attending", PIN)
            sign_in(s, doc)
            rec = make_answer()
            s.save_answer(rec)
            written = _fill_until_full(s, rec.id, doc, rubric)
            assert written >= 1
            ids = [a["id"] for a in s.provenance(rec.id)["audits"]]
            assert len(ids) == written
        finally:
            s.close()
        s = Store.open(mnt / "safemed.db")
        try:
            s.unlock(PASSPHRASE)
            sign_in(s, doc)
            assert len(s.provenance(rec.id)["audits"]) == written
            report = s.verify()
            assert report.ok, report.problems
        finally:
            s.close()
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


CANARIES = {
    "question": "CANARYQ-zebra-ketorolac-7731",
    "answer": "CANARYA-quokka-methotrexate-4410",
    "reasoning": "CANARYR-narwhal-step-9902",
    "comment": "CANARYC-okapi-comment-3318",
    "display_name": "CANARYN-Dr-Xylophone-Quibble",
    "allergy": "CANARYP-axolotl-allergy-5521",
    "medication": "CANARYM-pangolin-med-6634",
    "edit": "CANARYE-tapir-edited-8807",
    "block_reason": "CANARYB-ibex-block-2290",
}


def _scan(store_path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    files = [p for p in store_path.parent.iterdir() if p.name.startswith(store_path.name)]
    assert files
    for p in files:
        data = p.read_bytes()
        for key, canary in CANARIES.items():
            for enc in ("utf-8", "utf-16-le"):
                if canary.encode(enc) in data:
                    found.setdefault(p.name, []).append(f"{key}/{enc}")
    return found


def test_canary_plaintext_never_reaches_disk(store_path, rubric):
    s = Store.create(store_path, PASSPHRASE, "site", kdf_params=KdfParams.fast_for_tests(), admin_pin=ADMIN_PIN)
    doc = s.add_profile(CANARIES["display_name"], "resident", PIN)
    sign_in(s, doc)
    rec = make_answer(CANARIES["question"], answer=CANARIES["answer"], steps=(CANARIES["reasoning"], "second step"),
                      patient=PatientContext(age=50, allergies=(CANARIES["allergy"],),
                                             medications=(CANARIES["medication"],)))
    blocked = make_answer(CANARIES["question"] + " again", answer="")
    blocked.blocked, blocked.block_reason = True, CANARIES["block_reason"]
    s.save_answers([rec, blocked])
    s.add_feedback(rec.id, doc, rubric, {"medical_correctness": 2}, comment=CANARIES["comment"])
    s.add_edit(rec.id, CANARIES["edit"], doc)
    s.record_acknowledgement(rec.id, doc, "medication_safety")
    assert s.get_answer(rec.id).question == CANARIES["question"]
    assert s.list_answers(search="quokka")[0]["id"] == rec.id
    wal = store_path.with_name(store_path.name + "-wal")
    assert wal.exists() and wal.stat().st_size > 0  # the records are in the WAL right now
    assert _scan(store_path) == {}  # connection open
    # positive control: clear metadata written in the same records is visible to the same scan
    raw = b"".join(p.read_bytes() for p in store_path.parent.iterdir() if p.name.startswith(store_path.name))
    assert b"formulary@2026.11.0" in raw and b"medication_safety" in raw
    sign_in(s, "admin", ADMIN_PIN)
    s.rekey()
    assert _scan(store_path) == {}
    s.close()
    assert _scan(store_path) == {}  # after close (WAL checkpointed into the main file)
    assert (store_path.stat().st_mode & 0o777) == 0o600
