"""A real, throw-away PostgreSQL server in a temporary directory (tests and bench/bench_sync.py).

``initdb`` refuses to run as root: as root the cluster belongs to the ``postgres`` system user
(``runuser``/``setpriv``), on a temporary directory chowned to it. The server listens only on a unix
socket inside that directory (no TCP port). ``find_bin`` looks on PATH, then in
``/usr/lib/postgresql/*/bin`` (Debian's layout).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path


def find_bin(name: str = "initdb") -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        cand = Path(d) / name
        if cand.is_file():
            return str(cand)
    return None


class PgServer:
    def __init__(self) -> None:
        initdb = find_bin("initdb")
        if initdb is None:
            raise RuntimeError("PostgreSQL (initdb) is not installed")
        self.bindir = Path(initdb).parent
        self.root = Path(tempfile.mkdtemp(prefix="safemed-pg-"))
        self.data = self.root / "data"
        self.sock = self.root
        self.as_root = os.geteuid() == 0
        self.user = "postgres" if self.as_root else None
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")
            os.chmod(self.root, 0o700)

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.as_root:
            runuser = shutil.which("runuser")
            cmd = ([runuser, "-u", "postgres", "--"] if runuser else
                   [shutil.which("setpriv"), "--reuid=postgres", "--regid=postgres", "--clear-groups"]) + cmd
        return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=120)

    def start(self) -> "PgServer":
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                  "--no-sync", "--no-instructions")
        opts = (f"-k {self.sock} -c listen_addresses='' -c fsync=off -c synchronous_commit=on "
                f"-c full_page_writes=off -c max_connections=40 -c shared_buffers=64MB")
        res = self._run("pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.root / "log"), "-w", "-t", "60",
                        "start", check=False)
        if res.returncode != 0:
            log = (self.root / "log").read_text(errors="replace") if (self.root / "log").exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {res.stderr} {log[-2000:]}")
        return self

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@/{dbname}?host={self.sock}"

    def new_database(self) -> str:
        """A fresh, empty database; returns its URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        finally:
            for _ in range(3):
                try:
                    shutil.rmtree(self.root)
                    break
                except OSError:
                    time.sleep(0.2)
