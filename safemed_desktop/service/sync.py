"""Sync use cases (``safemed_desktop.sync``): the workstation's enrollment, export, acknowledgements and
site packs, and the site's keys, enrollment of workstations, bundle import, statistics and packs.

Workstation methods take the open store they act on; its sync state lives in ``DATA/sync/``. Site
methods take the site folder (keys, card, acknowledgements, ``collection.db``) and an optional
``postgresql://`` URL for the collection.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from ..errors import SafeMedError

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
        """Trust a site card (after IT compares its fingerprint); returns site id and fingerprint. Site
        administrators only: the enrolled site's key decides whose packs (approved models, guard policy,
        knowledge) this workstation accepts."""
        from ..records.profile import ADMIN_ROLE

        store.require_profile(ADMIN_ROLE)
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
        """Verify a site pack against the enrolled site key, check every part of it (knowledge packs, model
        manifests, guard policy: one bad part refuses the whole pack) and apply it atomically: from now on the
        signals read its knowledge packs, its manifests approve models and its guard policy tightens this
        workstation's. Refuses older packs."""
        from ..signals.packs import overlay_packs, set_site_overlay

        before = overlay_packs()
        checked: list[tuple[dict[str, Any], tuple]] = []
        try:  # the pack the workstation verified and checked (its knowledge packs already loaded) is the one applied
            res = self._ws(store).pull(path, validate=lambda doc: checked.append((doc, self._site_pack_parts(doc))))
        except BaseException:
            set_site_overlay(before)  # refused, or not written: the knowledge in effect stays as it was
            raise
        if checked:
            self._apply_site_pack(*checked[0])
        res["in_effect"] = self.site_pack_in_effect()
        return res

    # the applied site pack, in effect in this process ---------------------------------------------
    site_pack_problem: str | None = None  # why the applied pack could not be used at start (doctor shows it)
    _site_pack_effect: dict[str, Any] | None = None
    _site_pack_doc: dict[str, Any] | None = None  # the verified pack in effect

    def _site_pack_parts(self, doc: dict[str, Any]) -> tuple[dict[str, str], tuple[dict[str, Any], ...], dict]:
        """(guard policy, model manifests, knowledge packs) of a verified pack, each checked; BundleError naming
        the first bad part. The knowledge packs are checked by building every signal's rules from them, so on
        success they are in effect (process-wide) with those rules built; on failure the overlay is as before."""
        from ..errors import BundleError, ConfigError, ModelError, PackError
        from ..model_registry import parse_manifest
        from ..signals.packs import check_overlay

        what = f"site pack version {doc.get('pack_version')}"
        policy = doc.get("guard_policy") or {}
        try:
            guard = self.config.with_overrides({"guard": policy}, source=what).guard if policy else {}
        except ConfigError as exc:
            raise BundleError(f"{what}: its guard policy is invalid: {exc}") from None
        manifests = doc.get("model_manifests") or {}
        if not isinstance(manifests, dict):
            raise BundleError(f"{what}: model manifests must be an object of name -> manifest")
        try:
            for name, m in sorted(manifests.items()):
                parse_manifest(m, Path(f"<{what}>/{name}"), from_site_pack=True)
            packs = check_overlay(doc.get("knowledge_packs") or {}, what)
        except (ModelError, PackError) as exc:
            raise BundleError(str(exc)) from None
        from ..signals.packs import overlay_packs, set_site_overlay

        previous = overlay_packs()
        if set_site_overlay(packs) and packs:  # each signal module checks its own entries: build every rule
            from ..records import SignalContext
            from ..signals.pipeline import check_rules

            try:
                check_rules(SignalContext(question="Ibuprofen 400 mg for a patient on warfarin?",
                                          answer="Avoid ibuprofen; paracetamol 500 mg is safer."))
            except Exception as exc:  # noqa: BLE001  (any failure to build rules refuses the pack, named)
                set_site_overlay(previous)
                raise BundleError(f"{what}: a knowledge pack does not load: {exc}") from None
        return guard, tuple(manifests[k] for k in sorted(manifests)), packs

    def _apply_site_pack(self, doc: dict[str, Any] | None, parts: tuple | None = None) -> None:
        """Put a verified pack in effect (or, with None, none): knowledge packs for the signals, manifests for the
        model list, and its guard policy where it is stricter than this workstation's (block beats warn).
        ``parts``: what ``_site_pack_parts`` already returned for ``doc`` (it is not checked twice)."""
        from dataclasses import replace

        from ..signals.packs import set_site_overlay

        if doc is None:
            set_site_overlay({})
            self._site_pack_effect = self._site_pack_doc = None
            return
        guard, manifests, packs = parts if parts is not None else self._site_pack_parts(doc)
        origin = f"site pack v{doc['pack_version']}"
        cfg = replace(self.config, pack_manifests=manifests, pack_origin=origin)
        tightened = {k: "block" for k, v in guard.items() if v == "block" and cfg.guard_action(k) != "block"}
        if tightened:
            cfg = cfg.with_overrides({"guard": {**cfg.guard, **tightened}}, source=origin)
        self.config = cfg
        self._site_pack_doc = doc
        self._site_pack_effect = {"pack_version": doc["pack_version"], "created_at": doc.get("created_at"),
                                  "knowledge_packs": {n: p.version for n, p in sorted(packs.items())},
                                  "model_manifests": [m.get("id") for m in manifests],
                                  "guard_tightened": sorted(tightened)}

    def load_site_pack(self) -> None:
        """At start: put the applied site pack in effect, verified again (digest, site signature, contents).
        A pack that fails is not used, and ``site_pack_problem`` says why (``safemed doctor`` and the window
        show it); the app itself still starts, with the bundled knowledge and this workstation's policy."""
        from ..sync.workstation import read_applied_pack

        self.site_pack_problem = None
        try:
            self._apply_site_pack(read_applied_pack(self.sync_dir))
        except SafeMedError as exc:
            self._apply_site_pack(None)
            self.site_pack_problem = f"the applied site pack is not used: {exc}"

    def site_track_record(self, prov: dict[str, Any]) -> dict[str, Any] | None:
        """The site-wide figures for an answer's model version and category from the pack in effect (None
        without one): ``{pack_version, pack_date, overall, category}``."""
        pack = self._site_pack_doc
        if pack is None:
            return None
        from ..sync.workstation import figures_from_pack

        return figures_from_pack(pack, (prov.get("model") or {}).get("sha256", ""), prov.get("category"))

    def site_pack_in_effect(self) -> dict[str, Any] | None:
        """What the applied site pack changes in this process (version, knowledge packs, models, guard)."""
        return self._site_pack_effect

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
