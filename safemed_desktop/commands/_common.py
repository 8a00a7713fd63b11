"""Helpers shared by the CLI command modules: the config with CLI flags, the passphrase, the profile that acts,
the unlocked store.

Every command that reads or writes clinical records acts as one profile: the one named by ``--as`` (see
``add_as_argument``) or ``SAFEMED_PROFILE`` (display name or id), authenticated by ``SAFEMED_PROFILE_PIN``
or a prompt. The store enforces what that profile's role may do.
"""

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
PROFILE_ENV = "SAFEMED_PROFILE"
PIN_ENV = "SAFEMED_PROFILE_PIN"
NEW_PIN_ENV = "SAFEMED_NEW_PROFILE_PIN"
SITE_PASSPHRASE_ENV = "SAFEMED_SITE_PASSPHRASE"


def add_as_argument(parser) -> None:
    """``--as NAME|ID``: the profile the command acts as (default: ``SAFEMED_PROFILE``)."""
    parser.add_argument("--as", dest="as_profile", metavar="PROFILE",
                        help=f"act as this profile (display name or id; default ${PROFILE_ENV}); its PIN from "
                             f"${PIN_ENV} or a prompt")


def profile_name(who: str | None = None) -> str:
    """The profile to act as: ``who`` (``--as``), else ``SAFEMED_PROFILE``; InputError when neither is set."""
    name = who or os.environ.get(PROFILE_ENV)
    if not name or not name.strip():
        raise InputError(f"name the profile to act as: --as NAME or {PROFILE_ENV}")
    return name.strip()


def _read_secret(prompt: str, env: str, confirm: bool, what: str, plural: str) -> str:
    """A secret from ``env`` if set, else a getpass prompt (twice when ``confirm``); ``what`` names it in errors."""
    value = os.environ.get(env)
    if value:
        return value
    try:
        first = getpass.getpass(prompt)
        if confirm and getpass.getpass("Repeat: ") != first:
            raise InputError(f"the two {plural} differ; nothing was changed")
    except EOFError:
        raise InputError(f"no {what} given (set {env} or run in a terminal)") from None
    if not first:
        raise InputError(f"the {what} is empty")
    return first


def read_pin(prompt: str = "Profile PIN: ", *, env: str = PIN_ENV, confirm: bool = False) -> str:
    """A profile PIN or passphrase from ``env`` if set, else a getpass prompt (twice when ``confirm``)."""
    return _read_secret(prompt, env, confirm, "profile PIN", "PINs")


def load_cli_config(**overrides: Any) -> Config:
    """The effective config with CLI flags (those not None) applied on top, sourced as 'cli'."""
    return load_config().with_overrides(overrides, source="cli")


def cli_service(**overrides: Any) -> SafeMedService:
    """The service on the effective config (CLI flags applied)."""
    return SafeMedService(load_cli_config(**overrides))


def read_passphrase(prompt: str = "Store passphrase: ", *, env: str = PASSPHRASE_ENV, confirm: bool = False) -> str:
    """The passphrase from ``env`` if set, else a getpass prompt (twice when ``confirm``)."""
    return _read_secret(prompt, env, confirm, "passphrase", "passphrases")


def read_site_passphrase(prompt: str = "Site passphrase: ", *, confirm: bool = False) -> str:
    """The site's passphrase (its keys and collection) from ``SAFEMED_SITE_PASSPHRASE`` or a prompt."""
    return read_passphrase(prompt, env=SITE_PASSPHRASE_ENV, confirm=confirm)


@contextmanager
def unlocked_store(service: SafeMedService | None = None, *, who: str | None = None,
                   sign_in: bool = True) -> Iterator[Any]:
    """The configured store, unlocked with the passphrase (env or prompt) and, with ``sign_in``, signed in as
    the profile ``who`` (``--as``) or ``SAFEMED_PROFILE`` with its PIN (env or prompt); closed on exit."""
    service = service or cli_service()
    name = profile_name(who) if sign_in else None
    store = service.open_store()
    try:
        service.unlock_store(read_passphrase(), store)
        if name is not None:
            service.authenticate(store, name, read_pin(f"PIN for profile {name}: "))
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
