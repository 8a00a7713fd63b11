"""Bundles round-trip into the collection on SQLite and on PostgreSQL: counts, watermark, chain continuity,
encryption at rest, idempotent re-import, overlapping exports, either order, acknowledgements, status."""

from __future__ import annotations

import json
import sqlite3

from safemed_desktop.store.export import LOCAL_ONLY_TABLES, exportable_tables
from safemed_desktop.store import schema
from safemed_desktop.sync.bundle import decrypt_payload, read_bundle_file

from .conftest import SECRET


def _counts(site) -> dict:
    with site.collection() as c:
        return c.stats()["records"]


def test_export_import_ack_and_incremental(enrolled):
    site, ws = enrolled
    ws.add(3)
    out = site.import_(ws.export("b1.smb"))
    assert [o["ok"] for o in out] == [True], out
    assert out[0]["counts"] == {"answers": 3, "feedback": 3, "profiles": 1}
    assert out[0]["new_records"] == 7 and not out[0]["replay"]
    assert _counts(site) == {"answers": 3, "feedback": 3, "profiles": 1}
    assert ws.sync.status()["records_waiting"] == 7  # nothing is acknowledged yet
    res = ws.sync.apply_ack(out[0]["ack"])
    assert res["advanced"] and res["watermark"] == out[0]["watermark"] > 0
    st = ws.sync.status()
    assert st["records_waiting"] == 0 and st["watermark"] == res["watermark"]

    ws.add(2, feedback=False)
    m = ws.sync.export(ws.root / "b2.smb")
    assert m["counts"] == {"answers": 2}  # only what is not acknowledged
    assert m["chain"]["from_seq"] == res["watermark"]  # continues the chain where the ack left it
    out2 = site.import_(ws.root / "b2.smb")
    assert out2[0]["ok"], out2
    assert _counts(site) == {"answers": 5, "feedback": 3, "profiles": 1}
    with site.collection() as c:
        st = c.stats()
        assert st["workstations"][ws.id]["head_seq"] == m["chain"]["to_seq"]
        assert st["audit_events"] == m["chain"]["to_seq"]  # every event once, chain complete


def test_sensitive_fields_sealed_at_rest_clear_fields_queryable(enrolled, tmp_path):
    site, ws = enrolled
    ws.add(2)
    bundle = ws.export()
    assert SECRET.encode() not in bundle.read_bytes()  # nothing readable on the USB stick
    assert site.import_(bundle)[0]["ok"]
    with site.collection() as c:
        rows = c.clear_rows("answers")
        assert len(rows) == 2
        for rid, wid, clear in rows:
            doc = json.loads(clear)
            assert wid == ws.id and doc["model_sha256"] == "a" * 64 and doc["category"] == "general"
            assert "question_enc" not in doc and SECRET not in clear
        dump = repr(c.db.query("SELECT * FROM records"))
        assert SECRET not in dump
        keys = site.keys()
        try:
            sealed = c.unseal(keys, "answers", rows[0][0])
        finally:
            keys.close()
        assert SECRET in sealed["question_enc"]
    if site.db_url is None:
        raw = b"".join(p.read_bytes() for p in site.dir.glob("collection.db*"))
        assert SECRET.encode() not in raw


def test_reimport_is_a_replay_and_changes_nothing(enrolled):
    site, ws = enrolled
    ws.add(2)
    b = ws.export()
    assert site.import_(b)[0]["new_records"] == 5
    before = site.snapshot()
    again = site.import_(b)[0]
    assert again["ok"] and again["replay"] and again["new_records"] == 0
    assert site.snapshot() == before


def test_overlapping_exports_before_ack_merge_without_duplicates_in_either_order(tmp_path, site, workstation,
                                                                                  another_db):
    from .conftest import Site

    ws = workstation
    site.enroll(ws)
    ws.add(2)
    b1 = ws.export("b1.smb")
    ws.add(2)
    b2 = ws.export("b2.smb")  # no ack in between: b2 overlaps b1
    other = Site.clone(site, tmp_path / "site2", another_db())
    other.accept(ws)
    digests = []
    for s, order in ((site, (b1, b2)), (other, (b2, b1))):
        out = s.import_(*order)
        assert all(o["ok"] for o in out), out
        assert [o["replay"] for o in out] == [False, False]
        assert _counts(s) == {"answers": 4, "feedback": 4, "profiles": 1}
        digests.append(s.digest())
    assert out[1]["new_records"] == 0  # b1 after b2: every record an identical duplicate, skipped
    assert digests[0] == digests[1]


def test_two_workstations_in_either_order_same_final_state(tmp_path, site, workstation, workstation2, another_db):
    from .conftest import Site

    a, b = workstation, workstation2
    site.enroll(a)
    site.enroll(b)
    a.add(2)
    b.add(3, category="pediatrics")
    ba, bb = a.export(), b.export()
    other = Site.clone(site, tmp_path / "site2", another_db())
    other.accept(a)
    other.accept(b)
    digests = []
    for s, order in ((site, (ba, bb)), (other, (bb, ba))):
        assert all(o["ok"] for o in s.import_(*order))
        assert _counts(s) == {"answers": 5, "feedback": 5, "profiles": 2}
        digests.append(s.digest())
    assert digests[0] == digests[1]


def test_record_types_declare_themselves(enrolled, monkeypatch):
    """What travels is every audited table but the local-only ones; a table the schema adds joins by itself."""
    assert set(exportable_tables()) == set(schema.AUDITED_TABLES) - LOCAL_ONLY_TABLES
    assert {"meta", "keyring", "profile_credentials"} <= LOCAL_ONLY_TABLES
    monkeypatch.setattr(schema, "AUDITED_TABLES", schema.AUDITED_TABLES + ("future_records",))
    assert "future_records" in exportable_tables()
    monkeypatch.undo()
    site, ws = enrolled
    ws.add(1)
    sb = read_bundle_file(ws.export())
    keys = site.keys()
    try:
        pl = decrypt_payload(sb, keys.enc_private, keys.site_id)
    finally:
        keys.close()
    types = {r[0] for r in pl.records}
    assert types == {"answers", "feedback", "profiles"}
    assert not types & LOCAL_ONLY_TABLES  # no key material, no PIN credentials leave the workstation
    assert len(pl.events) == sb.manifest["chain"]["to_seq"]  # every audit event travels, credentials' included


def test_status_counts_waiting_records_locked(enrolled):
    site, ws = enrolled
    ws.add(1)
    st = ws.sync.status()
    assert st["site"]["site_id"] == "site-a" and st["records_waiting"] == 3 and st["last_export"] is None
    ws.export()
    ws.store.lock()  # status needs no key
    st = ws.sync.status()
    assert st["last_export"]["counts"] == {"answers": 1, "feedback": 1, "profiles": 1}


def test_collection_schema_is_versioned(site):
    with site.collection() as c:
        assert c.stats()["schema"] == ["c001_collection"]
        assert c.migrate() == []  # nothing pending the second time
        c.db.execute("INSERT INTO collection_migrations (name, applied_at) VALUES ('c999_future', 0)")
    import pytest

    from safemed_desktop.errors import SchemaTooNewError

    with pytest.raises(SchemaTooNewError):
        site.collection()
    if site.db_url is None:
        assert sqlite3.connect(site.dir / "collection.db").execute("SELECT COUNT(*) FROM records").fetchone() == (0,)


def test_an_empty_bundle_after_the_ack_imports_and_changes_nothing(enrolled):
    site, ws = enrolled
    ws.add(1)
    (out,) = site.import_(ws.export("b1.smb"))
    ws.sync.apply_ack(out["ack"])
    m = ws.sync.export(ws.root / "empty.smb")
    assert m["counts"] == {} and m["chain"]["events"] == 0
    before = site.snapshot()[0]
    (out2,) = site.import_(ws.root / "empty.smb")
    assert out2["ok"] and out2["new_records"] == 0
    assert site.snapshot()[0] == before
    assert ws.sync.apply_ack(out2["ack"])["advanced"] is False
