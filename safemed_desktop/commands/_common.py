"""Helpers shared by the CLI command modules."""

from __future__ import annotations

from ..config import Config, load_config


def load_cli_config(**overrides) -> Config:
    """The effective config with CLI flags (those not None) applied on top, sourced as 'cli'."""
    return load_config().with_overrides(overrides, source="cli")
