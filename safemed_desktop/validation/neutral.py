"""One neutral text format for every answer shown to a reviewer.

A model's answer and a resident's differ in form as much as in content: reasoning tags, markdown
headings and emphasis, bullet styles, spacing, curly quotes. Reviewers must judge content, so both
answers go through ``neutral_text``: the model's reasoning (``<think>``) is dropped and its
``<answer>`` tags removed, markdown is reduced to plain sentences, list markers become one plain
"- " style, Unicode is NFKC-normalised with straight quotes and dashes, and whitespace collapses to
single spaces within lines and single line breaks between paragraphs. The function is idempotent.
"""

from __future__ import annotations

import re
import unicodedata

_THINK = re.compile(r"<think>.*?(</think>|$)", re.DOTALL | re.IGNORECASE)
_TAGS = re.compile(r"</?\s*(answer|think|reasoning|final|step)\s*>", re.IGNORECASE)
_FENCE = re.compile(r"^\s*(```|~~~).*$", re.MULTILINE)
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s*", re.MULTILINE)
_SETEXT = re.compile(r"^\s*(=+|-{3,}|\*{3,}|_{3,})\s*$", re.MULTILINE)
_QUOTE = re.compile(r"^\s*>\s?", re.MULTILINE)
_BULLET = re.compile(r"^\s*(?:[-*+\u2022\u25aa\u25cf]|\d{1,3}[.)]|[a-zA-Z][.)](?=\s))\s+", re.MULTILINE)
_EMPH = re.compile(r"(\*\*|__|\*|_|`)(?=\S)(.+?)(?<=\S)\1", re.DOTALL)
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$", re.MULTILINE)
_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
_REPLACE = {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-",
            "\u2212": "-", "\u2026": "..."}


def neutral_text(text: str) -> str:
    """``text`` in the neutral format (see the module docstring). Idempotent: f(f(x)) == f(x) (one pass is
    repeated until nothing changes; each pass only removes or normalises, so this ends within a few passes)."""
    if not isinstance(text, str):
        raise TypeError("neutral_text needs a str")
    out = _one_pass(text)
    for _ in range(16):
        again = _one_pass(out)
        if again == out:
            break
        out = again
    return out


def _one_pass(text: str) -> str:
    s = unicodedata.normalize("NFKC", text)
    for a, b in _REPLACE.items():
        s = s.replace(a, b)
    s = s.replace("\r\n", "\n").replace("\r", "\n")
    s = _THINK.sub("\n", s)
    s = _TAGS.sub("\n", s)
    s = _FENCE.sub("", s)
    s = _TABLE_RULE.sub("", s)
    s = _SETEXT.sub("", s)
    s = _HEADING.sub("", s)
    s = _QUOTE.sub("", s)
    s = _LINK.sub(r"\1", s)
    for _ in range(3):  # nested emphasis (***x***)
        s = _EMPH.sub(r"\2", s)
    s = s.replace("|", " ")
    lines = []
    for raw in s.split("\n"):
        bullet = bool(_BULLET.match(raw))
        line = _SPACES.sub(" ", _BULLET.sub("", raw) if bullet else raw).strip()
        line = line.strip("*_`#").strip()
        if line:
            lines.append(f"- {line}" if bullet else line)
    return "\n".join(lines)
