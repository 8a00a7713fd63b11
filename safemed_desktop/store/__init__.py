"""The encrypted clinical store (no Qt): records, audit chain, provenance.

Entry points: ``Store.create`` / ``Store.open`` (locked) and, for the service layer,
``open_store(config)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .audit import VerifyReport
from .crypto import KdfParams
from .rows import FeedbackInput
from .schema import ROLES, SCHEMA_VERSION
from .store import Store

if TYPE_CHECKING:
    from ..config import Config


def anchor_dir(config: "Config") -> Path:
    """Where this user's head anchors live: beside the user's config, outside the store's folder."""
    return config.paths.user_config_dir / "anchors"


def open_store(config: "Config") -> Store:
    """Open the configured store (``paths.store_file``), locked, with the configured idle lock and strike window,
    anchored beside the user's config (``anchor_dir``)."""
    return Store.open(config.paths.store_file, idle_lock_minutes=config.idle_lock_minutes,
                      strike_window_days=config.strike_window_days, anchor_dir=anchor_dir(config))


__all__ = ["Store", "FeedbackInput", "VerifyReport", "KdfParams", "ROLES", "SCHEMA_VERSION", "open_store", "anchor_dir"]
