"""The governance report's numbers against values computed by hand on the fixture store (see conftest.py),
and the training-data export checked line by line."""

from __future__ import annotations

import json
import stat

import pytest

from safemed_desktop.errors import InputError, PermissionDeniedError
from safemed_desktop.reporting import auroc

from .conftest import EDITS, MODEL_TEXT, MODEL_X, MODEL_Y, PIN


def test_auroc_by_hand():
    # positives (low scores) at levels 2, 1, 2; negatives at 0, 0: every positive ranks higher
    assert auroc([2, 0, 1, 0, 2], [True, False, True, False, True])["auroc"] == 1.0
    # one positive at 2 against 0, 1, 0, 2: wins 3, ties 1 -> 3.5 / 4
    assert auroc([2, 0, 1, 0, 2], [True, False, False, False, False])["auroc"] == pytest.approx(0.875)
    assert auroc([1, 1], [False, False])["auroc"] is None


def test_report_numbers_match_hand_computed_values(fixture_store):
    service, store, ids = fixture_store
    d = service.report_data(store, now=1_790_000_100.0)
    assert d["counts"] == {"answers": 4 + 12, "feedback": 5, "edits": 2,
                           "score_histogram": {1: 1, 2: 3, 3: 2, 4: 3, 5: 1}}
    # rubric score distributions: model X medication safety got 1, 5, 2, 2; model Y got 4
    dist = d["score_distributions"]["by_model"]
    assert dist[MODEL_X.sha256]["medication_safety"] == {"1": 1, "2": 2, "3": 0, "4": 0, "5": 1}
    assert dist[MODEL_X.sha256]["medical_correctness"] == {"1": 0, "2": 1, "3": 1, "4": 2, "5": 0}
    assert dist[MODEL_Y.sha256]["medication_safety"] == {"1": 0, "2": 0, "3": 0, "4": 1, "5": 0}
    # trust signals against scores (low = score <= 2), one observation per feedback record:
    #  medication_safety levels per feedback: a1 alert, a2 ok, a3 caution, a4 ok, a1 alert
    #  -> vs medication_safety scores 1, 5, 2, 4, 2: low ones at alert, caution, alert; others at ok, ok -> 1.0
    #  -> vs medical_correctness 2, 4, 4, 3, 3: one low (alert) against alert, ok, caution, ok -> 3.5/4
    #  confidence levels: ok, caution, ok, alert, ok -> the low medication_safety scores are all at ok -> 0.0
    sa = d["signal_auroc"]["by_signal"]
    assert sa["medication_safety"]["medication_safety"] == {"n": 5, "n_low": 3, "auroc": 1.0}
    assert sa["medication_safety"]["medical_correctness"]["auroc"] == pytest.approx(0.875)
    assert sa["confidence"]["medication_safety"]["auroc"] == 0.0
    # five strikes: only the medication-safety 1 on a1 is a strike
    assert d["escalations"]["strikes_by_model"] == {MODEL_X.sha256: 1, MODEL_Y.sha256: 0,
                                                    "ab" * 32: 0}
    # the study: model 4 vs resident 3 on medical correctness everywhere; equal on clinical utility
    (study,) = d["studies"]
    a = study["analysis"]
    mc, cu = a["criteria"]["medical_correctness"], a["criteria"]["clinical_utility"]
    assert (mc["mean_model"], mc["mean_resident"], mc["mean_diff"], mc["ci95"]) == (4, 3, 1, [1, 1])
    assert mc["wilcoxon"]["p"] == pytest.approx(2 / 4096) and mc["verdict"] == "superior"
    assert (cu["mean_diff"], cu["verdict"]) == (0, "non-inferior")
    assert study["source"].startswith(f"validation study fixture-study (id {study['study_id']}")
    # evaluation runs, with their sources
    mcq, red = ids["runs"]
    assert [r["run_id"] for r in d["benchmarks"]] == [mcq] and d["benchmarks"][0]["summary"]["accuracy"] == 0.5
    assert [r["run_id"] for r in d["redteam"]] == [red]
    assert d["redteam"][0]["source"].startswith(f"evaluation run {red} (redteam")
    # versions and audit
    assert {m["sha256"] for m in d["versions"]["models"]} == {MODEL_X.sha256, MODEL_Y.sha256, "ab" * 32}
    assert {"pack": "formulary", "version": "2026.11.0"} in d["versions"]["packs"]
    assert d["versions"]["rubrics"][0]["rubric"] == "safemed-cts@1" and len(d["versions"]["rubrics"][0]["sha256"]) == 64
    assert {x["dataset_sha256"] for x in d["versions"]["datasets"]} == {"d" * 64, "e" * 64}
    assert d["audit"]["ok"] is True and d["audit"]["n_events"] > 50


def test_report_html_is_self_contained_and_cites_sources(fixture_store, tmp_path):
    service, store, ids = fixture_store
    done = service.write_report(store, tmp_path / "rep", pdf=False, now=1_790_000_100.0)
    index = tmp_path / "rep" / "index.html"
    assert done["index"] == str(index) and stat.S_IMODE(index.stat().st_mode) == 0o600
    page = index.read_text()
    assert page.count("<img ") >= 7 and page.count('src="data:image/png;base64,') == page.count("<img ")
    assert "http://" not in page and "https://" not in page and "<script" not in page
    mcq, red = ids["runs"]
    for needle in (f"evaluation run {mcq}", f"evaluation run {red}", "validation study fixture-study",
                   "feedback: 5 records on 4 answers", "superior", "non-inferior", "verified",
                   MODEL_X.sha256, "0.875"):
        assert needle in page, needle
    for text in list(MODEL_TEXT.values()) + list(EDITS.values()) + ["warfarin", "eGFR 25"]:
        assert text not in page  # figures only: no clinical text


def test_report_refused_for_a_reviewer(fixture_store, tmp_path):
    service, store, ids = fixture_store
    store.authenticate(ids["r1"], PIN)
    with pytest.raises(PermissionDeniedError):
        service.write_report(store, tmp_path / "rep", pdf=False)
    assert not (tmp_path / "rep").exists()


def test_training_export_line_by_line(fixture_store, tmp_path):
    service, store, ids = fixture_store
    with pytest.raises(PermissionDeniedError):
        service.export_training(store, "dpo", tmp_path / "x.jsonl")  # an attending is signed in
    store.authenticate(ids["admin"], PIN)
    dpo = service.export_training(store, "dpo", tmp_path / "dpo.jsonl")
    sft = service.export_training(store, "sft", tmp_path / "sft.jsonl")
    assert stat.S_IMODE((tmp_path / "dpo.jsonl").stat().st_mode) == 0o600
    dpo_lines = [json.loads(x) for x in (tmp_path / "dpo.jsonl").read_text().splitlines()]
    sft_lines = [json.loads(x) for x in (tmp_path / "sft.jsonl").read_text().splitlines()]
    assert dpo["n"] == len(dpo_lines) == 2 and sft["n"] == len(sft_lines) == 1
    by_answer = {x["provenance"]["answer_id"]: x for x in dpo_lines}
    a2 = by_answer[ids["a2"]]
    assert a2["prompt"] == [{"role": "user", "content": "Paracetamol dose for a 70 year old with eGFR 25?"}]
    assert a2["chosen"] == [{"role": "assistant", "content": EDITS["a2"]}]
    assert a2["rejected"] == [{"role": "assistant", "content": MODEL_TEXT["a2"]}]
    assert a2["scores"] == [{"clinician_role": "pharmacist", "rubric": "safemed-cts@1", "flags": [],
                             "scores": {"medication_safety": 5, "medical_correctness": 4}}]
    prov = a2["provenance"]
    assert (prov["model_sha256"], prov["model_id"], prov["edit_version"]) == (MODEL_X.sha256, "model-x", 1)
    assert prov["pack_versions"] == {"formulary": "2026.11.0"} and prov["prompt_template_hash"] == "t" * 64
    a3 = by_answer[ids["a3"]]
    assert a3["chosen"][0]["content"] == EDITS["a3"] and a3["rejected"][0]["content"] == MODEL_TEXT["a3"]
    # SFT: only a2 has every score >= 4 (a1: 1, 2; a3: 2; a4: 3)
    (s,) = sft_lines
    assert s["messages"] == [{"role": "user", "content": "Paracetamol dose for a 70 year old with eGFR 25?"},
                             {"role": "assistant", "content": MODEL_TEXT["a2"]}]
    assert s["provenance"]["answer_id"] == ids["a2"]
    # the patient context (age 70, eGFR 25) is not exported: the site config does not allow it
    assert not any("Patient:" in line for line in (tmp_path / "sft.jsonl").read_text().splitlines())
    with pytest.raises(InputError, match="does not allow"):
        service.export_training(store, "sft", tmp_path / "p.jsonl", include_patient=True)
    assert service.export_training(store, "sft", tmp_path / "t3.jsonl", threshold=3)["n"] == 2  # a2 and a4
    with pytest.raises(InputError, match="unknown export format"):
        service.export_training(store, "csv", tmp_path / "bad.jsonl")
    assert not (tmp_path / "bad.jsonl").exists()
