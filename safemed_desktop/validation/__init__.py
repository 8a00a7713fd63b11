"""Blinded expert validation of the model against residents (no Qt; layer 7).

- ``cases``: reading a study's case file (CSV or JSONL).
- ``neutral``: one neutral text format for both answers, so format does not give the source away.
- ``blinding``: the random A/B assignment and its salted commitment.
- ``analysis``: per-criterion means, paired differences with bootstrap intervals, Wilcoxon signed-rank tests,
  Krippendorff's alpha, and verdicts at the study's margin.

The store keeps studies in ``store/studies.py``; the use cases live in ``service/studies.py``.
"""

from __future__ import annotations

from .analysis import analyze, verdict
from .blinding import Assignment, case_commitment, draw_assignments, root_commitment
from .cases import StudyCase, read_cases
from .neutral import neutral_text

__all__ = ["analyze", "verdict", "Assignment", "case_commitment", "draw_assignments", "root_commitment",
           "StudyCase", "read_cases", "neutral_text"]
