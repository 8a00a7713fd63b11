"""The site's use cases: create keys, enroll workstations, import bundles, statistics, site packs."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable

from ..errors import SafeMedError
from ..paths import write_file_atomic
from .acks import make_ack, make_pack, write_ack
from .bundle import read_bundle_file
from .collection import Collection
from .formats import canonical, read_json_doc
from .keys import SITE_CARD_FILE, SiteCard, SiteKeys, WorkstationCard, read_site_card_in

Progress = Callable[[str, int, int], None]


def init_site(site_dir: str | Path, site_id: str, passphrase: str, kdf_params: Any = None) -> SiteCard:
    keys = SiteKeys.create(site_dir, site_id, passphrase, kdf_params)
    try:
        return keys.card
    finally:
        keys.close()


def open_collection(site_dir: str | Path, db_url: str | None = None) -> Collection:
    return Collection.open(site_dir, read_site_card_in(site_dir).site_id, db_url)


def accept(site_dir: str | Path, card_path: str | Path, db_url: str | None = None) -> tuple[WorkstationCard, bool]:
    doc = read_json_doc(card_path, "workstation card")
    card = WorkstationCard.from_doc(doc, f"workstation card {card_path}")
    with open_collection(site_dir, db_url) as coll:
        return card, coll.accept(card, doc)


def import_bundles(site_dir: str | Path, files: Iterable[str | Path], passphrase: str, db_url: str | None = None,
                   acks_dir: str | Path | None = None, progress: Progress | None = None) -> list[dict[str, Any]]:
    """Import each bundle (one transaction each); one outcome per file: ``ok`` with counts, or ``error``."""
    keys = SiteKeys.unlock(site_dir, passphrase)
    acks = Path(acks_dir) if acks_dir else Path(site_dir) / "acks"
    out: list[dict[str, Any]] = []
    try:
        with Collection.open(site_dir, keys.site_id, db_url) as coll:
            for f in files:
                try:
                    res = coll.import_bundle(read_bundle_file(f), keys, progress)
                    ack_path = write_ack(acks, make_ack(keys, res))
                    out.append({"file": str(f), "ok": True, "bundle_id": res.bundle_id,
                                "workstation_id": res.workstation_id, "counts": res.counts,
                                "new_records": res.new_records, "replay": res.replay, "events": res.events,
                                "watermark": res.to_seq, "ack": str(ack_path)})
                except SafeMedError as exc:
                    out.append({"file": str(f), "ok": False, "error": str(exc)})
    finally:
        keys.close()
    return out


def stats(site_dir: str | Path, db_url: str | None = None) -> dict[str, Any]:
    with open_collection(site_dir, db_url) as coll:
        return coll.stats()


def build_pack(site_dir: str | Path, passphrase: str, out: str | Path, rubrics: list[dict[str, Any]],
               db_url: str | None = None) -> dict[str, Any]:
    keys = SiteKeys.unlock(site_dir, passphrase)
    try:
        with Collection.open(site_dir, keys.site_id, db_url) as coll:
            pack = make_pack(keys, coll, rubrics)
    finally:
        keys.close()
    write_file_atomic(out, canonical(pack))
    return pack


__all__ = ["init_site", "open_collection", "accept", "import_bundles", "stats", "build_pack", "SITE_CARD_FILE"]
