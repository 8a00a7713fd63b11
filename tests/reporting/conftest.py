"""A fixture store for the governance report and the export: answers of two model versions with trust-signal
levels, clinician feedback with rubric scores, edits, an unblinded 12-case study and two evaluation runs.

Every number the tests check is computed by hand from the values written here (see the test module)."""

from __future__ import annotations

import pytest

from safemed_desktop.records import AnswerRecord, ModelIdentity, PatientContext
from safemed_desktop.records.signal import Signal
from safemed_desktop.service import SafeMedService
from safemed_desktop.store import KdfParams

from pathlib import Path

CASES12 = Path(__file__).resolve().parents[1] / "validation" / "data" / "cases12.jsonl"
PASSPHRASE = "correct horse battery"
PIN = "2468"

MODEL_X = ModelIdentity(id="model-x", sha256="aa" * 32, approved=True, demo=False, chat_format="plain")
MODEL_Y = ModelIdentity(id="model-y", sha256="bb" * 32, approved=True, demo=False, chat_format="plain")
STUDY_MODEL = ModelIdentity(id="scripted", sha256="ab" * 32, approved=True, demo=True, chat_format="plain")
NOW = 1_790_000_000.0

# answer key -> (model, medication_safety level, confidence level, question, patient)
ANSWERS = {
    "a1": (MODEL_X, "alert", "ok", "Can I give ibuprofen with warfarin?", None),
    "a2": (MODEL_X, "ok", "caution", "Paracetamol dose for a 70 year old with eGFR 25?",
           PatientContext(age=70, egfr=25)),
    "a3": (MODEL_X, "caution", "ok", "Amoxicillin dose for otitis media in adults?", None),
    "a4": (MODEL_Y, "ok", "alert", "First-line treatment of hypertension?", None),
}
# (answer key, clinician key, medication_safety, medical_correctness, flags)
FEEDBACK = [("a1", "att", 1, 2, ()), ("a2", "pharm", 5, 4, ()), ("a3", "att", 2, 4, ()), ("a4", "pharm", 4, 3, ()),
            ("a1", "pharm", 2, 3, ())]
EDITS = {"a2": "Paracetamol 500 mg every 6 hours, at most 2 g a day given eGFR 25.",
         "a3": "Amoxicillin 500 mg three times daily for 5 days."}
MODEL_TEXT = {k: f"Model answer {k}: check the dose." for k in ANSWERS}


def link_scripted_answers(store, name: str) -> None:
    """A scripted model answer per case of the study, linked (what ``generate_study`` does with a model)."""
    for c in store.studies.cases(name):
        rec = AnswerRecord(question=c["vignette"], patient=c["patient"], model=STUDY_MODEL,
                           answer=f"Answer for {c['case_id']}.", rubric="safemed-cts@1", created_at=NOW)
        store.save_answer(rec)
        store.studies.link_answer(name, c["row_id"], rec.id)


def _record(key: str) -> AnswerRecord:
    model, ms, conf, question, patient = ANSWERS[key]
    signals = [Signal("medication_safety", ms, "medication check", "formulary@test"),
               Signal("confidence", conf, "token confidence", "model-logprobs", 0.5)]
    return AnswerRecord(question=question, patient=patient or PatientContext(), model=model, answer=MODEL_TEXT[key],
                        raw_text=MODEL_TEXT[key], signals=signals, prompt_template_hash="t" * 64,
                        pack_versions={"formulary": "2026.11.0"}, rubric="safemed-cts@1", created_at=NOW)


@pytest.fixture
def fixture_store(safemed_home):
    """(service, store signed in as the site admin, ids {answer key: id, profile key: id, "study": name})."""
    service = SafeMedService()
    store = service.create_store(PASSPHRASE, site_id="fixture-site", kdf_params=KdfParams.fast_for_tests(),
                                 admin_name="Admin", admin_pin=PIN)
    ids = {"admin": store.profile["id"]}
    for key, name, role in (("att", "Dr Att", "attending"), ("pharm", "Ph Arm", "pharmacist"),
                            ("r1", "Dr R1", "reviewer"), ("r2", "Dr R2", "reviewer")):
        ids[key] = store.add_profile(name, role, PIN)
    store.authenticate(ids["att"], PIN)
    for key in ANSWERS:
        rec = _record(key)
        store.save_answer(rec)
        ids[key] = rec.id
    rubric = service.load_rubric()
    for a, who, ms, mc, flags in FEEDBACK:
        store.authenticate(ids[who], PIN)
        store.add_feedback(ids[a], ids[who], rubric, {"medication_safety": ms, "medical_correctness": mc},
                           flags=flags, edit_text=EDITS.get(a) if (a, who) in (("a2", "pharm"), ("a3", "att")) else None)
    # the study: model 4 vs resident 3 on both criteria, by both reviewers, on every case
    store.authenticate(ids["att"], PIN)
    service.create_study(store, "fixture-study", str(CASES12), criteria=["medical_correctness", "clinical_utility"])
    link_scripted_answers(store, "fixture-study")
    sides = {c["case_id"]: c["model_side"] for c in store.studies.cases("fixture-study")}
    for r in ("r1", "r2"):
        store.authenticate(ids[r], PIN)
        for cid, side in sides.items():
            model, resident = {"medical_correctness": 4, "clinical_utility": 4}, {"medical_correctness": 3,
                                                                                  "clinical_utility": 4}
            a, b = (model, resident) if side == "A" else (resident, model)
            service.submit_review(store, "fixture-study", cid, a, b)
    store.authenticate(ids["att"], PIN)
    service.unblind_study(store, "fixture-study")
    # evaluation runs, as the run engine stores them
    store.authenticate(ids["admin"], PIN)
    mcq = store.create_eval_run("mcq", {"model_sha256": MODEL_X.sha256, "model_id": "model-x",
                                        "dataset_sha256": "d" * 64, "format": "pubmedqa"}, 4)
    store.add_eval_summary(mcq, "complete", 4, {
        "n": 4, "accuracy": 0.5, "ci95": [0.0, 1.0], "chance_accuracy": 1 / 3, "ece": 0.2, "brier": 0.6,
        "reliability": [{"bin": [0.4, 0.4667], "n": 2, "mean_confidence": 0.45, "accuracy": 0.5},
                        {"bin": [0.6, 0.6667], "n": 2, "mean_confidence": 0.65, "accuracy": 0.5}]})
    red = store.create_eval_run("redteam", {"model_sha256": MODEL_X.sha256, "dataset_sha256": "e" * 64}, 10)
    store.add_eval_summary(red, "complete", 10, {
        "arms": {"raw": {"n": 10, "unsafe_rate": 0.4, "ci95": [0.1, 0.7],
                         "per_style": {"role_play": {"n": 5, "unsafe_rate": 0.6, "ci95": [0.2, 1.0]}}},
                 "guarded": {"n": 10, "unsafe_rate": 0.1, "ci95": [0.0, 0.3], "block_rate": 0.5,
                             "per_style": {"role_play": {"n": 5, "unsafe_rate": 0.2, "ci95": [0.0, 0.6]}}}},
        "difference": {"unsafe_rate": -0.3, "ci95": [-0.6, 0.0], "mcnemar_p": 0.25}})
    ids["runs"] = (mcq, red)
    store.authenticate(ids["att"], PIN)
    yield service, store, ids
    store.close()
