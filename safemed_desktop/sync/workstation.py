"""The workstation's side: the enrolled site, the watermark, export, acknowledgements, site packs.

State lives in ``DATA/sync/`` (0700): ``state.json`` (the trusted site card, the watermark, the last
export and acknowledgement, the applied pack's version) and ``site-pack.json`` (the applied pack).
Losing the state is safe: the next export starts from the beginning and the site skips every record
it already holds.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

from .. import jsonio
from ..errors import BundleError, InputError
from ..paths import make_dir, write_file_atomic
from ..store.audit import checkpoint_message
from .acks import check_ack, check_pack
from .bundle import build_bundle
from .formats import canonical, read_json_doc, sha256_hex, unb64
from .keys import SiteCard, WorkstationCard

STATE_FILE = "state.json"
PACK_FILE = "site-pack.json"


class WorkstationSync:
    """Sync state of one store (``store``: an open ``Store``) kept under ``state_dir``."""

    def __init__(self, state_dir: str | Path, store: Any):
        self.dir = Path(state_dir)
        self.store = store

    # ------------------------------------------------------------------ state
    def state(self) -> dict[str, Any]:
        path = self.dir / STATE_FILE
        if not path.is_file():
            return {}
        try:
            st = jsonio.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise InputError(f"the sync state {path} is unreadable", hint="delete it and enroll the site again")
        if st.get("workstation_id") not in (None, self.store.store_uuid):
            return {}  # the state of another store (recreated): start over
        return st

    def _save(self, st: dict[str, Any]) -> None:
        st["workstation_id"] = self.store.store_uuid
        make_dir(self.dir)
        write_file_atomic(self.dir / STATE_FILE, json.dumps(st, indent=2, sort_keys=True))

    def site(self) -> SiteCard:
        doc = self.state().get("site")
        if not doc:
            raise InputError("no site is enrolled on this workstation", hint="run `safemed sync enroll CARD`")
        return SiteCard.from_doc(doc, "the enrolled site card")

    def watermark(self) -> int:
        return int(self.state().get("watermark", {}).get("seq", 0))

    # ------------------------------------------------------------------ enrollment
    def enroll(self, card_path: str | Path) -> SiteCard:
        doc = read_json_doc(card_path, "site card")
        card = SiteCard.from_doc(doc, f"site card {card_path}")
        st = self.state()
        old = st.get("site")
        if old and SiteCard.from_doc(old).sign_public != card.sign_public:
            st.pop("watermark", None)  # a new site holds none of our records
            st.pop("pack", None)
        st["site"] = doc
        self._save(st)
        return card

    def card(self) -> dict[str, Any]:
        wc = WorkstationCard(self.store.store_uuid, self.store.site_id, self.store.signing_public_key())
        return wc.to_doc(self.store.sign_sync)

    # ------------------------------------------------------------------ export
    def export(self, out: str | Path, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        site = self.site()
        since = self.watermark()
        batch = self.store.export_since(since, progress)
        raw, manifest = build_bundle(batch, site.enc_public, site.site_id, site.fingerprint, self.store.sign_sync)
        write_file_atomic(out, raw)
        st = self.state()
        st["last_export"] = {"bundle_id": manifest["bundle_id"], "at": manifest["created_at"], "file": str(out),
                             "from_seq": batch.from_seq, "to_seq": batch.to_seq, "counts": manifest["counts"],
                             "bytes": len(raw)}
        self._save(st)
        return manifest

    # ------------------------------------------------------------------ acknowledgements
    def apply_ack(self, path: str | Path) -> dict[str, Any]:
        what = f"acknowledgement {Path(path).name}"
        doc = check_ack(read_json_doc(path, "acknowledgement"), self.site(), self.store.store_uuid, what)
        wm = doc["watermark"]
        here = self.store.sync_pending(wm["seq"])
        if here["since_hash"] != wm["hash"]:
            raise BundleError(f"{what} names audit event #{wm['seq']}, which this store's chain does not hold")
        head = doc.get("workstation_head") or {}
        if isinstance(head, dict) and head.get("signature"):
            from cryptography.exceptions import InvalidSignature
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
            try:
                if head.get("seq") != wm["seq"] or head.get("hash") != wm["hash"]:
                    raise ValueError("head differs from the watermark")
                Ed25519PublicKey.from_public_bytes(self.store.signing_public_key()).verify(
                    unb64(head.get("signature"), f"the signed head of {what}"),
                    checkpoint_message(self.store.store_uuid, head["seq"], head["hash"], head.get("ts"),
                                       head.get("prev_seq"), head.get("version", 1)))
            except (InvalidSignature, ValueError, TypeError):
                raise BundleError(f"{what}: the workstation head it carries is not signed by this "
                                  "workstation") from None
        st = self.state()
        old = int(st.get("watermark", {}).get("seq", 0))
        advanced = wm["seq"] > old
        if advanced:
            st["watermark"] = {"seq": wm["seq"], "hash": wm["hash"], "bundle_id": doc["bundle_id"],
                               "acked_at": doc.get("acknowledged_at")}
        st["last_ack"] = {"bundle_id": doc["bundle_id"], "at": time.time(), "site_at": doc.get("acknowledged_at"),
                          "seq": wm["seq"], "new_records": doc.get("new_records")}
        self._save(st)
        return {"bundle_id": doc["bundle_id"], "watermark": max(old, wm["seq"]), "advanced": advanced,
                "previous": old}

    # ------------------------------------------------------------------ site packs
    def pull(self, path: str | Path, validate: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Verify a site pack (signature of the enrolled site, not older than the applied one), check its contents
        with ``validate`` (raises to refuse the whole pack), then make it the applied pack in one atomic write."""
        what = f"site pack {Path(path).name}"
        doc = check_pack(read_json_doc(path, "site pack"), self.site(), what)
        digest = sha256_hex(canonical(doc))
        st = self.state()
        cur = st.get("pack") or {}
        if cur:
            if doc["pack_version"] < cur["version"]:
                raise BundleError(f"{what} is version {doc['pack_version']}, older than the applied version "
                                  f"{cur['version']}; refused")
            if doc["pack_version"] == cur["version"]:
                if digest != cur.get("sha256"):
                    raise BundleError(f"{what} reuses version {cur['version']} with other content; refused")
                return {"version": cur["version"], "created_at": cur["created_at"], "applied": False}
        if validate is not None:
            validate(doc)
        make_dir(self.dir)
        write_file_atomic(self.dir / PACK_FILE, canonical(doc))  # atomic: the old pack or the new, never half
        st["pack"] = {"version": doc["pack_version"], "created_at": doc.get("created_at"), "sha256": digest}
        self._save(st)
        return {"version": doc["pack_version"], "created_at": doc.get("created_at"), "applied": True}

    def applied_pack(self) -> dict[str, Any] | None:
        return read_applied_pack(self.dir)

    def site_figures(self, model_sha256: str, category: str | None = None) -> dict[str, Any] | None:
        """The site-wide track record of one model version (overall, and for ``category``), with the pack date."""
        pack = self.applied_pack()
        return None if pack is None else figures_from_pack(pack, model_sha256, category)

    # ------------------------------------------------------------------ status
    def status(self) -> dict[str, Any]:
        st = self.state()
        since = int(st.get("watermark", {}).get("seq", 0))
        pend = self.store.sync_pending(since)
        if pend["since_hash"] is None:
            pend = self.store.sync_pending(0)
        site = None
        if st.get("site"):
            card = SiteCard.from_doc(st["site"], "the enrolled site card")
            site = {"site_id": card.site_id, "fingerprint": card.fingerprint}
        return {"workstation_id": self.store.store_uuid, "site": site, "watermark": since,
                "head_seq": pend["head_seq"], "records_waiting": pend["records_waiting"],
                "records": pend["records"], "events_waiting": pend["events_waiting"],
                "last_export": st.get("last_export"), "last_ack": st.get("last_ack"), "pack": st.get("pack")}


def read_applied_pack(state_dir: str | Path) -> dict[str, Any] | None:
    """The applied site pack, verified again on every read (no store needed): its digest must be the one the
    state recorded at ``pull`` and its signature the enrolled site's. None when no pack is applied;
    BundleError when it was altered, replaced or lost."""
    state_dir = Path(state_dir)
    state_path = state_dir / STATE_FILE
    if not state_path.is_file():
        return None
    try:
        st = jsonio.loads(state_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        raise BundleError(f"the sync state {state_path} is unreadable", hint="enroll the site and pull its pack "
                          "again") from None
    cur = st.get("pack") if isinstance(st, dict) else None
    if not cur:
        return None
    path = state_dir / PACK_FILE
    if not path.is_file():
        raise BundleError(f"the applied site pack {path} is missing", hint="pull the site pack again")
    doc = read_json_doc(path, "site pack")
    if sha256_hex(canonical(doc)) != cur.get("sha256"):
        raise BundleError(f"the applied site pack {path} was altered", hint="pull the site pack again")
    if not st.get("site"):
        raise BundleError("a site pack is applied but no site is enrolled", hint="enroll the site again")
    return check_pack(doc, SiteCard.from_doc(st["site"], "the enrolled site card"), "the applied site pack")


def figures_from_pack(pack: dict[str, Any], model_sha256: str, category: str | None = None) -> dict[str, Any]:
    """The site-wide track record of one model version in a verified pack (overall, and for ``category``)."""
    rows = [r for r in pack["track_record"] if isinstance(r, dict) and r.get("model_sha256") == model_sha256]
    overall = {"audited_answers": sum(r.get("audited_answers", 0) for r in rows),
               "feedback_count": sum(r.get("feedback_count", 0) for r in rows),
               "unsafe_flags": sum(r.get("unsafe_flags", 0) for r in rows),
               "strikes": sum(r.get("strikes", 0) for r in rows)}
    cat = next((r for r in rows if r.get("category") == category), None) if category else None
    return {"pack_version": pack["pack_version"], "pack_date": pack.get("created_at"), "overall": overall,
            "category": cat}
