"""SIGKILL in the middle of a merge leaves the collection as before that bundle; re-running completes it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from .conftest import SITE_PASSPHRASE

REPO = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent("""
    import sys, time
    from safemed_desktop.sync import site as S

    def progress(stage, done, total):
        if stage == "merge" and 0 < done < total:  # inside the merge transaction, rows already inserted
            print("MID", flush=True)
            time.sleep(120)

    site_dir, bundle, db_url = sys.argv[1], sys.argv[2], sys.argv[3] or None
    S.import_bundles(site_dir, [bundle], sys.stdin.readline().strip(), db_url, None, progress)
    print("DONE", flush=True)
""")


def kill_mid_merge(site, bundle, script: str = SCRIPT, before_kill=lambda lines: None) -> list[str]:
    """Import ``bundle`` in another process running ``script``, SIGKILL it inside the merge transaction (once it
    printed MID); the lines it printed before MID. ``before_kill(lines)`` runs just before the kill."""
    proc = subprocess.Popen([sys.executable, "-c", script, str(site.dir), str(bundle), site.db_url or ""],
                            cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        proc.stdin.write(SITE_PASSPHRASE + "\n")  # never on the command line
        proc.stdin.flush()
        lines = []
        while (line := proc.stdout.readline().strip()) != "MID":
            assert line, "the import ended before its merge"
            lines.append(line)
        before_kill(lines)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
        return lines
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sigkill_during_import_then_rerun(enrolled, tmp_path):
    site, ws = enrolled
    ws.add(3)
    bundle = ws.export()
    before = site.snapshot()
    kill_mid_merge(site, bundle)
    assert site.snapshot() == before
    (out,) = site.import_(bundle)
    assert out["ok"] and not out["replay"] and out["new_records"] == 7
    with site.collection() as c:
        assert c.stats()["records"] == {"answers": 3, "feedback": 3, "profiles": 1}
