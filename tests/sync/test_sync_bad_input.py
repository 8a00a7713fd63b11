"""Bad input changes nothing: tampered, truncated, foreign, unenrolled, miscounted or conflicting bundles, bad
acknowledgements and bad site packs; each refused with a one-line reason (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import struct

import pytest

from safemed_desktop.errors import BundleError, SafeMedError
from safemed_desktop.sync.bundle import MAGIC, build_bundle, parse_bundle
from safemed_desktop.sync.formats import canonical, sign_message
from safemed_desktop.sync.keys import SiteCard

from .conftest import SITE_PASSPHRASE, Site


def resign(raw: bytes, store, mutate) -> bytes:
    """The bundle with its manifest changed by ``mutate`` and validly re-signed by the workstation."""
    b = parse_bundle(raw)
    manifest = json.loads(json.dumps(b.manifest))
    mutate(manifest)
    mb = canonical(manifest)
    body = MAGIC + struct.pack(">I", len(mb)) + mb + struct.pack(">Q", len(b.ciphertext)) + b.ciphertext
    return body + store.sign_sync(sign_message("bundle", body))


def _rejected(out: list[dict], *needles: str) -> None:
    assert out and not any(o["ok"] for o in out), out
    for o in out:
        assert "\n" not in o["error"]
        assert any(n in o["error"] for n in needles), o["error"]


def test_a_byte_flipped_anywhere_is_refused_and_changes_nothing(enrolled, tmp_path):
    site, ws = enrolled
    ws.add(2)
    raw = ws.export().read_bytes()
    n = len(raw)
    positions = sorted({0, 3, 7, 8, 11, 12, 40, n // 3, n // 2, n - 70, n - 65, n - 64, n - 30, n - 1}
                       | {int(n * k / 23) for k in range(23)})
    files = []
    for i, pos in enumerate(positions):
        bad = bytearray(raw)
        bad[pos] ^= 0x01 << (i % 8)
        f = tmp_path / f"flip{pos}.smb"
        f.write_bytes(bytes(bad))
        files.append(f)
    before = site.snapshot()
    _rejected(site.import_(*files), "signature", "not a SafeMed bundle", "truncated", "manifest", "identifier",
              "format", "not enrolled", "another site")
    assert site.snapshot() == before
    assert site.import_(ws.root / "bundle.smb")[0]["ok"]  # the genuine one still imports


def test_truncated_bundles_are_refused(enrolled, tmp_path):
    site, ws = enrolled
    ws.add(1)
    raw = ws.export().read_bytes()
    files = []
    for cut in (0, 5, 8, 12, 200, len(raw) // 2, len(raw) - 64, len(raw) - 1):
        f = tmp_path / f"cut{cut}.smb"
        f.write_bytes(raw[:cut])
        files.append(f)
    before = site.snapshot()
    _rejected(site.import_(*files), "truncated", "not a SafeMed bundle", "manifest")
    assert site.snapshot() == before


def test_unenrolled_workstation_is_refused(site, workstation, workstation2):
    site.enroll(workstation)
    workstation2.sync.enroll(site.card)  # trusts the site, but the site never accepted its card
    workstation2.add(1)
    before = site.snapshot()
    _rejected(site.import_(workstation2.export()), "is not enrolled at this site")
    assert site.snapshot() == before


def test_bundle_encrypted_for_another_site_is_refused(tmp_path, site, workstation, another_db):
    site.enroll(workstation)
    other = Site(tmp_path / "site-b", another_db(), site_id="site-a")  # same id, different keys
    workstation.sync.enroll(other.card)
    workstation.add(1)
    before = site.snapshot()
    _rejected(site.import_(workstation.export()), "encrypted for site")
    assert site.snapshot() == before


def test_manifest_counts_that_disagree_with_the_payload_roll_back(enrolled):
    site, ws = enrolled
    ws.add(2)
    raw = ws.export().read_bytes()
    for delta, name in ((1, "more.smb"), (-1, "fewer.smb")):
        def mutate(m, delta=delta):
            m["counts"]["answers"] += delta
        (ws.root / name).write_bytes(resign(raw, ws.store, mutate))
    before = site.snapshot()
    _rejected(site.import_(ws.root / "more.smb", ws.root / "fewer.smb"), "rolled back")
    assert site.snapshot() == before  # the merge ran and was rolled back: nothing stayed
    assert site.import_(ws.root / "bundle.smb")[0]["ok"]


def test_manifest_hashes_must_match_the_payload(enrolled):
    site, ws = enrolled
    ws.add(1)
    raw = ws.export().read_bytes()

    def mutate(m):
        m["hashes"]["answers"] = "0" * 64
    (ws.root / "h.smb").write_bytes(resign(raw, ws.store, mutate))
    before = site.snapshot()
    _rejected(site.import_(ws.root / "h.smb"), "hashes differ")
    assert site.snapshot() == before


def test_duplicate_with_different_content_is_rejected_whole(enrolled):
    site, ws = enrolled
    (held,) = ws.add(1)
    assert site.import_(ws.export("b1.smb"))[0]["ok"]
    ws.add(1)  # a new record, and a forged change of an existing one, in one bundle
    batch = ws.store.export_since(0)
    (i,) = [i for i, r in enumerate(batch.records) if r[:2] == ("answers", held)]
    t, rid, clear, sens = batch.records[i]
    batch.records[i] = (t, rid, dict(clear, category="forged"), sens)
    card = ws.sync.site()
    raw, _ = build_bundle(batch, card.enc_public, card.site_id, card.fingerprint, ws.store.sign_sync)
    (ws.root / "forged.smb").write_bytes(raw)
    before = site.snapshot()
    _rejected(site.import_(ws.root / "forged.smb"), "already held with different content")
    assert site.snapshot() == before  # the genuinely new record was not imported either


def test_a_bundle_that_skips_part_of_the_chain_is_refused(tmp_path, site, workstation, another_db):
    ws = workstation
    site.enroll(ws)
    ws.add(1)
    out = site.import_(ws.export("b1.smb"))
    ws.sync.apply_ack(out[0]["ack"])
    ws.add(1)
    b2 = ws.export("b2.smb")
    fresh = Site.clone(site, tmp_path / "fresh", another_db())
    fresh.accept(ws)
    before = fresh.snapshot()
    _rejected(fresh.import_(b2), "does not hold")
    assert fresh.snapshot() == before
    assert all(o["ok"] for o in fresh.import_(ws.root / "b1.smb", b2))  # in order, both merge


# ---------------------------------------------------------------------- acknowledgements
def test_bad_acknowledgements_leave_the_watermark(tmp_path, site, workstation, workstation2, another_db):
    a, b = workstation, workstation2
    site.enroll(a)
    site.enroll(b)
    a.add(1)
    b.add(1)
    ack_a, ack_b = (o["ack"] for o in site.import_(a.export(), b.export()))
    start = a.sync.status()["watermark"]
    with pytest.raises(BundleError, match="another workstation"):
        a.sync.apply_ack(ack_b)
    doc = json.loads(open(ack_a).read())
    doc["watermark"]["seq"] += 1
    (tmp_path / "tampered.json").write_text(json.dumps(doc))
    with pytest.raises(BundleError, match="signature is invalid"):
        a.sync.apply_ack(tmp_path / "tampered.json")
    # signed by another site's key
    other = Site(tmp_path / "site-b", another_db())
    keys = other.keys()
    try:
        from safemed_desktop.sync.keys import signed

        forged = signed({k: v for k, v in json.loads(open(ack_a).read()).items() if k != "signature"}, "ack", keys.sign)
    finally:
        keys.close()
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    with pytest.raises(BundleError, match="signature is invalid"):
        a.sync.apply_ack(tmp_path / "forged.json")
    (tmp_path / "trunc.json").write_text(open(ack_a).read()[:-20])
    with pytest.raises(SafeMedError):
        a.sync.apply_ack(tmp_path / "trunc.json")
    assert a.sync.status()["watermark"] == start == 0
    assert a.sync.apply_ack(ack_a)["advanced"]


# ---------------------------------------------------------------------- site packs
def _pack(site, tmp_path, name: str):
    from safemed_desktop.sync import site as site_ops

    out = tmp_path / name
    site_ops.build_pack(site.dir, SITE_PASSPHRASE, out, [], site.db_url)
    return out


def test_bad_or_older_site_packs_are_refused(tmp_path, enrolled, another_db):
    site, ws = enrolled
    ws.add(2)
    site.import_(ws.export())
    p1, p2 = _pack(site, tmp_path, "p1.json"), _pack(site, tmp_path, "p2.json")
    assert json.loads(p2.read_text())["pack_version"] == 2
    assert ws.sync.pull(p2)["applied"]
    applied = (ws.sync.dir / "site-pack.json").read_bytes()
    with pytest.raises(BundleError, match="older"):
        ws.sync.pull(p1)
    assert ws.sync.pull(p2)["applied"] is False  # the same pack again: nothing to do
    doc = json.loads(p2.read_text())
    doc["track_record"][0]["feedback_count"] += 100
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    with pytest.raises(BundleError, match="signature is invalid"):
        ws.sync.pull(tmp_path / "bad.json")
    doc.pop("signature")
    (tmp_path / "unsigned.json").write_text(json.dumps(doc))
    with pytest.raises(BundleError, match="not signed"):
        ws.sync.pull(tmp_path / "unsigned.json")
    other = Site(tmp_path / "site-b", another_db(), site_id="site-b")
    foreign = _pack(other, tmp_path, "foreign.json")
    json.loads(foreign.read_text())["pack_version"] = 9
    with pytest.raises(BundleError, match="signature is invalid"):
        ws.sync.pull(foreign)
    assert (ws.sync.dir / "site-pack.json").read_bytes() == applied  # still the applied pack, untouched
    fig = ws.sync.site_figures("a" * 64, "general")
    assert fig["pack_version"] == 2 and fig["overall"]["feedback_count"] == 2
    assert SiteCard.read(site.card).site_id == "site-a"


def test_a_record_altered_on_the_workstation_is_not_exported(enrolled):
    import sqlite3

    from safemed_desktop.errors import IntegrityError

    site, ws = enrolled
    (aid,) = ws.add(1, feedback=False)
    conn = sqlite3.connect(ws.store.path)
    conn.execute("UPDATE answers SET category = 'tampered' WHERE id = ?", (aid,))
    conn.commit()
    conn.close()
    with pytest.raises(IntegrityError):
        ws.export("tampered.smb")
    assert not (ws.root / "tampered.smb").exists()
