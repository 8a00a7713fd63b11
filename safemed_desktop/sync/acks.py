"""Site-signed acknowledgements (site -> workstation) and site packs (site -> every workstation)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Iterable

from .. import jsonio
from ..errors import BundleError
from ..paths import write_file_atomic
from .collection import Collection, ImportResult
from .formats import canonical, check_id, expect, sha256_hex
from .keys import SiteCard, SiteKeys, signed, verify_signed

ACK_FORMAT = "safemed-sync-ack"
PACK_FORMAT = "safemed-site-pack"


# ---------------------------------------------------------------------- acknowledgements
def make_ack(keys: SiteKeys, res: ImportResult) -> dict[str, Any]:
    """The site's signed receipt of a merged bundle; carries the workstation's signed head (anchoring)."""
    return signed({"format": ACK_FORMAT, "version": 1, "bundle_id": res.bundle_id,
                   "workstation_id": res.workstation_id, "site_id": keys.site_id,
                   "site_fingerprint": keys.card.fingerprint,
                   "watermark": {"seq": res.to_seq, "hash": res.to_hash},
                   "workstation_head": res.head,
                   "counts": res.counts, "new_records": res.new_records, "replay": res.replay,
                   "acknowledged_at": time.time()}, "ack", keys.sign)


def write_ack(acks_dir: Path, ack: dict[str, Any]) -> Path:
    path = Path(acks_dir) / f"ack-{ack['workstation_id'][:8]}-{ack['bundle_id']}.json"
    write_file_atomic(path, canonical(ack))
    return path


def check_ack(doc: dict[str, Any], site: SiteCard, workstation_id: str, what: str) -> dict[str, Any]:
    """BundleError unless ``doc`` is an acknowledgement signed by ``site`` for this workstation."""
    expect(doc, ACK_FORMAT, 1, what)
    verify_signed(doc, site.sign_public, "ack", what)
    if doc.get("site_id") != site.site_id:
        raise BundleError(f"{what} comes from site {doc.get('site_id')}, not the enrolled site {site.site_id}")
    if doc.get("workstation_id") != workstation_id:
        raise BundleError(f"{what} acknowledges another workstation's bundle ({doc.get('workstation_id')})")
    wm = doc.get("watermark")
    if not isinstance(wm, dict) or type(wm.get("seq")) is not int or not isinstance(wm.get("hash"), str):
        raise BundleError(f"{what} has no valid watermark")
    check_id(doc.get("bundle_id"), f"the bundle id of {what}")
    return doc


# ---------------------------------------------------------------------- site packs
def _json_files(folder: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if folder.is_dir():
        for f in sorted(folder.glob("*.json")):
            try:
                out[f.stem] = jsonio.loads(f.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                raise BundleError(f"site file {f} is not valid JSON: {exc}") from None
    return out


def _loads(text: Any, default: Any) -> Any:
    if not isinstance(text, str):
        return text if text is not None else default
    try:
        return json.loads(text)
    except ValueError:
        return default


def track_records(coll: Collection) -> list[dict[str, Any]]:
    """Site-wide track record per model version and question category, from clear metadata only."""
    answers: dict[str, tuple[str, str]] = {}
    for rid, _ws, clear in coll.clear_rows("answers"):
        c = _loads(clear, {})
        if isinstance(c, dict) and isinstance(c.get("model_sha256"), str):
            answers[rid] = (c["model_sha256"], str(c.get("category", "")))
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for _rid, _ws, clear in coll.clear_rows("feedback"):
        c = _loads(clear, {})
        key = answers.get(c.get("answer_id")) if isinstance(c, dict) else None
        if key is None:
            continue
        g = groups.setdefault(key, {"answers": set(), "n": 0, "sums": {}, "cnt": {}, "flags": {}, "strikes": 0,
                                    "workstations": set()})
        g["answers"].add(c["answer_id"])
        g["workstations"].add(_ws)
        g["n"] += 1
        g["strikes"] += int(bool(c.get("strike")))
        for k, v in (_loads(c.get("scores"), {}) or {}).items():
            if isinstance(v, (int, float)):
                g["sums"][k] = g["sums"].get(k, 0.0) + v
                g["cnt"][k] = g["cnt"].get(k, 0) + 1
        for f in _loads(c.get("flags"), []) or []:
            g["flags"][str(f)] = g["flags"].get(str(f), 0) + 1
    out = []
    for (sha, cat), g in sorted(groups.items()):
        out.append({"model_sha256": sha, "category": cat, "audited_answers": len(g["answers"]),
                    "feedback_count": g["n"], "workstations": len(g["workstations"]),
                    "mean_scores": {k: round(g["sums"][k] / g["cnt"][k], 3) for k in sorted(g["sums"])},
                    "flag_counts": dict(sorted(g["flags"].items())), "unsafe_flags": g["flags"].get("unsafe", 0),
                    "strikes": g["strikes"]})
    return out


def make_pack(keys: SiteKeys, coll: Collection, rubrics: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """A signed site pack: rubric versions, knowledge-pack updates (SITE/packs/*.json), approved model
    manifests (SITE/models/*.json), guard policy (SITE/guard-policy.json) and the site-wide track record."""
    site = keys.site_dir
    policy = _json_files(site).get("guard-policy")
    version = coll.next_pack_version()
    pack = signed({"format": PACK_FORMAT, "version": 1, "site_id": keys.site_id,
                   "site_fingerprint": keys.card.fingerprint, "pack_version": version, "created_at": time.time(),
                   "rubrics": list(rubrics), "knowledge_packs": _json_files(site / "packs"),
                   "model_manifests": _json_files(site / "models"), "guard_policy": policy,
                   "track_record": track_records(coll)}, "site-pack", keys.sign)
    coll.log_pack(version, pack["created_at"], sha256_hex(canonical(pack)))
    return pack


def check_pack(doc: dict[str, Any], site: SiteCard, what: str) -> dict[str, Any]:
    if "signature" not in doc:
        raise BundleError(f"{what} is not signed; refused")
    expect(doc, PACK_FORMAT, 1, what)
    verify_signed(doc, site.sign_public, "site-pack", what)
    if doc.get("site_id") != site.site_id:
        raise BundleError(f"{what} comes from site {doc.get('site_id')}, not the enrolled site {site.site_id}")
    if type(doc.get("pack_version")) is not int or doc["pack_version"] < 1:
        raise BundleError(f"{what} has no valid pack version")
    if not isinstance(doc.get("track_record"), list):
        raise BundleError(f"{what} has no track record")
    return doc
