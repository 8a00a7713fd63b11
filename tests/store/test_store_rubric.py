"""The SafeMed CTS rubric v1: pinned bytes, complete anchors, validation."""

from __future__ import annotations

import hashlib

import pytest

from safemed_desktop.errors import InputError, PackError
from safemed_desktop.rubric import PUBLISHED_RUBRICS, load_rubric, parse_ref, rubric_path

# The published file's hash. If this test fails, a published rubric was edited: revert the edit and
# publish the change as safemed-cts-v2.toml instead.
SAFEMED_CTS_V1_SHA256 = "f977b3c956bc2640ec8f37fdd02460a9bf817080c45f2f1f6c334ebee8ef42a6"
CRITERIA = ("medical_correctness", "reasoning_structure", "information_sufficiency", "terminology_language",
            "clinical_utility", "medication_safety", "guideline_consistency", "ethics_safety")


def test_published_rubric_bytes_are_pinned():
    raw = rubric_path("safemed-cts", 1).read_bytes()
    assert hashlib.sha256(raw).hexdigest() == SAFEMED_CTS_V1_SHA256
    assert PUBLISHED_RUBRICS[("safemed-cts", 1)] == SAFEMED_CTS_V1_SHA256


def test_rubric_content():
    r = load_rubric()
    assert (r.id, r.version, r.ref) == ("safemed-cts", 1, "safemed-cts@1")
    assert r.keys == CRITERIA
    for c in r.criteria:
        assert sorted(c.anchors) == [1, 2, 3, 4, 5]
        assert len(set(c.anchors.values())) == 5 and all(len(a) > 30 for a in c.anchors.values())
    steps = {c.key for c in r.criteria if c.applies_to_steps}
    assert steps == {"medical_correctness", "reasoning_structure", "information_sufficiency", "terminology_language",
                     "medication_safety"}
    assert {"unsafe", "hallucination", "outdated_guideline"} <= set(r.flags)


def test_loader_refuses_a_modified_published_file(tmp_path):
    raw = rubric_path("safemed-cts", 1).read_bytes()
    changed = tmp_path / "safemed-cts-v1.toml"
    changed.write_bytes(raw.replace(b"Fully accurate", b"Mostly accurate"))
    with pytest.raises(PackError, match="modified after publication"):
        load_rubric("safemed-cts", 1, path=changed)
    with pytest.raises(PackError, match="not published"):
        load_rubric("safemed-cts", 2)


def test_validate_scores():
    r = load_rubric()
    r.validate_scores({"medical_correctness": 1, "ethics_safety": 5})
    r.validate_scores({"medication_safety": 3}, step=True)
    for scores, step, msg in [({"clinical_utility": 3}, True, "does not apply"), ({"x": 3}, False, "no criterion"),
                              ({"medical_correctness": 5.0}, False, "whole number"),
                              ({"medical_correctness": True}, False, "whole number"),
                              ({"medical_correctness": 6}, False, "between 1 and 5"), ({}, False, "at least one")]:
        with pytest.raises(InputError, match=msg):
            r.validate_scores(scores, step=step)


def test_parse_ref():
    assert parse_ref("safemed-cts@1") == ("safemed-cts", 1)
    with pytest.raises(InputError):
        parse_ref("safemed-cts")
