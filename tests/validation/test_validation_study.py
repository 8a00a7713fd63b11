"""Study set-up, blinding, review rules, unblinding and tamper detection on a real encrypted store (no model)."""

from __future__ import annotations

import json
import sqlite3

import pytest
from hypothesis import given, settings, strategies as st

from safemed_desktop.errors import InputError, IntegrityError, PermissionDeniedError
from safemed_desktop.validation import blinding, neutral_text
from safemed_desktop.validation.cases import read_cases

from .conftest import CASES12, DATA, as_, link_scripted_answers

CRIT = ["medical_correctness", "clinical_utility"]


def _create(service, store, people, name="s1", coin=None, **kw):
    as_(store, people["lead"])
    return service.create_study(store, name, str(CASES12), criteria=CRIT, coin=coin, **kw)


def test_case_files_csv_and_jsonl_and_bad_lines(tmp_path):
    jsonl, sha = read_cases(CASES12)
    csv_cases, _ = read_cases(DATA / "cases3.csv")
    assert len(jsonl) == 12 and len(sha) == 64
    assert csv_cases == jsonl[:3]  # the same cases, whichever format
    assert jsonl[0].patient.medications == ("warfarin",) and jsonl[2].resident_level == "PGY2"
    for body, msg in [('{"case_id": "x"}\n', "vignette"), ('{"case_id": "a", "vignette": "v", "resident_answer": "r",'
                      ' "resident_level": "PGY9"}\n', "resident_level"), ("case_id,vignette\n1,v\n", "resident_answer"),
                      ('{"case_id": "a", "vignette": "v", "resident_answer": "r"}\n' * 2, "twice"), ("{not json\n", "JSON")]:
        p = tmp_path / "bad.jsonl"
        p.write_text(body)
        with pytest.raises(InputError, match=msg):
            read_cases(p)


def test_create_commits_assignment_in_the_audit_chain(service, store, people):
    flips = iter([0, 1] * 6)
    study = _create(service, store, people, coin=lambda: next(flips))
    assert study["n_cases"] == 12 and study["criteria"] == CRIT and study["margin"] == 0.25
    cases = store.studies.cases("s1")
    assert [c["model_side"] for c in cases] == ["A", "B"] * 6
    # the commitment is recomputable from the salt and the assignment, and is covered by the audit chain
    salt = store.studies.salt("s1")
    assert len(salt) == 32
    per_case = [blinding.case_commitment(salt, "s1", c["case_id"], c["model_side"]) for c in cases]
    assert per_case == [c["commitment"] for c in cases]
    assert blinding.root_commitment(per_case) == study["commitment"] == store.studies.committed_root("s1")
    events = store.db.execute("SELECT action, table_name FROM audit WHERE table_name LIKE 'stud%'").fetchall()
    assert ("commit_assignment", "study_commitments") in events and ("create_study", "studies") in events
    assert store.verify().ok
    # the assignment and the clinical text are not in clear in the file
    raw = store.path.read_bytes()
    assert b"clarithromycin" not in raw and b"model=A" not in raw
    with pytest.raises(InputError, match="already exists"):
        _create(service, store, people)


def test_default_coin_randomises(service, store, people):
    sides = set()
    for i in range(4):
        _create(service, store, people, name=f"r{i}")
        sides |= {c["model_side"] for c in store.studies.cases(f"r{i}")}
    assert sides == {"A", "B"}  # 48 fair coins all equal: probability 2^-47


def test_blinded_view_is_neutral_and_follows_the_assignment(service, store, people):
    flips = iter([0, 1] * 6)
    _create(service, store, people, coin=lambda: next(flips))
    with pytest.raises(InputError, match="no model answer yet"):
        service.blinded_case(as_(store, people["r1"]), "s1", "c01")
    link_scripted_answers(as_(store, people["lead"]), "s1",
                          lambda c: f"<think>secret</think><answer>**Answer** for  {c['case_id']}.</answer>")
    as_(store, people["r1"])
    a = service.blinded_case(store, "s1", "c01")  # model is A
    b = service.blinded_case(store, "s1", "c02")  # model is B
    assert a.answer_a == "Answer for c01." and a.answer_b.startswith("Check the INR")
    assert b.answer_b == "Answer for c02." and b.answer_a.startswith("Nitrofurantoin")
    c3 = service.blinded_case(store, "s1", "c03")
    assert c3.answer_b.startswith("Stop metformin:") and "**" not in c3.answer_b  # the resident's markdown goes too
    for case in (a, b, c3):
        fields = json.dumps(case.__dict__)
        assert "model" not in fields.replace("metformin", "").lower()  # nothing names the source
        assert "secret" not in fields
    with pytest.raises(PermissionDeniedError):
        service.blinded_case(as_(store, people["lead"]), "s1", "c01")


def test_review_rules(service, store, people):
    _create(service, store, people)
    link_scripted_answers(store, "s1")
    good = {"medical_correctness": 4, "clinical_utility": 3}
    for who in ("resident", "lead", "admin"):
        with pytest.raises(PermissionDeniedError):
            service.submit_review(as_(store, people[who]), "s1", "c01", good, good)
    as_(store, people["r1"])
    rid = service.submit_review(store, "s1", "c01", good, good, "fine")
    assert rid
    with pytest.raises(InputError, match="already scored"):
        service.submit_review(store, "s1", "c01", good, good)
    with pytest.raises(InputError, match="missing clinical_utility"):
        service.submit_review(store, "s1", "c02", {"medical_correctness": 4}, good)
    with pytest.raises(InputError, match="between 1 and 5"):
        service.submit_review(store, "s1", "c02", {**good, "clinical_utility": 7}, good)
    with pytest.raises(InputError, match="no case"):
        service.submit_review(store, "s1", "nope", good, good)
    service.submit_review(as_(store, people["r2"]), "s1", "c01", good, good)
    # a reviewer never sees another's scores, not even through the store
    as_(store, people["r1"])
    mine = service.my_reviews(store, "s1")
    assert [r["reviewer_id"] for r in mine] == [people["r1"]] and mine[0]["comment"] == "fine"
    assert [r["reviewer_id"] for r in store.studies.reviews("s1")] == [people["r1"]]
    with pytest.raises(PermissionDeniedError):
        store.studies.reviews("s1", people["r2"])
    with pytest.raises(PermissionDeniedError):
        store.studies.salt("s1")
    q = service.review_queue(store, "s1")
    assert q.done == ("c01",) and len(q.pending) == 11 and q.progress == pytest.approx(1 / 12)
    with pytest.raises(InputError, match="still blinded"):
        service.analyze_study(as_(store, people["lead"]), "s1")


def _review_all(service, store, people, score=lambda side, case, reviewer: 3):
    cases = store.studies.cases("s1")
    for r in ("r1", "r2"):
        as_(store, people[r])
        for c in cases:
            service.submit_review(store, "s1", c["case_id"],
                                  {k: score("A", c, r) for k in CRIT}, {k: score("B", c, r) for k in CRIT})
    as_(store, people["lead"])


def test_unblind_refuses_incomplete_unless_forced_and_records_it(service, store, people):
    _create(service, store, people)
    link_scripted_answers(store, "s1")
    with pytest.raises(InputError, match="not fully reviewed"):
        service.unblind_study(store, "s1")
    assert store.studies.get("s1")["unblinded"] is False
    with pytest.raises(PermissionDeniedError):
        service.unblind_study(as_(store, people["r1"]), "s1", force=True)
    u = service.unblind_study(as_(store, people["lead"]), "s1", force=True)
    assert u.forced and u.n_reviews == 0 and u.n_expected == 24 and set(u.assignments.values()) <= {"A", "B"}
    row = store.db.execute("SELECT actor, action FROM audit WHERE table_name = 'study_unblindings'").fetchone()
    assert row == (people["lead"], "unblind_forced")
    assert store.studies.get("s1")["unblindings"][0]["forced"] == 1


def test_tampered_assignment_is_detected_at_unblinding(service, store, people):
    flips = iter([0] * 12)
    _create(service, store, people, coin=lambda: next(flips))
    link_scripted_answers(store, "s1")
    _review_all(service, store, people)
    cipher = store._keys.cipher_or_raise()
    row = dict(store.db["study_cases"].rows_where("case_id = 'c05'").__next__())
    # 1) someone with the passphrase re-encrypts the assignment and writes it through the store (audited):
    #    the record is consistent with its audit event, but not with the commitment made at creation
    row["assignment_enc"] = cipher.encrypt("study_cases", row["id"], "assignment_enc", "B")
    with store._lock, store._transaction() as tx:
        tx.update("study_cases", row, "workstation", "update")
    with pytest.raises(IntegrityError, match="case c05 .* does not match its commitment"):
        service.unblind_study(store, "s1")
    assert store.studies.get("s1")["unblinded"] is False  # nothing revealed, nothing recorded
    # 2) a raw edit of the file (outside the app) is refused by the record's audit digest
    conn = sqlite3.connect(store.path)
    conn.execute("UPDATE study_cases SET commitment = ? WHERE case_id = 'c06'", ["00" * 32])
    conn.commit()
    conn.close()
    with pytest.raises(IntegrityError):
        service.unblind_study(store, "s1", force=True)


def test_rewritten_commitment_is_detected(service, store, people):
    _create(service, store, people)
    sid = store.studies.get("s1")["id"]
    row = dict(next(store.db["study_commitments"].rows_where("id = ?", [sid])))
    row["commitment"] = "11" * 32
    with store._lock, store._transaction() as tx:
        tx.update("study_commitments", row, "workstation", "update")
    with pytest.raises(IntegrityError, match="rewritten after creation"):
        service.verify_assignment(store, "s1")


def test_assignment_survives_rekey(service, store, people):
    _create(service, store, people)
    before = service.verify_assignment(store, "s1")
    as_(store, people["admin"]).rekey()
    as_(store, people["lead"])
    assert service.verify_assignment(store, "s1") == before


def test_neutral_text_removes_format_cues():
    a = "<think>step 1</think><answer>## Plan\n\n* **Stop** metformin\n* Check   eGFR\u2019s trend</answer>"
    b = "Plan\n- Stop metformin\n- Check eGFR's trend"
    assert neutral_text(a) == neutral_text(b) == "Plan\n- Stop metformin\n- Check eGFR's trend"
    assert neutral_text(neutral_text(a)) == neutral_text(a)
    assert neutral_text("1. First\n2) Second") == "- First\n- Second"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab1. -*_#>`|\n\t<>/thinkanswer:'\u2019\u2014")), max_size=60))
def test_neutral_text_is_idempotent(text):
    once = neutral_text(text)
    assert neutral_text(once) == once
    assert "  " not in once and "\n\n" not in once and "\t" not in once
