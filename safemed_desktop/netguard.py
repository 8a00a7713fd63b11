"""No-network guard: fail (and record) any attempt to use the network from Python.

SafeMed promises to open no network connections. This module turns that promise into
something a test can check. It installs a ``sys.addaudithook`` hook that watches the
CPython audit events raised by the ``socket`` module and by the stdlib network clients.

What counts as network use (blocked and recorded):

- creating a socket of any address family other than ``AF_UNIX`` (``socket.__new__``;
  family ``-1`` means the default, ``AF_INET``): AF_INET, AF_INET6, AF_PACKET, ...;
- ``connect``, ``bind``, ``sendto`` or ``sendmsg`` on a socket that is not ``AF_UNIX``;
- any name resolution: ``getaddrinfo``, ``gethostbyname(_ex)``, ``gethostbyaddr``,
  ``getnameinfo`` (even "localhost": resolution may ask a DNS server);
- the stdlib clients' own events (``http.client.connect``, ``urllib.Request``, ``ftplib``,
  ``smtplib``, ``poplib``, ``imaplib``, ``nntplib``) and ``webbrowser.open``.

What is allowed: ``AF_UNIX`` sockets (``socket.socketpair`` used by asyncio, local IPC;
they cannot leave the machine) and ``socket.gethostname`` (reads uname).

Limits: audit hooks see only what Python code does. Native code (llama.cpp, Qt's C++)
opening sockets is invisible here; the packaged smoke test covers that by running the
binary under ``strace -f`` (every socket(2)/connect(2) of every thread and child) and in
a network namespace with no interfaces (``unshare -n``) where that is available.

Use:

- ``SAFEMED_NETGUARD=1`` (or ``block``): :func:`install_from_env` (called first thing by
  ``safemed`` and ``safemed-desktop``) raises :class:`NetworkBlockedError` at the call.
  ``SAFEMED_NETGUARD=record`` records without raising.
- ``SAFEMED_NETGUARD_LOG=FILE``: one JSON line per guard event is appended there
  (``{"guard": "active", ...}`` when armed, then ``{"guard": "violation", "event": ...}``), created
  0600. A line names the audit event, the address family and the process name, never the command
  line or the event's arguments (a question, a URL or a request body may carry clinical text).
- At exit, a process that met any violation prints them to stderr and exits with
  :data:`VIOLATION_EXIT_CODE`, so a violation swallowed by ``except Exception`` still fails.
- In-process (tests): ``with netguard.blocking() as guard: ...``; the hook stays installed
  (audit hooks cannot be removed) but is inert outside the block.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import socket
import sys
import threading
import traceback
from dataclasses import dataclass, field
from typing import Iterator

from .errors import SafeMedError

ENV_VAR = "SAFEMED_NETGUARD"
LOG_ENV_VAR = "SAFEMED_NETGUARD_LOG"
VIOLATION_EXIT_CODE = 86

_AF_UNIX = getattr(socket, "AF_UNIX", None)
_ALLOWED_FAMILIES = frozenset(f for f in (_AF_UNIX,) if f is not None)

# Events whose first argument is a socket object: judged by the socket's family.
_SOCKET_METHOD_EVENTS = frozenset({"socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg"})
# Events that are network use whatever their arguments.
_ALWAYS_BLOCKED_EVENTS = frozenset({
    "socket.getaddrinfo",
    "socket.gethostbyname",
    "socket.gethostbyname_ex",
    "socket.gethostbyaddr",
    "socket.getnameinfo",
    "http.client.connect",
    "urllib.Request",
    "ftplib.connect",
    "smtplib.connect",
    "poplib.connect",
    "imaplib.open",
    "nntplib.connect",
    "webbrowser.open",
})
_WATCHED = _SOCKET_METHOD_EVENTS | _ALWAYS_BLOCKED_EVENTS | {"socket.__new__"}

_ON_VALUES = ("1", "true", "yes", "on", "block")
_RECORD_VALUES = ("record",)
_OFF_VALUES = ("", "0", "false", "no", "off")


class NetworkBlockedError(SafeMedError):
    """Something tried to use the network while the no-network guard was armed.

    Deliberately not an ``OSError``: code that tolerates connection failures with
    ``except OSError`` must not hide a guard hit.
    """


@dataclass(frozen=True)
class Violation:
    event: str
    detail: str
    stack: tuple[str, ...] = ()
    family: str | None = None

    def as_dict(self) -> dict:
        return {"event": self.event, "detail": self.detail, "family": self.family, "stack": list(self.stack)}


@dataclass
class _State:
    mode: str = "off"  # "off" | "block" | "record"
    violations: list[Violation] = field(default_factory=list)
    log_path: str | None = None
    hook_installed: bool = False
    exit_check_registered: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


_state = _State()
_in_hook = threading.local()


def _family_name(family: object) -> str:
    try:
        return socket.AddressFamily(family).name  # type: ignore[arg-type]
    except (ValueError, TypeError):
        return str(family)


def _judge(event: str, args: tuple) -> str | None:
    """The reason ``event`` is network use, or None when it is allowed."""
    if event == "socket.__new__":
        family = args[1] if len(args) > 1 else -1
        if family == -1:
            family = socket.AF_INET  # socket.socket()'s default
        if family in _ALLOWED_FAMILIES:
            return None
        return f"socket created with family {_family_name(family)}"
    if event in _SOCKET_METHOD_EVENTS:
        sock = args[0] if args else None
        family = getattr(sock, "family", None)
        if family in _ALLOWED_FAMILIES:
            return None
        # The address is not shown: the guard records the event, never its arguments.
        return f"{event.split('.', 1)[1]} on an {_family_name(family)} socket"
    if event in _ALWAYS_BLOCKED_EVENTS:
        # Never the arguments: a URL, a request body or a host name may carry clinical text.
        return event
    return None


def _family_of(event: str, args: tuple) -> str | None:
    """The address family an event concerns, by name (None for events without a socket)."""
    if event == "socket.__new__":
        family = args[1] if len(args) > 1 else -1
        return _family_name(socket.AF_INET if family == -1 else family)
    if event in _SOCKET_METHOD_EVENTS:
        family = getattr(args[0] if args else None, "family", None)
        return _family_name(family) if family is not None else None
    return None


def _process_name() -> str:
    """The program's name (never its arguments, which may hold clinical text)."""
    first = sys.argv[0] if sys.argv else ""
    if first in ("", "-c", "-m", "-"):
        return os.path.basename(sys.executable) or "python"
    name = os.path.basename(first)
    if name == "__main__.py":  # python -m package
        return os.path.basename(os.path.dirname(first)) or name
    return name


def _write_log(record: dict) -> None:
    path = _state.log_path
    if not path:
        return
    record = {**record, "process": _process_name(), "pid": os.getpid()}
    line = json.dumps(record, default=str) + "\n"
    # os.open(): the "open" audit event is not one we watch, so no recursion. A new log is 0600.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fh.write(line)


def _hook(event: str, args: tuple) -> None:
    if _WATCHED is None:  # interpreter shutdown: this module's globals are already cleared
        return
    if event not in _WATCHED or _state.mode == "off":
        return
    if getattr(_in_hook, "active", False):
        return
    _in_hook.active = True
    try:
        reason = _judge(event, args)
        if reason is None:
            return
        stack = tuple(
            f"{f.filename}:{f.lineno} in {f.name}" for f in traceback.extract_stack(limit=8)[:-2]
        )
        violation = Violation(event=event, detail=reason, stack=stack, family=_family_of(event, args))
        with _state.lock:
            _state.violations.append(violation)
        _write_log({"guard": "violation", **violation.as_dict()})
        mode = _state.mode
    finally:
        _in_hook.active = False
    if mode == "block":
        raise NetworkBlockedError(f"network use blocked by the SafeMed no-network guard: {reason}")


def _ensure_hook() -> None:
    with _state.lock:
        if _state.hook_installed:
            return
        _state.hook_installed = True
    sys.addaudithook(_hook)


def _exit_check() -> None:
    """At interpreter exit: any violation, even a swallowed one, makes the process fail."""
    if not _state.violations:
        return
    try:
        sys.stdout.flush()
    except Exception:  # stdout may be closed; the report below still goes out
        pass
    lines = [f"safemed: netguard: {len(_state.violations)} network use attempt(s):"]
    lines += [f"  {v.event}: {v.detail}" for v in _state.violations]
    print("\n".join(lines), file=sys.stderr, flush=True)
    os._exit(VIOLATION_EXIT_CODE)


def install(mode: str = "block", *, log_path: str | os.PathLike | None = None, exit_check: bool = True) -> None:
    """Arm the guard for the rest of the process (``mode`` "block" or "record")."""
    if mode not in ("block", "record"):
        raise ValueError(f"netguard mode must be 'block' or 'record', got {mode!r}")
    _ensure_hook()
    _state.log_path = os.fspath(log_path) if log_path else None
    _state.mode = mode
    if exit_check and not _state.exit_check_registered:
        # Registered early, so it runs last among atexit handlers.
        atexit.register(_exit_check)
        _state.exit_check_registered = True
    _write_log({"guard": "active", "mode": mode})  # the process name, never its arguments


def install_from_env(environ: dict[str, str] | None = None) -> str:
    """Arm the guard when ``SAFEMED_NETGUARD`` asks for it; return the mode ("off" when not).

    An unknown value arms block mode (with a warning): a typo must not disarm a test.
    """
    env = os.environ if environ is None else environ
    value = env.get(ENV_VAR, "").strip().lower()
    if value in _OFF_VALUES:
        return "off"
    if value in _ON_VALUES:
        mode = "block"
    elif value in _RECORD_VALUES:
        mode = "record"
    else:  # fail safe: a typo arms the strictest mode instead of disarming a test
        print(f"safemed: netguard: {ENV_VAR}={env.get(ENV_VAR)!r} is not 1/block, record or 0/off;"
              " arming in block mode", file=sys.stderr)
        mode = "block"
    if _state.mode != mode or _state.log_path != (env.get(LOG_ENV_VAR) or None):
        install(mode, log_path=env.get(LOG_ENV_VAR) or None)
    return mode


def violations() -> list[Violation]:
    """Violations recorded so far in this process."""
    with _state.lock:
        return list(_state.violations)


def mode() -> str:
    return _state.mode


@contextlib.contextmanager
def blocking(mode: str = "block") -> Iterator[list[Violation]]:
    """Arm the guard inside a ``with`` block (in-process tests); yields this block's violations.

    Restores the previous mode and does not register the exit check.
    """
    if mode not in ("block", "record"):
        raise ValueError(f"netguard mode must be 'block' or 'record', got {mode!r}")
    _ensure_hook()
    with _state.lock:
        previous = _state.mode
        start = len(_state.violations)
        _state.mode = mode
    seen: list[Violation] = []
    try:
        yield seen
    finally:
        with _state.lock:
            _state.mode = previous
            seen.extend(_state.violations[start:])
            del _state.violations[start:]
