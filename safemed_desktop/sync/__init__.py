"""Sync (layer 7, no Qt): workstation bundles to the site's collection, signed site packs back.

* ``keys``: site keys (X25519 + Ed25519 + collection data key, wrapped under the site passphrase),
  site and workstation cards.
* ``bundle``: the bundle file (signed manifest, payload encrypted to the site).
* ``backends`` / ``collection``: the site's collection on SQLite or PostgreSQL, one code path;
  the verified, all-or-nothing merge.
* ``acks``: site-signed acknowledgements and site packs.
* ``workstation``: the workstation's state (enrolled site, watermark), export, ack, pull.
* ``site``: the site's use cases.

What travels is declared by the store's schema (``store.export.exportable_tables``). See docs/sync.md.
"""

from __future__ import annotations

from .keys import SiteCard, SiteKeys, WorkstationCard
from .workstation import WorkstationSync

__all__ = ["SiteCard", "SiteKeys", "WorkstationCard", "WorkstationSync"]
