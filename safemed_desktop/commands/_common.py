"""Helpers shared by the CLI command modules: the config with CLI flags, the passphrase, the unlocked store."""

from __future__ import annotations

import getpass
import os
import sys
from contextlib import contextmanager
from typing import Any, Iterator

from ..config import Config, load_config
from ..errors import InputError
from ..service import SafeMedService

#: The most a question or comment read from a file or standard input may be (bytes).
MAX_TEXT_INPUT_BYTES = 1024 * 1024

PASSPHRASE_ENV = "SAFEMED_PASSPHRASE"
NEW_PASSPHRASE_ENV = "SAFEMED_NEW_PASSPHRASE"


def load_cli_config(**overrides: Any) -> Config:
    """The effective config with CLI flags (those not None) applied on top, sourced as 'cli'."""
    return load_config().with_overrides(overrides, source="cli")


def cli_service(**overrides: Any) -> SafeMedService:
    """The service on the effective config (CLI flags applied)."""
    return SafeMedService(load_cli_config(**overrides))


def read_passphrase(prompt: str = "Store passphrase: ", *, env: str = PASSPHRASE_ENV, confirm: bool = False) -> str:
    """The passphrase from ``env`` if set, else a getpass prompt (twice when ``confirm``)."""
    value = os.environ.get(env)
    if value:
        return value
    try:
        first = getpass.getpass(prompt)
        if confirm and getpass.getpass("Repeat: ") != first:
            raise InputError("the two passphrases differ; nothing was changed")
    except EOFError:
        raise InputError(f"no passphrase given (set {env} or run in a terminal)") from None
    if not first:
        raise InputError("the passphrase is empty")
    return first


@contextmanager
def unlocked_store(service: SafeMedService | None = None) -> Iterator[Any]:
    """The configured store, unlocked with the passphrase (env or prompt); closed on exit."""
    service = service or cli_service()
    store = service.open_store()
    try:
        service.unlock_store(read_passphrase(), store)
        yield store
    finally:
        store.close()


def warn_visible_argument(what: str, how: str) -> None:
    """One stderr line: clinical text given as an argument is visible to other local users."""
    print(f"safemed: warning: the {what} given on the command line is visible to other local users"
          f" (e.g. in `ps`); use {how} instead", file=sys.stderr)


def read_clinical_text(source: str | os.PathLike, what: str) -> str:
    """The text of a question or comment from ``-`` (standard input) or a file; InputError (one line) otherwise.

    UTF-8 only, at most ``MAX_TEXT_INPUT_BYTES``; surrounding whitespace is removed. Clinical text read
    this way never appears in the process's command line.
    """
    if os.fspath(source) == "-":
        origin = f"the {what} on standard input"
        try:
            raw = sys.stdin.buffer.read(MAX_TEXT_INPUT_BYTES + 1)
        except (OSError, ValueError, AttributeError) as exc:
            raise InputError(f"cannot read {origin}: {exc}") from None
    else:
        origin = f"{what} file {os.fspath(source)}"
        raw = SafeMedService.read_user_file(source, f"{what} file", MAX_TEXT_INPUT_BYTES)
    return SafeMedService.decode_text(raw, origin, MAX_TEXT_INPUT_BYTES).strip()
