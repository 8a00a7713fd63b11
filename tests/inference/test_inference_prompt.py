"""build_messages / template_hash: prompt content, patient context, bad input."""

from __future__ import annotations

import re

import pytest

from safemed_desktop.errors import ConfigError, InputError
from safemed_desktop.inference.prompt import build_messages, system_prompt, template_hash
from safemed_desktop.records.patient import PatientContext


def test_think_answer_prompt_instructs_the_format():
    msgs = build_messages("  Dose of enoxaparin?  ", None, "think-answer")
    assert [m["role"] for m in msgs] == ["system", "user"]
    assert "<think>" in msgs[0]["content"] and "<answer>" in msgs[0]["content"]
    assert msgs[1]["content"] == "Dose of enoxaparin?"


def test_plain_prompt_is_short_and_tagless():
    sys_prompt = system_prompt("plain")
    assert "<think>" not in sys_prompt and len(sys_prompt) < len(system_prompt("think-answer"))


def test_patient_context_in_user_message():
    patient = PatientContext(age=72, weight_kg=60, egfr=25, allergies=("penicillin",))
    user = build_messages("Which antibiotic?", patient, "plain")[1]["content"]
    assert patient.describe() in user
    assert user.endswith("Which antibiotic?")
    # an empty patient context adds nothing
    assert build_messages("Which antibiotic?", PatientContext(), "plain")[1]["content"] == "Which antibiotic?"


@pytest.mark.parametrize("question", ["", "   ", "\n\t "])
def test_empty_question(question):
    with pytest.raises(InputError, match="the question is empty"):
        build_messages(question, None, "plain")


def test_lone_surrogate_question():
    with pytest.raises(InputError, match="invalid characters"):
        build_messages("dose of \ud800 heparin", None, "plain")


def test_lone_surrogate_in_patient_context():
    with pytest.raises(InputError, match="patient context"):
        build_messages("dose?", PatientContext(allergies=("\udcff",)), "plain")


def test_nul_in_question():
    with pytest.raises(InputError, match="NUL"):
        build_messages("dose\x00?", None, "plain")


def test_non_text_question():
    with pytest.raises(InputError):
        build_messages(b"dose?", None, "plain")  # type: ignore[arg-type]


def test_unknown_chat_format():
    with pytest.raises(ConfigError, match="unknown chat format"):
        build_messages("dose?", None, "llama-9")
    with pytest.raises(ConfigError):
        template_hash("llama-9")


def test_template_hash_is_stable_sha256_and_differs_per_format():
    h = template_hash("think-answer")
    assert re.fullmatch(r"[0-9a-f]{64}", h)
    assert h == template_hash("think-answer")
    assert h != template_hash("plain")
