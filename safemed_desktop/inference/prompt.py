"""Prompt building: the system prompt per chat format, the user message with patient context.

``template_hash`` identifies the exact prompt template an answer was produced with; it changes
whenever the system prompt, the user-message layout or ``TEMPLATE_VERSION`` changes, so stored
answers can be grouped by the prompt that produced them.
"""

from __future__ import annotations

import hashlib
from typing import Callable

from ..errors import ConfigError, InputError
from ..records.patient import PatientContext

TEMPLATE_VERSION = "safemed-prompt-1"

CHAT_FORMATS = ("plain", "think-answer")

_SYSTEM_PROMPTS: dict[str, str] = {
    "think-answer": (
        "You are SafeMed, a clinical decision-support assistant for licensed clinicians. "
        "First reason step by step inside <think> and </think>: number each step (1., 2., 3.), "
        "and consider the patient's age, weight, pregnancy, kidney function, allergies and current "
        "medications, contraindications, interactions and dose adjustments. "
        "Then give the final answer inside <answer> and </answer>: concise, with doses, units, "
        "route and frequency where relevant. Say plainly when you are unsure or when the question "
        "is outside clinical medicine. Never invent a source."
    ),
    "plain": (
        "You are a careful clinical assistant for doctors. "
        "Answer the question briefly and accurately. If you are not sure, say so."
    ),
}

# The layout of the user message when patient context is present.
_USER_WITH_PATIENT = "Patient: {patient}\nQuestion: {question}"


def system_prompt(chat_format: str) -> str:
    """The system prompt for ``chat_format`` ("plain" or "think-answer")."""
    try:
        return _SYSTEM_PROMPTS[chat_format]
    except KeyError:
        raise ConfigError(
            f"unknown chat format {chat_format!r}; expected one of: {', '.join(CHAT_FORMATS)}"
        ) from None


def template_hash(chat_format: str) -> str:
    """sha256 (hex) of the template version, the system prompt and the user-message layout."""
    material = "\n\x1f".join((TEMPLATE_VERSION, chat_format, system_prompt(chat_format), _USER_WITH_PATIENT))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def check_text(text: str, what: str) -> None:
    """Raise InputError when ``text`` cannot be encoded as UTF-8 (lone surrogates) or holds NUL."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(
            f"the {what} contains invalid characters (unpaired surrogate at position {exc.start})"
        ) from None
    if "\x00" in text:
        raise InputError(f"the {what} contains a NUL character at position {text.index(chr(0))}")


def build_messages(question: str, patient: PatientContext | None, chat_format: str) -> list[dict]:
    """System + user chat messages for ``question``, with ``patient.describe()`` when given.

    Raises InputError for an empty question or text that is not valid Unicode.
    """
    if not isinstance(question, str):
        raise InputError(f"the question must be text, got {type(question).__name__}")
    check_text(question, "question")
    q = question.strip()
    if not q:
        raise InputError("the question is empty")
    sys_prompt = system_prompt(chat_format)
    described = patient.describe() if patient is not None and not patient.is_empty() else ""
    if described:
        check_text(described, "patient context")
        user = _USER_WITH_PATIENT.format(patient=described, question=q)
    else:
        user = q
    return [{"role": "system", "content": sys_prompt}, {"role": "user", "content": user}]


#: What the model reads, before the kept earlier turns, when older turns were left out to fit its context.
DROPPED_NOTE = "(Earlier turns of this conversation were left out to fit the model's context.)"


def build_conversation_messages(question: str, patient: PatientContext | None, chat_format: str,
                                history: "list[tuple[str, str]] | tuple[tuple[str, str], ...]" = (), *,
                                budget_tokens: int | None = None,
                                count_tokens: "Callable[[str], int] | None" = None) -> tuple[list[dict], int]:
    """Messages for a follow-up: the system prompt, the earlier turns (question, answer) oldest first as
    user/assistant messages, then this question with the patient context (as ``build_messages``).

    When ``budget_tokens`` and ``count_tokens`` are given, the oldest turns are dropped until the prompt
    fits; the first user message then starts with ``DROPPED_NOTE``. Returns (messages, number of turns
    dropped): the caller shows the clinician that number.
    """
    base = build_messages(question, patient, chat_format)
    turns = []
    for q, a in history:
        check_text(q, "earlier question")
        check_text(a, "earlier answer")
        if q.strip() and a.strip():
            turns.append(({"role": "user", "content": q.strip()}, {"role": "assistant", "content": a.strip()}))

    def assemble(kept: list, dropped: int) -> list[dict]:
        msgs = [base[0]]
        for u, a in kept:
            msgs += [dict(u), dict(a)]
        msgs.append(dict(base[1]))
        if dropped:
            msgs[1]["content"] = f"{DROPPED_NOTE}\n{msgs[1]['content']}"
        return msgs

    dropped = 0
    msgs = assemble(turns, 0)
    if budget_tokens is not None and count_tokens is not None:
        def size(m: list[dict]) -> int:
            return sum(count_tokens(x["content"]) + 4 for x in m)

        while dropped < len(turns) and size(msgs) > budget_tokens:
            dropped += 1
            msgs = assemble(turns[dropped:], dropped)
    return msgs, dropped
