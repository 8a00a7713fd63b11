"""Sync use cases (``safemed_desktop.sync``): the workstation's enrollment, export, acknowledgements and
site packs, and the site's keys, enrollment of workstations, bundle import, statistics and packs.

Workstation methods take the open store they act on; its sync state lives in ``DATA/sync/``. Site
methods take the site folder (keys, card, acknowledgements, ``collection.db``) and an optional
``postgresql://`` URL for the collection.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

if TYPE_CHECKING:
    from ..store import Store
    from ..sync import WorkstationSync


class SyncService:
    """Bundles to the site's collection, signed acknowledgements and site packs back."""

    config: Any  # provided by CoreService

    # ------------------------------------------------------------------ workstation
    @property
    def sync_dir(self) -> Path:
        return self.config.paths.data_dir / "sync"

    def _ws(self, store: "Store") -> "WorkstationSync":
        from ..sync import WorkstationSync

        return WorkstationSync(self.sync_dir, store)

    def sync_enroll(self, store: "Store", card_path: str | Path) -> dict[str, Any]:
        """Trust a site card (after IT compares its fingerprint); returns site id and fingerprint."""
        card = self._ws(store).enroll(card_path)
        return {"site_id": card.site_id, "fingerprint": card.fingerprint}

    def sync_card(self, store: "Store", out: str | Path) -> dict[str, Any]:
        """Write the workstation's public card (its Ed25519 key and id), signed; needs the unlocked store."""
        from ..paths import write_file_atomic
        from ..sync.formats import canonical
        from ..sync.keys import WorkstationCard

        doc = self._ws(store).card()
        write_file_atomic(out, canonical(doc))
        card = WorkstationCard.from_doc(doc)
        return {"workstation_id": card.workstation_id, "fingerprint": card.fingerprint, "file": str(out)}

    def sync_export(self, store: "Store", out: str | Path,
                    progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        """Write one bundle with every record not yet acknowledged; returns its manifest."""
        return self._ws(store).export(out, progress)

    def sync_ack(self, store: "Store", path: str | Path) -> dict[str, Any]:
        """Verify a site acknowledgement and advance the watermark."""
        return self._ws(store).apply_ack(path)

    def sync_status(self, store: "Store") -> dict[str, Any]:
        """Records waiting, the last export and acknowledgement, the enrolled site (works locked)."""
        return self._ws(store).status()

    def sync_pull(self, store: "Store", path: str | Path) -> dict[str, Any]:
        """Verify a site pack against the enrolled site key and apply it atomically (refuses older packs)."""
        return self._ws(store).pull(path)

    def site_figures(self, store: "Store", model_sha256: str, category: str | None = None) -> dict[str, Any] | None:
        """The site-wide track record of a model version (overall and for a category) with the pack date."""
        return self._ws(store).site_figures(model_sha256, category)

    # ------------------------------------------------------------------ site
    @staticmethod
    def site_init(site_dir: str | Path, site_id: str, passphrase: str, *, kdf_params: Any = None) -> dict[str, Any]:
        """Create the site's keys and ``SITE/site-card.json``. ``kdf_params``: tests only."""
        from ..sync import site

        card = site.init_site(site_dir, site_id, passphrase, kdf_params)
        return {"site_id": card.site_id, "fingerprint": card.fingerprint,
                "card": str(Path(site_dir) / site.SITE_CARD_FILE)}

    @staticmethod
    def collect_accept(site_dir: str | Path, card_path: str | Path, db_url: str | None = None) -> dict[str, Any]:
        """Enroll a workstation's card in the collection."""
        from ..sync import site

        card, new = site.accept(site_dir, card_path, db_url)
        return {"workstation_id": card.workstation_id, "fingerprint": card.fingerprint, "new": new}

    @staticmethod
    def collect_import(site_dir: str | Path, files: Iterable[str | Path], passphrase: str, db_url: str | None = None,
                       acks_dir: str | Path | None = None,
                       progress: Callable[[str, int, int], None] | None = None) -> list[dict[str, Any]]:
        """Import bundles (each in one transaction, each acknowledged); one outcome per file."""
        from ..sync import site

        return site.import_bundles(site_dir, files, passphrase, db_url, acks_dir, progress)

    @staticmethod
    def collect_stats(site_dir: str | Path, db_url: str | None = None) -> dict[str, Any]:
        from ..sync import site

        return site.stats(site_dir, db_url)

    @staticmethod
    def collect_pack(site_dir: str | Path, passphrase: str, out: str | Path,
                     db_url: str | None = None) -> dict[str, Any]:
        """Sign a site pack (rubric versions, knowledge packs, model manifests, guard policy, track record)."""
        from ..rubric import PUBLISHED_RUBRICS
        from ..sync import site

        rubrics = [{"id": rid, "version": v, "sha256": sha} for (rid, v), sha in sorted(PUBLISHED_RUBRICS.items())]
        pack = site.build_pack(site_dir, passphrase, out, rubrics, db_url)
        return {"pack_version": pack["pack_version"], "created_at": pack["created_at"],
                "track_record_rows": len(pack["track_record"]), "file": str(out)}
