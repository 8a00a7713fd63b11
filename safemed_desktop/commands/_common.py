"""Helpers shared by the CLI command modules."""

from __future__ import annotations

import getpass
import os
import sys

from ..config import Config, load_config
from ..errors import InputError


def load_cli_config(**overrides) -> Config:
    """The effective config with CLI flags (those not None) applied on top, sourced as 'cli'."""
    return load_config().with_overrides(overrides, source="cli")


def passphrase_from_env_or_prompt(*, confirm: bool = False, prompt: str = "Site passphrase: ") -> str:
    """The store passphrase from SAFEMED_PASSPHRASE, else an interactive prompt (twice with confirm)."""
    env = os.environ.get("SAFEMED_PASSPHRASE")
    if env:
        return env
    if not sys.stdin.isatty():
        raise InputError("no passphrase: set SAFEMED_PASSPHRASE or run in a terminal")
    first = getpass.getpass(prompt)
    if confirm and getpass.getpass("Repeat passphrase: ") != first:
        raise InputError("the two passphrases differ")
    return first
