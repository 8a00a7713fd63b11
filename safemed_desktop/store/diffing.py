"""Differences between two versions of an answer's text (difflib, line-based unified diff)."""

from __future__ import annotations

import difflib


def unified_diff(text_a: str, text_b: str, label_a: str, label_b: str, context: int = 3) -> str:
    """A unified diff of two texts; '' when they are identical."""
    a = text_a.splitlines(keepends=True)
    b = text_b.splitlines(keepends=True)
    if a and not a[-1].endswith("\n"):
        a[-1] += "\n"
    if b and not b[-1].endswith("\n"):
        b[-1] += "\n"
    return "".join(difflib.unified_diff(a, b, fromfile=label_a, tofile=label_b, n=context))
