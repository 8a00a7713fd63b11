"""Split a model's raw output into reasoning and answer (``<think>...</think><answer>...</answer>``).

Models, tiny ones above all, often break the format. ``parse_output`` never fails; it
recovers what it can and records what was wrong in flags (see ``ParsedOutput.issues``):

- no tags at all: the whole text is the answer;
- ``<think>`` never closed and no ``<answer>``: everything after ``<think>`` is reasoning,
  the answer is empty (flagged);
- ``<think>`` never closed but an ``<answer>`` follows: ``<answer>`` ends the reasoning (flagged);
- ``</think>`` without ``<think>`` (templates that open the block themselves): text before it
  is reasoning;
- text after ``</think>`` without an ``<answer>`` tag: that text is the answer;
- ``<answer>`` without ``</answer>``: the answer runs to the end of the text.

Tags match case-insensitively. ``PhaseTracker`` applies the same rules while streaming, where a
tag may arrive split across tokens (``"<th"`` + ``"ink>"``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..records.events import Phase

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
ANSWER_OPEN = "<answer>"
ANSWER_CLOSE = "</answer>"
_TAGS = (THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE)

# "1.", "1)", "2:", "Step 3:", "Step 3.", "**Step 1:**", "### Step 2 -" at the start of a line.
_NUMBERED = re.compile(r"^\s*(?:[#*_]+\s*)?(?:step\s*)?\d{1,3}\s*(?:[.):]|\s-)(?:[*_]+)?(?=\s|$)\s*", re.IGNORECASE)
_STEP_WORD = re.compile(r"^\s*(?:[#*_]+\s*)?step\s+\d{1,3}\b(?:[*_]+)?\s*", re.IGNORECASE)
_BULLET = re.compile(r"^\s*[-*\u2022\u2023\u25e6]\s+")


@dataclass(frozen=True)
class ParsedOutput:
    """Reasoning and answer recovered from one raw completion, with format flags."""

    reasoning: str
    reasoning_steps: tuple[str, ...]
    answer: str
    think_open: bool  # a <think> tag was present
    think_closed: bool  # a </think> tag was present
    answer_tagged: bool  # an <answer> tag was present
    answer_closed: bool = False  # an </answer> tag was present

    @property
    def issues(self) -> tuple[str, ...]:
        """Format problems, in words (empty when the output followed the format or used no tags)."""
        out: list[str] = []
        if self.think_open and not self.think_closed:
            out.append("reasoning block <think> was never closed")
        if self.think_closed and not self.think_open:
            out.append("</think> without an opening <think>")
        if (self.think_open or self.think_closed) and not self.answer_tagged:
            out.append("no <answer> tag after the reasoning")
        if self.answer_tagged and not self.answer_closed:
            out.append("<answer> was never closed")
        if not self.answer:
            out.append("the answer is empty")
        return tuple(out)

    @property
    def well_formed(self) -> bool:
        """True when every tag of the think/answer format was present and closed."""
        return self.think_open and self.think_closed and self.answer_tagged and self.answer_closed


def _find(low: str, tag: str, start: int = 0) -> int:
    return low.find(tag, start)


def parse_output(raw: str) -> ParsedOutput:
    """Parse ``raw`` model output; never raises (see the module docstring for the broken cases)."""
    text = raw or ""
    low = text.lower()  # same length as text for these ASCII tags
    if len(low) != len(text):  # exotic case-folding changed lengths: fall back to exact matching
        low = text

    think_open = think_closed = answer_tagged = answer_closed = False
    reasoning = ""
    rest_start = 0  # where the answer part begins

    i_open = _find(low, THINK_OPEN)
    i_close = _find(low, THINK_CLOSE, i_open + len(THINK_OPEN) if i_open >= 0 else 0)
    if i_open >= 0:
        think_open = True
        body_start = i_open + len(THINK_OPEN)
        if i_close >= 0:
            think_closed = True
            reasoning = text[body_start:i_close]
            rest_start = i_close + len(THINK_CLOSE)
        else:
            i_ans = _find(low, ANSWER_OPEN, body_start)
            if i_ans >= 0:  # unclosed <think>, but an <answer> ends it
                reasoning = text[body_start:i_ans]
                rest_start = i_ans
            else:  # unclosed <think>: all reasoning, no answer
                reasoning = text[body_start:]
                rest_start = len(text)
    elif i_close >= 0:  # "</think>" alone: the template opened the block
        think_closed = True
        reasoning = text[:i_close]
        rest_start = i_close + len(THINK_CLOSE)

    rest = text[rest_start:]
    rest_low = low[rest_start:]
    i_ans = _find(rest_low, ANSWER_OPEN)
    if i_ans >= 0:
        answer_tagged = True
        a_start = i_ans + len(ANSWER_OPEN)
        i_end = _find(rest_low, ANSWER_CLOSE, a_start)
        if i_end >= 0:
            answer_closed = True
            answer = rest[a_start:i_end]
        else:
            answer = rest[a_start:]
    else:
        answer = rest
    # stray closing tags left in the answer part carry no content
    answer = _strip_tags(answer)
    reasoning = _strip_tags(reasoning)
    return ParsedOutput(
        reasoning=reasoning,
        reasoning_steps=split_steps(reasoning),
        answer=answer,
        think_open=think_open,
        think_closed=think_closed,
        answer_tagged=answer_tagged,
        answer_closed=answer_closed,
    )


def _strip_tags(s: str) -> str:
    for tag in _TAGS:
        if tag in s.lower():
            s = re.sub(re.escape(tag), "", s, flags=re.IGNORECASE)
    return s.strip()


def _marker(line: str) -> re.Match[str] | None:
    return _NUMBERED.match(line) or _STEP_WORD.match(line) or _BULLET.match(line)


def split_steps(reasoning: str) -> tuple[str, ...]:
    """Split reasoning into steps: numbered lines ("1.", "Step 1:"), bullets, else blank-line paragraphs.

    Lines that continue an item are joined to it with a space; a blank line followed by a
    line without a marker starts a new step (a paragraph after a list, for example).
    """
    lines = reasoning.strip().splitlines()
    if not lines:
        return ()
    has_markers = any(_marker(line) for line in lines)
    steps: list[str] = []
    current: list[str] = []
    after_blank = False

    def flush() -> None:
        joined = " ".join(part.strip() for part in current if part.strip())
        joined = re.sub(r"\s+", " ", joined).strip()
        if joined:
            steps.append(joined)
        current.clear()

    for line in lines:
        if not line.strip():
            after_blank = True
            continue
        m = _marker(line) if has_markers else None
        if m is not None:
            flush()
            current.append(line[m.end():])
        elif after_blank:
            flush()
            current.append(line)
        else:
            current.append(line)
        after_blank = False
    flush()
    return tuple(steps)


class PhaseTracker:
    """Streaming phase: feed token texts in order; each call returns the phase in effect after it.

    Starts in ``"answer"`` (output without tags is all answer). A complete ``<think>`` switches to
    ``"reasoning"``; ``</think>`` or ``<answer>`` switches back. A tag split across calls takes
    effect when its last character arrives.
    """

    _MAX_TAG = max(len(t) for t in _TAGS)

    def __init__(self) -> None:
        self.phase: Phase = "answer"
        self._pending = ""  # a possible tag prefix carried to the next feed

    def feed(self, text: str) -> Phase:
        if not text:
            return self.phase
        buf = self._pending + text
        self._pending = ""
        low = buf.lower()
        if len(low) != len(buf):  # case folding changed lengths: match exactly
            low = buf
        i = low.find("<")
        while i >= 0:
            for tag in _TAGS:
                if low.startswith(tag, i):
                    if tag == THINK_OPEN:
                        self.phase = "reasoning"
                    elif tag in (THINK_CLOSE, ANSWER_OPEN):
                        self.phase = "answer"
                    i += len(tag) - 1
                    break
            else:
                tail = low[i:]
                if len(tail) < self._MAX_TAG and any(t.startswith(tail) for t in _TAGS):
                    self._pending = buf[i:]
                    break
            i = low.find("<", i + 1)
        return self.phase
