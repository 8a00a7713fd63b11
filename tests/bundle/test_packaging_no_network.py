"""No network, end to end, from the source tree: a full clinician cycle under the guard.

Each CLI command runs in its own process with ``SAFEMED_NETGUARD=1`` (the CLI arms the
audit-hook guard first thing: any AF_INET/AF_INET6 socket, connect, bind or name lookup
raises and makes the process fail) and, where the machine allows it, inside a network
namespace with no interfaces (``unshare -n``). The real demo model answers, the real
encrypted store records. The guard's log must show it armed in every process and no
violation. The built binary gets the same cycle plus ``strace`` in packaging/smoke_test.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "no-network test passphrase 41"
QUESTION = "What is the usual adult dose of amoxicillin for community-acquired pneumonia?"


def _unshare_available() -> bool:
    if shutil.which("unshare") is None:
        return False
    try:
        return subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


UNSHARE = _unshare_available()


class GuardedCli:
    """Runs ``python -m safemed_desktop ...`` under the guard; checks the guard's log after each run."""

    def __init__(self, home: Path, logs: Path):
        self.home = home
        self.logs = logs
        self.n = 0

    def __call__(self, *args: str, passphrase: str | None = PASSPHRASE, **extra_env: str) -> subprocess.CompletedProcess:
        self.n += 1
        log = self.logs / f"guard-{self.n}.jsonl"
        env = {k: v for k, v in os.environ.items() if not k.startswith("SAFEMED_")}
        env.update(SAFEMED_HOME=str(self.home), SAFEMED_THREADS="2", SAFEMED_NETGUARD="1",
                   SAFEMED_NETGUARD_LOG=str(log), **extra_env)
        if passphrase:
            env["SAFEMED_PASSPHRASE"] = passphrase
            # the site administrator `store init` creates, and as whom the later commands act
            env.setdefault("SAFEMED_PROFILE", "admin")
            env.setdefault("SAFEMED_PROFILE_PIN", "pin-1357-test")
            env.setdefault("SAFEMED_NEW_PROFILE_PIN", "pin-2468-new")
        cmd = [sys.executable, "-m", "safemed_desktop", *args]
        if UNSHARE:
            cmd = ["unshare", "-n", *cmd]
        proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=240)
        records = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        assert any(r["guard"] == "active" for r in records), f"guard not armed for {args}: {proc.stderr[-800:]}"
        violations = [r for r in records if r["guard"] == "violation"]
        assert violations == [], f"{args}: network use: {violations}"
        assert proc.returncode == 0, f"{args}: exit {proc.returncode}: {proc.stderr[-1500:]}"
        return proc


@pytest.mark.model
def test_full_cycle_opens_no_network(tmp_path):
    cli = GuardedCli(tmp_path / "home", tmp_path)
    cli("store", "init")
    profile = cli("store", "add-profile", "No Network Tester", "--role", "pharmacist").stdout.strip()
    assert profile

    out = json.loads(cli("ask", "--json", "--max-tokens", "24", QUESTION).stdout)
    assert out["stored"] is True
    assert len(out["signals"]) == 7

    scores = [a for key in ("medical_correctness", "reasoning_structure", "information_sufficiency",
                            "terminology_language", "clinical_utility")
              for a in ("--score", f"{key}=2")]
    cli("feedback", out["id"], *scores, "--comment", "checked offline")

    doc = tmp_path / "signals.json"
    doc.write_text(json.dumps({"question": QUESTION, "answer": "Amoxicillin 1 g three times daily."}))
    assert len(json.loads(cli("signals", "--json", "--file", str(doc)).stdout)["signals"]) == 7

    verify = json.loads(cli("store", "verify", "--json").stdout)
    assert verify["ok"] is True
    assert cli.n == 6
