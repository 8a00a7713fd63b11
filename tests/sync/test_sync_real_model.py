"""End to end on the real demo model (llama.cpp, SmolLM2-135M): ask, record, export, import, acknowledge."""

from __future__ import annotations

import json

from safemed_desktop.config import load_config
from safemed_desktop.records import PatientContext
from safemed_desktop.service import SafeMedService
from safemed_desktop.store import KdfParams

from .conftest import SITE_PASSPHRASE

ADMIN_PIN = "admin-pin-1234"


def test_real_answer_travels_to_the_site(tmp_path, demo_model_path, safemed_home, monkeypatch):
    monkeypatch.setenv("SAFEMED_THREADS", "2")
    svc = SafeMedService(load_config())
    svc.load_model()
    try:
        rec = svc.ask_to_end("What is the usual adult dose of paracetamol for fever?", PatientContext(age=40),
                             max_tokens=24)
    finally:
        svc.unload_model()
    site = tmp_path / "site"
    svc.site_init(site, "site-a", SITE_PASSPHRASE, kdf_params=KdfParams.fast_for_tests())
    with svc.create_store("workstation passphrase", kdf_params=KdfParams.fast_for_tests(),
                          admin_pin=ADMIN_PIN) as store:
        svc.record_answer(store, rec)
        assert svc.sync_enroll(store, site / "site-card.json")["site_id"] == "site-a"
        svc.sync_card(store, tmp_path / "card.json")
        assert svc.collect_accept(site, tmp_path / "card.json")["new"]
        manifest = svc.sync_export(store, tmp_path / "b.smb")
        assert manifest["counts"]["answers"] == 1
        assert b"paracetamol" not in (tmp_path / "b.smb").read_bytes()
        (out,) = svc.collect_import(site, [tmp_path / "b.smb"], SITE_PASSPHRASE)
        assert out["ok"], out
        svc.sync_ack(store, out["ack"])
        assert svc.sync_status(store)["records_waiting"] == 0
    stats = svc.collect_stats(site)
    assert stats["records"]["answers"] == 1
    pack = svc.collect_pack(site, SITE_PASSPHRASE, tmp_path / "pack.json")
    assert json.loads((tmp_path / "pack.json").read_text())["pack_version"] == pack["pack_version"] == 1
