"""A real ``safemed eval mcq`` subprocess killed with SIGKILL mid-run, resumed with ``--run-id``, compared with an
uninterrupted run of the same command; then ``eval list`` and ``eval show`` on the results."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from .conftest import DATA, eval_env, make_service

CMD = [sys.executable, "-m", "safemed_desktop", "eval", "mcq", str(DATA / "medqa_mini.jsonl"), "--format", "medqa",
       "--json", "--no-progress"]


def _count(db, sql):
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute(sql).fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def test_sigkill_then_resume_equals_uninterrupted(tmp_path, demo_model_path):
    home = tmp_path / "home"
    svc, store = make_service(home)
    db = store.path
    store.close()
    env = eval_env(home)

    proc = subprocess.Popen(CMD, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 600
    while _count(db, "SELECT COUNT(*) FROM eval_items") < 1:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "no item was committed in time"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    err = proc.stderr.read().decode()
    kept = _count(db, "SELECT COUNT(*) FROM eval_items")
    if kept >= 5:
        pytest.fail("the run finished before it could be killed")
    run_id = next(ln.split("--run-id ")[1].strip() for ln in err.splitlines() if "--run-id" in ln)  # said at start

    resumed = subprocess.run(CMD + ["--run-id", run_id], env=env, capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr
    out = json.loads(resumed.stdout)
    assert out["run_id"] == run_id and out["n"] == 5 and out["n_new"] == 5 - kept
    assert "resuming" in resumed.stderr

    fresh = subprocess.run(CMD, env=env, capture_output=True, text=True, timeout=900)
    assert fresh.returncode == 0, fresh.stderr
    other = json.loads(fresh.stdout)
    assert other["run_id"] != run_id
    assert other["accuracy"] == out["accuracy"] and other["ece"] == pytest.approx(out["ece"], abs=1e-3)

    store = svc.unlock_store("correct horse battery staple")
    try:
        store.authenticate("admin", "admin-pin-1357")
        a = store.eval_items(run_id)
        b = store.eval_items(other["run_id"])
        assert [i["item_key"] for i in a] == [i["item_key"] for i in b]
        for x, y in zip(a, b):
            assert x["result"]["choice"] == y["result"]["choice"]
            for letter, p in x["result"]["probs"].items():
                assert p == pytest.approx(y["result"]["probs"][letter], abs=1e-3)
        assert store.verify().ok  # the kill left the chain whole
    finally:
        store.close()

    listed = subprocess.run([sys.executable, "-m", "safemed_desktop", "eval", "list", "--json"], env=env,
                            capture_output=True, text=True, timeout=300)
    runs = {r["run_id"]: r for r in json.loads(listed.stdout)}
    assert runs[run_id]["status"] == "complete" and runs[run_id]["n_done"] == 5
    shown = subprocess.run([sys.executable, "-m", "safemed_desktop", "eval", "show", run_id, "--json", "--items"],
                           env=env, capture_output=True, text=True, timeout=300)
    run = json.loads(shown.stdout)
    assert run["summary"]["accuracy"] == out["accuracy"] and len(run["items"]) == 5
    missing = subprocess.run([sys.executable, "-m", "safemed_desktop", "eval", "show", "nope"], env=env,
                             capture_output=True, text=True, timeout=300)
    assert missing.returncode == 2 and "no evaluation run" in missing.stderr
