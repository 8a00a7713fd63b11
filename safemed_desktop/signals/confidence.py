"""``confidence``: how sure the model was of its own answer, from the answer span's token probabilities.

Measures (cut-offs in the ``confidence_thresholds`` pack, a site-calibrated file):

- mean token probability, lowest token probability, share of tokens with p below ``low_token_prob``;
- for a multiple-choice question (options "A) ..." / "A. ..." / "(A) ..." in the question and a
  chosen letter in the answer): the probability of the token that carries the chosen letter;
- optionally, self-consistency: agreement between the answer and k extra sampled answers
  (``assess(ctx, samples=[...])``; off unless the caller passes samples).

Tokens that only spell the format tags (``<answer>``, ``</think>``) are left out of the measures.
``not_assessed`` when no generation ran (``ctx.token_logprobs is None``) and no samples were given.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations

from ..errors import InputError, PackError
from .packs import Pack, load_pack
from ..records.signal import Evidence, Signal, SignalContext, worst_level

NAME = "confidence"
SOURCE = "model-logprobs"
PACK = "confidence_thresholds"
MEASURES = ("mean_prob", "min_prob", "share_low_prob", "option_prob", "self_consistency")
_MAX_LOW_EVIDENCE = 5


# ------------------------------------------------------------------------------ thresholds
@dataclass(frozen=True)
class Threshold:
    measure: str
    label: str
    caution_below: float | None = None
    alert_below: float | None = None
    caution_above: float | None = None
    alert_above: float | None = None

    def level(self, value: float) -> tuple[str, str]:
        """(level, reason) for one measured value."""
        if self.alert_below is not None and value < self.alert_below:
            return "alert", f"{self.label} {value:.2f} (alert below {self.alert_below:g})"
        if self.alert_above is not None and value > self.alert_above:
            return "alert", f"{self.label} {value:.2f} (alert above {self.alert_above:g})"
        if self.caution_below is not None and value < self.caution_below:
            return "caution", f"{self.label} {value:.2f} (caution below {self.caution_below:g})"
        if self.caution_above is not None and value > self.caution_above:
            return "caution", f"{self.label} {value:.2f} (caution above {self.caution_above:g})"
        return "ok", f"{self.label} {value:.2f}"


@dataclass(frozen=True)
class Thresholds:
    pack: Pack
    by_measure: dict[str, Threshold]
    min_answer_tokens: int
    low_token_prob: float


def parse_thresholds(pack: Pack) -> Thresholds:
    by: dict[str, Threshold] = {}
    for i, e in enumerate(pack.entries):
        if not isinstance(e, dict) or e.get("measure") not in MEASURES:
            raise PackError(f"confidence_thresholds pack: entry {i} must name a measure in {', '.join(MEASURES)}")
        kw = {}
        for key in ("caution_below", "alert_below", "caution_above", "alert_above"):
            v = e.get(key)
            if v is not None:
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
                    raise PackError(f"confidence_thresholds pack: {e['measure']}.{key} must be a number in [0, 1]")
                kw[key] = float(v)
        if not kw:
            raise PackError(f"confidence_thresholds pack: {e['measure']} has no cut-off")
        if "caution_below" in kw and "alert_below" in kw and kw["alert_below"] > kw["caution_below"]:
            raise PackError(f"confidence_thresholds pack: {e['measure']}: alert_below exceeds caution_below")
        if "caution_above" in kw and "alert_above" in kw and kw["alert_above"] < kw["caution_above"]:
            raise PackError(f"confidence_thresholds pack: {e['measure']}: alert_above is below caution_above")
        by[e["measure"]] = Threshold(e["measure"], str(e.get("label", e["measure"])), **kw)
    missing = [m for m in MEASURES if m not in by]
    if missing:
        raise PackError(f"confidence_thresholds pack: no entry for {', '.join(missing)}")
    n_min = pack.raw.get("min_answer_tokens", 3)
    low = pack.raw.get("low_token_prob", 0.1)
    if not isinstance(n_min, int) or n_min < 1:
        raise PackError("confidence_thresholds pack: min_answer_tokens must be a whole number >= 1")
    if not isinstance(low, (int, float)) or not 0 < low < 1:
        raise PackError("confidence_thresholds pack: low_token_prob must be in (0, 1)")
    return Thresholds(pack, by, n_min, float(low))


@lru_cache(maxsize=1)
def load_thresholds() -> Thresholds:
    return parse_thresholds(load_pack(PACK))


# ------------------------------------------------------------------------------ multiple choice
_OPTION = re.compile(r"(?:^|[\s:;,(\[])\(?([A-H])\s*[).:]\s+(?=\S)", re.MULTILINE)
_CHOSEN_PATTERNS = (
    # "the answer is B", "Answer: (C)", "correct option is **D**", "I choose B"
    re.compile(r"\b(?:answer|option|choice|choose|select|pick)\s*(?:is|would be|:|=|-)?\s*(?:option\s+)?[(*\[]*\s*((?-i:[A-H]))\b(?![\w'-])", re.IGNORECASE),
    # "B) metformin" / "B. metformin" / "(B)" / "**B**" at the start of the text or a line
    re.compile(r"(?:^|\n)\s*[*_]*\(?([A-H])(?:[).:]|\*\*|\s*$)", re.MULTILINE),
    # "(B)" anywhere
    re.compile(r"\(([A-H])\)"),
    # "B is correct", "B is the best/right answer"
    re.compile(r"\b([A-H])\s+is\s+(?:the\s+)?(?:correct|right|best|most\s+appropriate)\b"),
)


def question_options(question: str) -> tuple[str, ...]:
    """Option letters offered by a multiple-choice question ('A', 'B', ...), or () if it is not one."""
    letters: list[str] = []
    for m in _OPTION.finditer(question):
        if m.group(1) not in letters:
            letters.append(m.group(1))
    if len(letters) < 2 or "A" not in letters or "B" not in letters:
        return ()
    return tuple(sorted(letters))


def find_chosen_option(text: str, options: tuple[str, ...] = tuple("ABCDEFGH"), *, last: bool = False) -> tuple[str, int, int] | None:
    """The option letter an answer (or a reasoning's conclusion, with ``last=True``) chooses.

    Returns (letter, start, end) of the letter in ``text``; the patterns are tried in order of
    explicitness and the first (or last) match of the first pattern that matches wins.
    """
    for pat in _CHOSEN_PATTERNS:
        found = [m for m in pat.finditer(text) if m.group(1).upper() in options]
        if found:
            m = found[-1] if last else found[0]
            return m.group(1).upper(), m.start(1), m.end(1)
    return None


# ------------------------------------------------------------------------------ self-consistency
_STOP = frozenset(
    "the a an and or of to in for with on at by is are was were be been it this that these those as from "
    "should would could may might can will not no yes patient patients dose doses daily mg take given give".split()
)
_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")


def _content_words(text: str) -> frozenset[str]:
    return frozenset(w for w in _WORD.findall(text.lower()) if len(w) >= 3 and w not in _STOP)


def self_consistency(answers: list[str], question: str | None = None) -> float:
    """Agreement in [0, 1] among sampled answers to one question.

    If every answer chooses an option letter (options taken from ``question`` when given), the
    agreement is the share of answers that chose the most common letter. Otherwise it is the mean
    pairwise Jaccard overlap of the answers' content words (lower-cased, stop words removed).
    """
    if len(answers) < 2:
        raise InputError("self-consistency needs at least two answers")
    options = question_options(question) if question else ()
    letters = [find_chosen_option(a, options or tuple("ABCDEFGH")) for a in answers]
    if all(letters) and (options or all(len(a.strip()) <= 40 for a in answers)):
        chosen = [x[0] for x in letters if x]
        top = max(chosen.count(c) for c in set(chosen))
        return top / len(chosen)
    sets = [_content_words(a) for a in answers]
    sims = []
    for x, y in combinations(sets, 2):
        union = x | y
        sims.append(len(x & y) / len(union) if union else 1.0)
    return sum(sims) / len(sims)


# ------------------------------------------------------------------------------ token spans
_TAG = re.compile(r"</?(?:think|answer)>", re.IGNORECASE)


def _mask_tags(text: str) -> tuple[str, list[tuple[int, int]]]:
    spans = [m.span() for m in _TAG.finditer(text)]
    if not spans:
        return text, spans
    chars = list(text)
    for a, b in spans:
        chars[a:b] = " " * (b - a)
    return "".join(chars), spans


@dataclass(frozen=True)
class _Token:
    index: int
    start: int  # offsets in the joined token text
    end: int
    prob: float


def _answer_tokens(logprobs: tuple[float, ...], texts: tuple[str, ...] | None) -> tuple[list[_Token], str]:
    """Scorable answer tokens (tag-only tokens dropped, non-finite log-probs dropped) and the joined text."""
    exp, isfinite = math.exp, math.isfinite
    if texts is None or len(texts) != len(logprobs):
        return [_Token(i, -1, -1, exp(lp)) for i, lp in enumerate(logprobs) if isfinite(lp)], ""
    joined = "".join(texts)
    masked, tag_spans = _mask_tags(joined)
    out: list[_Token] = []
    pos = 0
    for i, (lp, t) in enumerate(zip(logprobs, texts)):
        start = pos
        pos += len(t)
        if not isfinite(lp):
            continue
        if tag_spans:
            if t and any(a <= start and pos <= b for a, b in tag_spans):
                continue  # the token only spells a format tag
            if t.strip() and not masked[start:pos].strip():
                continue  # its visible characters all belong to tags
        out.append(_Token(i, start, pos, exp(lp)))
    return out, masked


def _trim(text: str, a: int, b: int) -> tuple[int, int]:
    """Shrink [a, b) to exclude surrounding whitespace (empty span -> (0, 0))."""
    a, b = max(a, 0), min(b, len(text))
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return (a, b) if a < b else (0, 0)


def assess(ctx: SignalContext, samples: list[str] | None = None) -> Signal:
    """The confidence signal; ``samples`` are extra sampled answers for self-consistency (optional)."""
    th = load_thresholds()
    if ctx.token_logprobs is None and not samples:
        return Signal(NAME, "not_assessed", "No generation ran, so there are no token probabilities to judge.", SOURCE)

    results: list[tuple[str, str]] = []  # (level, reason)
    parts: list[str] = []
    evidence: list[Evidence] = []
    score: float | None = None
    tokens: list[_Token] = []
    masked = ""
    if ctx.token_logprobs is not None:
        tokens, masked = _answer_tokens(tuple(ctx.token_logprobs), ctx.token_texts)
    answer = ctx.answer or ""
    # where the parsed answer sits inside the joined token text (for evidence offsets)
    base = masked.find(answer) if (masked and answer) else -1

    if len(tokens) >= th.min_answer_tokens:
        probs = [t.prob for t in tokens]
        mean_p = sum(probs) / len(probs)
        min_p = min(probs)
        share_low = sum(1 for p in probs if p < th.low_token_prob) / len(probs)
        score = mean_p
        for measure, value in (("mean_prob", mean_p), ("min_prob", min_p), ("share_low_prob", share_low)):
            results.append(th.by_measure[measure].level(value))
        parts.append(f"mean token p {mean_p:.2f}, lowest {min_p:.3f}, {share_low:.0%} of {len(probs)} tokens below p {th.low_token_prob:g}")
        if base >= 0:
            low = sorted((t for t in tokens if t.prob < th.low_token_prob), key=lambda t: t.prob)[:_MAX_LOW_EVIDENCE]
            for t in sorted(low, key=lambda t: t.start):
                a, b = _trim(answer, t.start - base, t.end - base)
                if 0 <= a < b <= len(answer):
                    evidence.append(Evidence("answer", a, b, answer[a:b], "low_token_prob",
                                             f"token probability {t.prob:.3f} (below {th.low_token_prob:g})"))
    elif ctx.token_logprobs is not None:
        parts.append(f"only {len(tokens)} answer token{'s' if len(tokens) != 1 else ''}: too short to judge on mean probability")

    options = question_options(ctx.question)
    if options and tokens and masked:
        chosen = find_chosen_option(masked, options)
        if chosen is not None:
            letter, lo, _ = chosen
            tok = next((t for t in tokens if t.start <= lo < t.end), None)
            if tok is not None:
                results.append(th.by_measure["option_prob"].level(tok.prob))
                score = tok.prob
                parts.append(f"chosen option {letter} at p {tok.prob:.2f}")
                a, b = _trim(answer, tok.start - base, tok.end - base)
                if base >= 0 and 0 <= a < b <= len(answer):
                    evidence.append(Evidence("answer", a, b, answer[a:b], "option_letter_prob",
                                             f"probability of the chosen option letter {letter}: {tok.prob:.3f}"))

    if samples:
        agreement = self_consistency([answer, *samples], ctx.question)
        results.append(th.by_measure["self_consistency"].level(agreement))
        parts.append(f"{agreement:.0%} agreement across {len(samples) + 1} sampled answers")
        score = agreement if score is None else min(score, agreement)

    if not results:
        return Signal(NAME, "not_assessed", (parts[0] if parts else "No answer tokens to judge") + ".", SOURCE)
    level = worst_level(lv for lv, _ in results)
    flagged = [reason for lv, reason in results if lv == level and lv != "ok"]
    lead = {"ok": "Model was confident", "caution": "Low confidence", "alert": "Very low confidence"}[level]
    detail = "; ".join(parts)
    detail = detail[:1].upper() + detail[1:]
    summary = f"{lead}: " + ("; ".join(flagged) + ". " if flagged else "") + detail + "."
    return Signal(NAME, level, summary, SOURCE, score=score, evidence=tuple(evidence))
