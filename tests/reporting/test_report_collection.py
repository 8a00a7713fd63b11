"""The report and the export from the site's collection (SQLite): the fixture store's records travel as a real
sync bundle, are imported, and give the same figures as the workstation report; the export unseals the text."""

from __future__ import annotations

import json
import os

import pytest

from safemed_desktop.reporting.html import find_chromium

from safemed_desktop.store import KdfParams

from .browser import check_in_chromium
from .conftest import EDITS, MODEL_TEXT, MODEL_X, PIN

SITE_PASS = "site passphrase for tests"


@pytest.fixture
def collection(fixture_store, tmp_path):
    service, store, ids = fixture_store
    site = tmp_path / "site"
    service.site_init(site, "fixture-site", SITE_PASS, kdf_params=KdfParams.fast_for_tests())
    store.authenticate(ids["admin"], PIN)
    service.sync_enroll(store, site / "site-card.json")
    service.sync_card(store, tmp_path / "ws-card.json")
    service.collect_accept(site, tmp_path / "ws-card.json")
    service.sync_export(store, tmp_path / "bundle.smb")
    (res,) = service.collect_import(site, [tmp_path / "bundle.smb"], SITE_PASS)
    assert res["ok"], res
    store.authenticate(ids["att"], PIN)
    return service, store, ids, site


def test_collection_report_matches_the_workstation_report(collection, tmp_path):
    service, store, ids, site = collection
    local = service.report_data(store, now=1.0)
    remote = service.collection_report_data(site, now=1.0)
    for key in ("score_distributions", "signal_auroc", "counts"):
        assert remote[key]["by_model" if key == "score_distributions" else "by_signal" if key == "signal_auroc"
                           else "answers"] == local[key]["by_model" if key == "score_distributions" else "by_signal"
                                                         if key == "signal_auroc" else "answers"]
    assert remote["escalations"]["strikes_by_model"] == local["escalations"]["strikes_by_model"]
    (ls,), (rs,) = local["studies"], remote["studies"]
    # the study's result from the revealed assignment, checked against the commitments
    assert rs["analysis"]["criteria"] == ls["analysis"]["criteria"]
    assert rs["analysis"]["criteria"]["medical_correctness"]["verdict"] == "superior"
    assert [r["run_id"] for r in remote["benchmarks"]] == [r["run_id"] for r in local["benchmarks"]]
    assert remote["benchmarks"][0]["summary"]["accuracy"] == 0.5
    assert remote["audit"]["ok"] and remote["origin"] == "site collection fixture-site"
    done = service.write_report(None, tmp_path / "site-report", pdf=False, site_dir=site)
    assert done["pdf"] is None and done["data"]["origin"] == "site collection fixture-site"
    page = (tmp_path / "site-report" / "index.html").read_text()
    assert "site collection fixture-site" in page and MODEL_X.sha256 in page and "superior" in page
    if find_chromium() is not None or os.environ.get("CI"):
        check_in_chromium(tmp_path / "site-report" / "index.html", tmp_path)


def test_collection_export_unseals_the_text(collection, tmp_path):
    service, store, ids, site = collection
    done = service.export_training(None, "dpo", tmp_path / "dpo.jsonl", site_dir=site, site_passphrase=SITE_PASS)
    lines = [json.loads(x) for x in (tmp_path / "dpo.jsonl").read_text().splitlines()]
    assert done["n"] == 2 == len(lines)
    a2 = next(x for x in lines if x["provenance"]["answer_id"] == ids["a2"])
    assert a2["chosen"][0]["content"] == EDITS["a2"] and a2["rejected"][0]["content"] == MODEL_TEXT["a2"]
    store.authenticate(ids["admin"], PIN)
    local = service.export_training(store, "dpo", tmp_path / "local.jsonl")
    assert (tmp_path / "local.jsonl").read_text() == (tmp_path / "dpo.jsonl").read_text() and local["n"] == 2
