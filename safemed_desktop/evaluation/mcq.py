"""Benchmark accuracy on multiple-choice files: loading, prompts, per-item scoring, the summary.

Formats (``load_mcq``):

- ``medqa``: JSONL, one ``{"question", "options": {"A": .., "B": .., ...}, "answer_idx": "A"}`` per line
  (an optional ``"id"``, else the line number, names the item; an optional ``"meta_info"`` or
  ``"subject"`` is its subject);
- ``medmcqa``: JSONL, ``{"question", "opa", "opb", "opc", "opd", "cop", "subject_name"[, "id"]}``;
  ``cop`` is the correct option: 1-4 as in the MedMCQA release, or 0-3 as in exports of the Hugging
  Face dataset (a file holding any ``cop`` 0 is read as 0-based throughout), or a letter a-d;
- ``pubmedqa``: ``ori_pqal.json`` (``{pmid: {"QUESTION", "CONTEXTS", "final_decision"}}``) with an optional
  test-id file (``test_ground_truth.json``: ``{pmid: label}``, a JSON list of pmids, or one pmid a line);
  the abstract's contexts go into the prompt, the options are yes / no / maybe.

Two modes (``MODES``):

- ``loglik`` (the default, ``score_item``): the model's choice is read from the log-probabilities of each
  option given the prompt (``inference.scoring``): the continuation scored for option B is
  ``"B) <text>"``, and the chosen option's probability (renormalised over the options) is the
  confidence. The app's own confidence signal is run on the chosen option's tokens, as it would be on
  a generated answer, and its score's AUROC for right-vs-wrong is reported alongside.
- ``generate`` (``generate_item``, for reasoning models): the model first reasons freely from a prompt
  of its own (``GENERATE_PROMPT_VERSION``), greedily, up to a thinking budget, stopping early at
  ``</think>``, ``<answer>`` or ``Answer:``; the prompt, its reasoning and an answer prefix
  (``</think>\n<answer>`` for think-answer models, else ``\nAnswer:``) are then continued under a
  llama.cpp grammar that admits only the item's option letters (``" B"`` after ``Answer:``, where the
  space belongs to the letter's token): that letter is the choice. The letters
  are scored by log-likelihood from the same extended prompt, and the chosen letter's probability
  (renormalised over the letters) is the confidence; the app's confidence signal runs on the letter.
  The reasoning goes to the encrypted detail, never to the clear result.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import InputError, ModelError, PromptTooLongError
from ..jsonio import decode_json_document, decode_utf8, jsonl_objects, read_user_file
from . import stats

FORMATS = ("medqa", "medmcqa", "pubmedqa")
LETTERS = "ABCDEFGH"
MAX_FILE_BYTES = 512 * 1024 * 1024

PROMPT_VERSION = "safemed-eval-mcq-1"
SYSTEM_PROMPT = ("You are a careful clinical assistant for doctors. Answer the multiple-choice question with the "
                 "letter of the single best option.")
USER_LAYOUT = "{context}Question: {question}\nOptions:\n{options}\nAnswer with the letter of the best option."
CONTEXT_LAYOUT = "Context: {context}\n"
CONTINUATION = "{letter}) {text}"


MODES = ("loglik", "generate")
#: Tokens the model may think for in generate mode, unless the caller says otherwise.
DEFAULT_THINK_TOKENS = 256

GENERATE_PROMPT_VERSION = "safemed-eval-mcq-generate-1"
GENERATE_SYSTEM_PROMPTS = {
    "plain": ("You are a careful clinical assistant for doctors. Think through the multiple-choice question briefly, "
              "step by step, then give the letter of the single best option on a last line of the form "
              "\"Answer: X\"."),
    "think-answer": ("You are a careful clinical assistant for doctors. Reason briefly about the multiple-choice "
                     "question inside <think> and </think>, then give only the letter of the single best option "
                     "inside <answer> and </answer>."),
}
GENERATE_USER_LAYOUT = ("{context}Question: {question}\nOptions:\n{options}\nThink briefly, then answer with the "
                        "letter of the best option.")
ANSWER_PREFIXES = {"plain": "\nAnswer:", "think-answer": "</think>\n<answer>"}
#: Where the thinking stops early (matched case-insensitively); the answer prefix follows what came before.
THINK_STOPS = ("</think>", "<answer>", "Answer:")
#: The letter as it follows the answer prefix. After "Answer:" the space belongs to the letter's token in BPE
#: vocabularies (" B"); a prefix ending in a space token would make every letter improbable.
GENERATE_CONTINUATIONS = {"plain": " {letter}", "think-answer": "{letter}"}
#: The grammar's form: the item's option letters, nothing else (``inference.scoring.choice_grammar``).
GRAMMAR_FORM = 'root ::= " A" | " B" | ... (the continuations of the item\'s option letters)'


def template_sha256() -> str:
    material = "\n\x1f".join((PROMPT_VERSION, SYSTEM_PROMPT, USER_LAYOUT, CONTEXT_LAYOUT, CONTINUATION))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def answer_prefix(chat_format: str) -> str:
    """What follows the reasoning before the grammar-constrained letter, for the model's chat format."""
    try:
        return ANSWER_PREFIXES[chat_format]
    except KeyError:
        raise InputError(f"--mode generate has no prompt for chat format {chat_format!r} "
                         f"(known: {', '.join(ANSWER_PREFIXES)})") from None


def generate_template_sha256(chat_format: str) -> str:
    """sha256 of everything the generate-mode prompt is made of, for ``chat_format``."""
    material = "\n\x1f".join((GENERATE_PROMPT_VERSION, chat_format, GENERATE_SYSTEM_PROMPTS.get(chat_format, ""),
                               GENERATE_USER_LAYOUT, CONTEXT_LAYOUT, answer_prefix(chat_format), *THINK_STOPS,
                               GENERATE_CONTINUATIONS[chat_format], GRAMMAR_FORM))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class McqItem:
    key: str
    question: str
    options: tuple[tuple[str, str], ...]  # (letter, text)
    answer: str  # the correct letter
    subject: str | None = None
    context: str | None = None

    def letters(self) -> list[str]:
        return [letter for letter, _ in self.options]


@dataclass(frozen=True)
class LoadedSet:
    items: list[McqItem]
    sha256: str  # of the data file
    test_ids_sha256: str | None
    notes: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------- loading
def _text(value: Any, origin: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{origin}: {what} must be non-empty text")
    return value.strip()


def _jsonl(raw: bytes, origin: str) -> list[tuple[int, dict]]:
    out = jsonl_objects(decode_utf8(raw, origin), origin)
    if not out:
        raise InputError(f"{origin} holds no items")
    return out


def _key(obj: dict, n: int) -> str:
    ident = obj.get("id")
    return str(ident) if isinstance(ident, (str, int)) and str(ident).strip() else f"line-{n}"


def _medqa(raw: bytes, origin: str) -> list[McqItem]:
    items = []
    for n, obj in _jsonl(raw, origin):
        where = f"{origin}, line {n}"
        opts = obj.get("options")
        if not isinstance(opts, dict) or len(opts) < 2:
            raise InputError(f"{where}: \"options\" must be an object with at least two lettered options")
        letters = sorted(opts)
        if letters != list(LETTERS[:len(letters)]):
            raise InputError(f"{where}: options must be lettered A, B, C... (got {', '.join(letters)})")
        answer = obj.get("answer_idx")
        if answer not in opts:
            raise InputError(f"{where}: \"answer_idx\" must be one of {', '.join(letters)}")
        subject = obj.get("subject") or obj.get("meta_info")
        items.append(McqItem(_key(obj, n), _text(obj.get("question"), where, "\"question\""),
                             tuple((k, _text(opts[k], where, f"option {k}")) for k in letters), answer,
                             subject=str(subject) if isinstance(subject, str) and subject.strip() else None))
    return items


def _medmcqa(raw: bytes, origin: str) -> list[McqItem]:
    rows = _jsonl(raw, origin)
    cops = [obj.get("cop") for _, obj in rows]
    zero_based = any(c == 0 and not isinstance(c, bool) for c in cops)
    items = []
    for n, obj in rows:
        where = f"{origin}, line {n}"
        cop = obj.get("cop")
        if isinstance(cop, str) and cop.strip().lower() in ("a", "b", "c", "d"):
            idx = "abcd".index(cop.strip().lower())
        elif isinstance(cop, int) and not isinstance(cop, bool) and (0 <= cop <= 3 if zero_based else 1 <= cop <= 4):
            idx = cop if zero_based else cop - 1
        else:
            raise InputError(f"{where}: \"cop\" must be the correct option, 1-4 (or 0-3, or a-d)")
        options = tuple((LETTERS[i], _text(obj.get(f"op{c}"), where, f"\"op{c}\"")) for i, c in enumerate("abcd"))
        subject = obj.get("subject_name")
        items.append(McqItem(_key(obj, n), _text(obj.get("question"), where, "\"question\""), options, LETTERS[idx],
                             subject=subject.strip() if isinstance(subject, str) and subject.strip() else None))
    return items


def _test_ids(path: Path) -> tuple[list[str], str]:
    raw = read_user_file(path, "test-id file", MAX_FILE_BYTES)
    digest = hashlib.sha256(raw).hexdigest()
    origin = f"test-id file {path}"
    text = decode_utf8(raw, origin).strip()
    if text.startswith("{") or text.startswith("["):
        data = decode_json_document(raw, origin)
        ids = list(data) if isinstance(data, (dict, list)) else None
        if ids is None or not all(isinstance(i, (str, int)) for i in ids):
            raise InputError(f"{origin} must be a JSON object keyed by id, a JSON list of ids, or one id a line")
        return [str(i) for i in ids], digest
    return [ln.strip() for ln in text.splitlines() if ln.strip()], digest


def _pubmedqa(raw: bytes, origin: str, test_ids: list[str] | None) -> list[McqItem]:
    data = decode_json_document(raw, origin)
    if not isinstance(data, dict) or not data:
        raise InputError(f"{origin} must be PubMedQA's ori_pqal.json: an object keyed by PMID")
    ids = test_ids if test_ids is not None else list(data)
    missing = [i for i in ids if i not in data]
    if missing:
        raise InputError(f"{origin} has no item {missing[0]} named in the test-id file "
                         f"({len(missing)} of {len(ids)} missing)")
    labels = ("yes", "no", "maybe")
    items = []
    for pmid in ids:
        obj = data[pmid]
        where = f"{origin}, item {pmid}"
        if not isinstance(obj, dict):
            raise InputError(f"{where} must be an object")
        decision = obj.get("final_decision")
        if decision not in labels:
            raise InputError(f"{where}: \"final_decision\" must be yes, no or maybe")
        contexts = obj.get("CONTEXTS")
        if isinstance(contexts, str):
            contexts = [contexts]
        if not isinstance(contexts, list) or not all(isinstance(c, str) for c in contexts):
            raise InputError(f"{where}: \"CONTEXTS\" must be a list of texts")
        options = tuple((LETTERS[i], lab) for i, lab in enumerate(labels))
        items.append(McqItem(str(pmid), _text(obj.get("QUESTION"), where, "\"QUESTION\""), options,
                             LETTERS[labels.index(decision)], context=" ".join(c.strip() for c in contexts)))
    return items


def load_mcq(path: str | Path, fmt: str, test_ids: str | Path | None = None, limit: int | None = None) -> LoadedSet:
    """The items of an MCQ file (in file order, or test-id order), at most ``limit``; InputError (one line)
    for anything unusable."""
    if fmt not in FORMATS:
        raise InputError(f"unknown MCQ format {fmt!r} (known: {', '.join(FORMATS)})")
    if limit is not None and limit < 1:
        raise InputError("--limit must be at least 1")
    p = Path(path)
    raw = read_user_file(p, f"{fmt} file", MAX_FILE_BYTES)
    origin = f"{fmt} file {p}"
    ids, ids_sha = (None, None)
    if test_ids is not None:
        if fmt != "pubmedqa":
            raise InputError("--test-ids applies to the pubmedqa format only")
        ids, ids_sha = _test_ids(Path(test_ids))
    if fmt == "medqa":
        items = _medqa(raw, origin)
    elif fmt == "medmcqa":
        items = _medmcqa(raw, origin)
    else:
        items = _pubmedqa(raw, origin, ids)
    if limit is not None:
        items = items[:limit]
    return LoadedSet(items=items, sha256=hashlib.sha256(raw).hexdigest(), test_ids_sha256=ids_sha)


# ---------------------------------------------------------------------------------------- prompts
def user_message(item: McqItem, context: str | None = None, layout: str = USER_LAYOUT) -> str:
    """The item as the user's message in ``layout`` (``USER_LAYOUT``, or ``GENERATE_USER_LAYOUT``)."""
    ctx = item.context if context is None else context
    return layout.format(
        context=CONTEXT_LAYOUT.format(context=ctx) if ctx else "",
        question=item.question,
        options="\n".join(f"{letter}) {text}" for letter, text in item.options))


def messages(item: McqItem, context: str | None = None) -> list[dict]:
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user_message(item, context)}]


def continuations(item: McqItem) -> list[str]:
    return [CONTINUATION.format(letter=letter, text=text) for letter, text in item.options]


def generate_user_message(item: McqItem, context: str | None = None) -> str:
    return user_message(item, context, GENERATE_USER_LAYOUT)


def generate_messages(item: McqItem, chat_format: str, context: str | None = None) -> list[dict]:
    answer_prefix(chat_format)  # an unknown format is refused here
    return [{"role": "system", "content": GENERATE_SYSTEM_PROMPTS[chat_format]},
            {"role": "user", "content": generate_user_message(item, context)}]


def letter_continuations(item: McqItem, chat_format: str) -> list[str]:
    """The option letters as the grammar admits them and as they are scored, after the answer prefix."""
    answer_prefix(chat_format)
    return [GENERATE_CONTINUATIONS[chat_format].format(letter=letter) for letter in item.letters()]


def _fit(item: McqItem, attempt: Callable[[str | None], Any]) -> tuple[Any, str | None, bool]:
    """``attempt(context)``, with the item's context (PubMedQA's abstract) shortened until the prompt fits:
    (its value, the context used, whether it was shortened)."""
    context = item.context
    truncated = False
    for _ in range(6):
        try:
            return attempt(context), context, truncated
        except PromptTooLongError:
            if not context:
                raise
            context = context[: int(len(context) * 0.75)].rsplit(" ", 1)[0]
            truncated = True
    raise PromptTooLongError(f"item {item.key} does not fit the model's context even with its context shortened")


# ---------------------------------------------------------------------------------------- one item
def score_item(item: McqItem, scorer: Any, confidence_signal: Callable[[str, str, Any], Any] | None = None
               ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(clear result, detail to encrypt) for one item. A prompt too long for the context has its
    context (PubMedQA's abstract) shortened until it fits; the result says so."""
    t0 = time.perf_counter()
    conts = continuations(item)
    scored, context, truncated = _fit(item, lambda ctx: scorer.score(messages(item, ctx), conts))
    probs = scored.probs
    choice = scored.choice
    letters = item.letters()
    chosen = scored.options[choice]
    result: dict[str, Any] = {
        "choice": letters[choice], "answer": item.answer, "correct": letters[choice] == item.answer,
        "probs": {L: round(float(p), 6) for L, p in zip(letters, probs)},
        "logprobs": {L: round(float(o.logprob), 4) for L, o in zip(letters, scored.options)},
        "confidence": round(float(probs[choice]), 6), "subject": item.subject,
        "prompt_tokens": scored.prompt_tokens, "decoded_tokens": scored.decoded_tokens,
        "context_truncated": truncated,
    }
    if confidence_signal is not None:
        sig = confidence_signal(user_message(item, context), chosen.text, chosen)
        result["app_confidence"] = None if sig.score is None else round(float(sig.score), 6)
        result["app_confidence_level"] = sig.level
    result["seconds"] = round(time.perf_counter() - t0, 4)
    detail = {"messages": messages(item, context), "options": conts, "chosen": chosen.text}
    return result, detail


def generate_item(item: McqItem, scorer: Any, chat_format: str, think_tokens: int, repeat_penalty: float,
                  confidence_signal: Callable[[str, str, Any], Any] | None = None
                  ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(clear result, detail to encrypt) for one item in generate mode (see the module docstring): the model
    thinks, then a grammar picks the letter and the letters are scored from the prompt extended with the
    reasoning and the answer prefix (``scorer.think_and_score``, one clean KV cache for both phases)."""
    t0 = time.perf_counter()
    letters = item.letters()
    conts = letter_continuations(item, chat_format)
    prefix = answer_prefix(chat_format)

    def attempt(ctx: str | None) -> Any:
        prompt = scorer.prompt_tokens(generate_messages(item, chat_format, ctx))
        return scorer.think_and_score(prompt, conts, choose_from=conts, max_tokens=think_tokens, stops=THINK_STOPS,
                                      answer_prefix=prefix, repeat_penalty=repeat_penalty)

    (thought, scored), context, truncated = _fit(item, attempt)
    if scored.constrained not in conts:  # the grammar admits nothing else: this would be a bug, not the model
        raise ModelError(f"item {item.key}: the answer grammar gave {scored.constrained!r}, not an option letter")
    choice = conts.index(scored.constrained)
    letter = letters[choice]
    probs = scored.probs
    chosen = scored.options[choice]
    result: dict[str, Any] = {
        "choice": letter, "answer": item.answer, "correct": letter == item.answer,
        "probs": {L: round(float(p), 6) for L, p in zip(letters, probs)},
        "logprobs": {L: round(float(o.logprob), 4) for L, o in zip(letters, scored.options)},
        "confidence": round(float(probs[choice]), 6), "subject": item.subject,
        "prompt_tokens": thought.prompt_tokens,
        "decoded_tokens": thought.evaluated + scored.decoded_tokens,
        "context_truncated": truncated,
        "grammar_choice": letter, "loglik_choice": letters[scored.choice],
        "think_tokens": thought.n_generated, "think_hit_budget": thought.hit_budget, "think_stop": thought.stop,
        "extended_tokens": len(thought.extended),
    }
    user = generate_user_message(item, context)
    if confidence_signal is not None:
        sig = confidence_signal(user, chosen.text, chosen)
        result["app_confidence"] = None if sig.score is None else round(float(sig.score), 6)
        result["app_confidence_level"] = sig.level
    result["seconds"] = round(time.perf_counter() - t0, 4)
    detail = {"messages": generate_messages(item, chat_format, context), "reasoning": thought.text,
              "answer_prefix": prefix, "options": conts, "chosen": chosen.text}
    return result, detail


# ---------------------------------------------------------------------------------------- summary
def summarize(results: Sequence[dict[str, Any]], seed: int = stats.DEFAULT_SEED) -> dict[str, Any]:
    """Accuracy with its bootstrap interval, per subject, calibration (ECE over 15 bins, Brier, reliability
    table), AUROC of the option probability and of the app's confidence signal for right vs wrong."""
    n = len(results)
    correct = [bool(r["correct"]) for r in results]
    conf = [float(r["confidence"]) for r in results]
    acc = stats.rate([float(c) for c in correct], seed=seed)
    probs = [list(r["probs"].values()) for r in results]
    labels = [list(r["probs"]).index(r["answer"]) for r in results]
    subjects: dict[str, list[bool]] = {}
    for r, c in zip(results, correct):
        if r.get("subject"):
            subjects.setdefault(r["subject"], []).append(c)
    per_subject = {s: {"n": v["n"], "accuracy": v["rate"], "ci95": v["ci95"]}
                   for s, v in ((s, stats.rate([float(x) for x in cs], seed=seed)) for s, cs in sorted(subjects.items()))}
    app = [(r["app_confidence"], c) for r, c in zip(results, correct) if r.get("app_confidence") is not None]
    seconds = sum(float(r.get("seconds", 0.0)) for r in results)
    chance = float(np.mean([1.0 / len(r["probs"]) for r in results])) if results else None
    choices: dict[str, int] = {}
    for r in results:
        choices[r["choice"]] = choices.get(r["choice"], 0) + 1
    r4 = stats._round
    return {
        "n": n, "accuracy": acc["rate"], "ci95": acc["ci95"], "chance_accuracy": r4(chance),
        "ece": r4(stats.ece(conf, correct)), "brier": r4(stats.brier(probs, labels)),
        "mean_confidence": r4(float(np.mean(conf))) if conf else None,
        "reliability": stats.reliability_table(conf, correct),
        "auroc_option_prob": r4(stats.auroc(conf, correct)),
        "auroc_app_confidence": r4(stats.auroc([a for a, _ in app], [c for _, c in app])) if app else None,
        "n_app_confidence": len(app),
        "per_subject": per_subject, "choices": dict(sorted(choices.items())),
        "n_context_truncated": sum(1 for r in results if r.get("context_truncated")),
        "items_per_s": r4(n / seconds) if seconds > 0 else None,
    }


__all__ = ["FORMATS", "MODES", "McqItem", "LoadedSet", "load_mcq", "messages", "continuations", "score_item",
           "summarize", "template_sha256", "PROMPT_VERSION", "GENERATE_PROMPT_VERSION", "generate_template_sha256",
           "generate_messages", "generate_item", "letter_continuations", "GENERATE_CONTINUATIONS", "answer_prefix", "DEFAULT_THINK_TOKENS"]
