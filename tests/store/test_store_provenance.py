"""Provenance: own audits and edits, the model version's track record, the five-strike rule."""

from __future__ import annotations

import pytest

from safemed_desktop.store import KdfParams, Store

from .conftest import ADMIN_PIN, MODEL_A, MODEL_B, PASSPHRASE, FakeClock, add_profile, make_answer, sign_in

DAY = 86400.0


@pytest.fixture
def timed(store_path):
    now = FakeClock(start=1_800_000_000.0)
    s = Store.create(store_path, PASSPHRASE, "site", kdf_params=KdfParams.fast_for_tests(), strike_window_days=30,
                     now=now, admin_pin=ADMIN_PIN)
    yield s, now
    s.close()


def test_provenance_of_an_answer(store, clinician, rubric):
    pharm = add_profile(store, "Pharmacist P", "pharmacist")
    sign_in(store, clinician)
    a1 = make_answer("renal dosing q1", category="renal")
    a2 = make_answer("renal dosing q2", category="renal")
    a3 = make_answer("cardio q", category="cardiology")
    other = make_answer("other model", model=MODEL_B, category="renal")
    store.save_answers([a1, a2, a3, other])
    store.add_feedback(a1.id, clinician, rubric, {"medical_correctness": 4, "medication_safety": 2},
                       flags=["unsafe"], comment="too high for eGFR 25")
    sign_in(store, pharm)
    store.add_feedback(a1.id, pharm, rubric, {"medical_correctness": 2, "medication_safety": 4})
    sign_in(store, clinician)
    store.add_feedback(a2.id, clinician, rubric, {"medical_correctness": 3})
    store.add_feedback(a3.id, clinician, rubric, {"medical_correctness": 5}, flags=["hallucination"])
    store.add_feedback(other.id, clinician, rubric, {"medical_correctness": 1}, flags=["unsafe"])
    sign_in(store, pharm)
    store.add_edit(a1.id, "reduced dose", pharm)

    p = store.provenance(a1.id)
    assert p["model"]["sha256"] == MODEL_A.sha256 and p["category"] == "renal"
    assert [(x["clinician_role"], x["scores"]["medical_correctness"]) for x in p["audits"]] == \
        [("attending", 4), ("pharmacist", 2)]
    assert p["audits"][0]["flags"] == ["unsafe"] and p["audits"][0]["comment"] == "too high for eGFR 25"
    assert p["reviewer_roles"] == ["attending", "pharmacist"]
    assert [h["version"] for h in p["edit_history"]] == [0, 1]

    overall = p["track_record"]["overall"]
    assert overall["audited_answers"] == 3 and overall["feedback_count"] == 4
    assert overall["mean_scores"] == {"medical_correctness": 3.5, "medication_safety": 3.0}  # (4+2+3+5)/4, (2+4)/2
    assert overall["unsafe_flags"] == 1 and overall["flag_counts"] == {"hallucination": 1, "unsafe": 1}
    cat = p["track_record"]["category"]
    assert cat["category"] == "renal" and cat["audited_answers"] == 2 and cat["feedback_count"] == 3
    assert cat["mean_scores"]["medical_correctness"] == 3.0 and cat["unsafe_flags"] == 1
    assert p["strikes"] == {"count": 1, "limit": 5, "window_days": 30, "under_review": False, "marked_at": None}


def test_five_strike_rule_marks_model_for_review(timed, rubric):
    s, now = timed
    doc = add_profile(s, "Dr Strike", "attending")
    sign_in(s, doc)
    answers = [make_answer(f"q{i}") for i in range(7)]
    s.save_answers(answers)
    other = make_answer("other", model=MODEL_B)
    s.save_answer(other)
    strikes = [
        dict(scores={"medical_correctness": 1}),
        dict(scores={"medication_safety": 1, "medical_correctness": 4}),
        dict(scores={"clinical_utility": 4}, flags=["unsafe"]),
        dict(scores={"medical_correctness": 1}, flags=["unsafe"]),  # one feedback = one strike
    ]
    for a, kw in zip(answers, strikes):
        s.add_feedback(a.id, doc, rubric, **kw)
        now.advance(3600)
    # not strikes: low scores on other criteria, score 2, other flags
    s.add_feedback(answers[4].id, doc, rubric, {"medical_correctness": 2, "ethics_safety": 1}, flags=["hallucination"])
    s.add_feedback(other.id, doc, rubric, {"medical_correctness": 1})  # another model's strike
    st = s.provenance(answers[0].id)["strikes"]
    assert (st["count"], st["under_review"]) == (4, False)
    s.add_feedback(answers[5].id, doc, rubric, {"medication_safety": 1})
    st = s.provenance(answers[0].id)["strikes"]
    assert (st["count"], st["window_days"], st["under_review"]) == (5, 30, True)
    assert st["marked_at"] == pytest.approx(now())
    assert s.stats()["models_under_review"] == [MODEL_A.sha256]
    assert s.provenance(other.id)["strikes"]["under_review"] is False
    # the review mark persists after strikes age out of the window, and is recorded once
    now.advance(31 * DAY)
    s.add_feedback(answers[6].id, doc, rubric, {"medical_correctness": 1})
    st = s.provenance(answers[0].id)["strikes"]
    assert st["count"] == 1 and st["under_review"] is True
    assert s._conn.execute("SELECT COUNT(*) FROM model_reviews").fetchone()[0] == 1
    assert s.verify().ok


def test_strikes_outside_the_window_do_not_count(timed, rubric):
    s, now = timed
    doc = add_profile(s, "Dr Window", "resident")
    sign_in(s, doc)
    answers = [make_answer(f"q{i}") for i in range(8)]
    s.save_answers(answers)
    for a in answers[:4]:
        s.add_feedback(a.id, doc, rubric, {"medical_correctness": 1})
    now.advance(31 * DAY)
    for a in answers[4:8]:
        s.add_feedback(a.id, doc, rubric, {"medication_safety": 1})
    st = s.provenance(answers[0].id)["strikes"]
    assert (st["count"], st["under_review"]) == (4, False)  # 8 strikes in all, never 5 within 30 days
    assert s._conn.execute("SELECT COUNT(*) FROM model_reviews").fetchone()[0] == 0
