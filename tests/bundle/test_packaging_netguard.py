"""The no-network guard, in process: what it blocks, what it lets through, how it reports."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from safemed_desktop import netguard
from safemed_desktop.errors import SafeMedError
from safemed_desktop.netguard import NetworkBlockedError

ROOT = Path(__file__).resolve().parents[2]
TEST_NET = "192.0.2.1"  # RFC 5737 TEST-NET-1: never routed


def test_blocks_creating_an_inet_socket():
    with netguard.blocking() as seen:
        with pytest.raises(NetworkBlockedError, match="AF_INET"):
            socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        with pytest.raises(NetworkBlockedError, match="AF_INET6"):
            socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        with pytest.raises(NetworkBlockedError):
            socket.socket()  # the default family is AF_INET
    assert [v.event for v in seen] == ["socket.__new__"] * 3


def test_blocks_connect_and_bind_on_a_socket_made_before_the_guard():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        with netguard.blocking() as seen:
            with pytest.raises(NetworkBlockedError, match="connect on an AF_INET socket"):
                sock.connect((TEST_NET, 9))
            with pytest.raises(NetworkBlockedError, match="bind"):
                sock.bind(("127.0.0.1", 0))
    finally:
        sock.close()
    assert [v.event for v in seen] == ["socket.connect", "socket.bind"]


def test_blocks_name_resolution_even_for_localhost():
    with netguard.blocking() as seen:
        with pytest.raises(NetworkBlockedError):
            socket.getaddrinfo("localhost", 80)
        with pytest.raises(NetworkBlockedError):
            socket.gethostbyname("localhost")
    assert [v.event for v in seen] == ["socket.getaddrinfo", "socket.gethostbyname"]


def test_blocks_stdlib_http_client_before_any_socket():
    with netguard.blocking() as seen:
        with pytest.raises(NetworkBlockedError):
            urllib.request.urlopen(f"http://{TEST_NET}/", timeout=1)
    assert seen[0].event == "urllib.Request"


def test_the_error_escapes_except_oserror():
    """Code that tolerates connection failures must not hide a guard hit."""
    assert issubclass(NetworkBlockedError, SafeMedError)
    assert not issubclass(NetworkBlockedError, OSError)
    with netguard.blocking():
        with pytest.raises(NetworkBlockedError):
            try:
                socket.create_connection((TEST_NET, 9), timeout=1)
            except OSError:
                pass


def test_allows_local_ipc(tmp_path):
    with netguard.blocking() as seen:
        a, b = socket.socketpair()
        with a, b:
            a.sendall(b"ping")
            assert b.recv(4) == b"ping"
        path = str(tmp_path / "ipc.sock")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
            server.bind(path)
            server.listen(1)
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
                client.connect(path)
        assert socket.gethostname()
    assert seen == []


def test_record_mode_records_without_raising_and_is_scoped():
    with netguard.blocking("record") as seen:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.close()
    assert [v.event for v in seen] == ["socket.__new__"]
    assert netguard.mode() == "off"
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).close()  # inert outside the block


@pytest.mark.parametrize("value", ["", "0", "off", "false"])
def test_install_from_env_off_values_do_not_arm(value):
    assert netguard.install_from_env({"SAFEMED_NETGUARD": value}) == "off"
    assert netguard.mode() == "off"


def _run_guarded(code: str, tmp_path: Path, value: str = "1") -> tuple[subprocess.CompletedProcess, list[dict]]:
    log = tmp_path / "guard.jsonl"
    env = {**os.environ, "SAFEMED_NETGUARD": value, "SAFEMED_NETGUARD_LOG": str(log)}
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    records = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return proc, records


def test_a_swallowed_violation_still_fails_the_process(tmp_path):
    code = (
        "from safemed_desktop import netguard\n"
        "netguard.install_from_env()\n"
        "import socket\n"
        "try:\n"
        f"    socket.create_connection(('{TEST_NET}', 9), timeout=1)\n"
        "except Exception:\n"
        "    pass\n"
        "print('finished')\n"
    )
    proc, records = _run_guarded(code, tmp_path)
    assert "finished" in proc.stdout
    assert proc.returncode == netguard.VIOLATION_EXIT_CODE
    assert "socket.getaddrinfo" in proc.stderr
    assert [r["guard"] for r in records] == ["active", "violation"]
    assert records[1]["event"] == "socket.getaddrinfo"


def test_a_clean_process_exits_normally_and_logs_that_it_was_armed(tmp_path):
    code = "from safemed_desktop import netguard\nprint(netguard.install_from_env())\n"
    proc, records = _run_guarded(code, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "block"
    assert records == [{"guard": "active", "mode": "block", "process": os.path.basename(sys.executable),
                        "pid": records[0]["pid"]}]
    assert (tmp_path / "guard.jsonl").stat().st_mode & 0o777 == 0o600


def test_the_log_records_the_event_never_the_arguments(tmp_path):
    secret = "warfarin-dose-for-patient-Jane-Roe"
    code = (
        "import sys\n"
        f"sys.argv = ['safemed', 'ask', '{secret}']\n"
        "from safemed_desktop import netguard\n"
        "netguard.install_from_env()\n"
        "import socket, urllib.request\n"
        "try:\n"
        f"    urllib.request.urlopen('http://{secret}.example/?q={secret}', data=b'{secret}', timeout=1)\n"
        "except Exception:\n"
        "    pass\n"
        "try:\n"
        f"    socket.socket(socket.AF_INET6, socket.SOCK_STREAM)\n"
        "except Exception:\n"
        "    pass\n"
    )
    proc, records = _run_guarded(code, tmp_path, value="record")
    assert proc.returncode == netguard.VIOLATION_EXIT_CODE
    text = (tmp_path / "guard.jsonl").read_text()
    assert secret not in text and secret not in proc.stderr
    assert records[0] == {"guard": "active", "mode": "record", "process": "safemed", "pid": records[0]["pid"]}
    events = [(r["event"], r["family"], r["process"]) for r in records[1:]]
    assert ("urllib.Request", None, "safemed") in events
    assert ("socket.__new__", "AF_INET6", "safemed") in events


def test_an_unknown_setting_arms_block_mode(tmp_path):
    code = "from safemed_desktop import netguard\nprint(netguard.install_from_env())\n"
    proc, records = _run_guarded(code, tmp_path, value="yes-please")
    assert proc.stdout.strip() == "block"
    assert "arming in block mode" in proc.stderr
    assert records[0]["mode"] == "block"
