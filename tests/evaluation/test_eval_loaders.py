"""MCQ files per format and red-team suites: what is read, and one-line errors for what cannot be."""

from __future__ import annotations

import json

import pytest

from safemed_desktop.errors import InputError
from safemed_desktop.evaluation import mcq, redteam

from .conftest import DATA


def test_medqa_items():
    data = mcq.load_mcq(DATA / "medqa_mini.jsonl", "medqa")
    assert [i.key for i in data.items] == ["mq1", "mq2", "mq3", "mq4", "mq5"]
    second = data.items[1]
    assert second.answer == "B" and second.letters() == ["A", "B", "C", "D", "E"] and second.subject == "toxicology"
    assert len(data.sha256) == 64
    assert mcq.continuations(second)[1] == "B) Acetylcysteine"
    user = mcq.messages(second)[1]["content"]
    assert "E) Physostigmine" in user and user.startswith("Question:")


def test_medmcqa_one_and_zero_based(tmp_path):
    data = mcq.load_mcq(DATA / "medmcqa_mini.jsonl", "medmcqa")
    assert [i.answer for i in data.items] == ["A", "C", "B", "D"]  # cop 1-4
    assert data.items[0].subject == "Pharmacology"
    zero = tmp_path / "hf.jsonl"
    zero.write_text("\n".join(json.dumps({"question": "q?", "opa": "a", "opb": "b", "opc": "c", "opd": "d", "cop": c})
                              for c in (0, 3)))
    assert [i.answer for i in mcq.load_mcq(zero, "medmcqa").items] == ["A", "D"]


def test_pubmedqa_with_test_ids_and_limit():
    data = mcq.load_mcq(DATA / "pubmedqa_mini.json", "pubmedqa", test_ids=DATA / "pubmedqa_test_ids.json")
    assert [i.key for i in data.items] == ["1004", "1001", "1002"]  # test-id order
    assert [i.answer for i in data.items] == ["A", "A", "B"]
    assert data.items[0].context.startswith("Patients were mobilised")
    assert "Context: Patients were mobilised" in mcq.messages(data.items[0])[1]["content"]
    assert mcq.continuations(data.items[0]) == ["A) yes", "B) no", "C) maybe"]
    assert data.test_ids_sha256 is not None
    assert len(mcq.load_mcq(DATA / "pubmedqa_mini.json", "pubmedqa", limit=2).items) == 2


def test_pubmedqa_plain_id_list(tmp_path):
    ids = tmp_path / "ids.txt"
    ids.write_text("1003\n\n1001\n")
    assert [i.key for i in mcq.load_mcq(DATA / "pubmedqa_mini.json", "pubmedqa", test_ids=ids).items] == ["1003", "1001"]


@pytest.mark.parametrize("content, fmt, message", [
    ('{"question": "q", "options": {"A": "x", "B": "y"}, "answer_idx": "A"}\nnot json\n', "medqa", "line 2: not valid JSON"),
    ('{"question": "q", "options": {"A": "x", "B": "y"}, "answer_idx": "C"}\n', "medqa", "answer_idx"),
    ('{"question": "q", "options": {"A": "x", "C": "y"}, "answer_idx": "A"}\n', "medqa", "lettered A, B, C"),
    ('{"question": "", "options": {"A": "x", "B": "y"}, "answer_idx": "A"}\n', "medqa", "question"),
    ('{"question": "q", "opa": "a", "opb": "b", "opc": "c", "opd": "d", "cop": 7}\n', "medmcqa", "cop"),
    ('{"1": {"QUESTION": "q", "CONTEXTS": ["c"], "final_decision": "perhaps"}}', "pubmedqa", "final_decision"),
    ("\n\n", "medqa", "holds no items"),
])
def test_bad_files_fail_in_one_line(tmp_path, content, fmt, message):
    f = tmp_path / "bad.jsonl"
    f.write_text(content)
    with pytest.raises(InputError) as err:
        mcq.load_mcq(f, fmt)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_argument_errors(tmp_path):
    with pytest.raises(InputError, match="unknown MCQ format"):
        mcq.load_mcq(DATA / "medqa_mini.jsonl", "usmle")
    with pytest.raises(InputError, match="pubmedqa format only"):
        mcq.load_mcq(DATA / "medqa_mini.jsonl", "medqa", test_ids=DATA / "pubmedqa_test_ids.json")
    ids = tmp_path / "ids.json"
    ids.write_text('["1001", "9999"]')
    with pytest.raises(InputError, match="no item 9999"):
        mcq.load_mcq(DATA / "pubmedqa_mini.json", "pubmedqa", test_ids=ids)
    with pytest.raises(InputError, match="--limit"):
        mcq.load_mcq(DATA / "medqa_mini.jsonl", "medqa", limit=0)
    with pytest.raises(InputError):
        mcq.load_mcq(tmp_path / "missing.jsonl", "medqa")


def test_redteam_jsonl_suite(tmp_path):
    suite = redteam.load_suite(DATA / "redteam_mini.jsonl", "jsonl")
    assert [i.style for i in suite.items] == ["role_play", "prompt_injection", "purpose_inversion", "direct"]
    assert len(redteam.load_suite(DATA / "redteam_mini.jsonl", "jsonl", limit=2).items) == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "x", "style": "Role Play!"}\n')
    with pytest.raises(InputError, match="style"):
        redteam.load_suite(bad, "jsonl")


def test_medsafetybench_folder_is_read_round_robin(tmp_path):
    for source, n in (("gpt4", 3), ("llama2", 2)):
        folder = tmp_path / source
        folder.mkdir()
        rows = "".join(f'{i},"{source} request {i}?","I cannot help."\n' for i in range(n))
        (folder / "category_1.csv").write_text(",harmful_medical_request,safe_response\n" + rows)
    suite = redteam.load_suite(tmp_path, "medsafetybench")
    assert [i.key for i in suite.items] == ["gpt4/category_1:0", "llama2/category_1:0", "gpt4/category_1:1",
                                            "llama2/category_1:1", "gpt4/category_1:2"]
    assert suite.items[0].category == "gpt4/category_1" and suite.items[0].style == "direct"
    (tmp_path / "gpt4" / "category_1.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="harmful_medical_request"):
        redteam.load_suite(tmp_path, "medsafetybench")
