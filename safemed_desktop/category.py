"""Question categories used to group a model version's track record (provenance).

Deliberately coarse and rule-based: the category only selects which slice of past audits
the provenance panel shows next to the overall record.
"""

from __future__ import annotations

import re

CATEGORIES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("emergency", re.compile(r"\b(emergenc\w*|chest pain|stroke|anaphyla\w*|sepsis|septic|suicid\w*|overdose|unresponsive|seizure)\b", re.I)),
    ("pregnancy", re.compile(r"\b(pregnan\w*|breastfeed\w*|lactat\w*|trimester|postpartum)\b", re.I)),
    ("pediatrics", re.compile(r"\b(child|children|infant|neonat\w*|toddler|pediatric|paediatric|\d+[- ](?:year|month)[- ]old)\b", re.I)),
    ("medication", re.compile(r"\b(dose|dosing|dosage|mg|mcg|tablet|prescri\w*|interact\w*|drug|medication|side effects?|contraindicat\w*)\b", re.I)),
    ("diagnosis", re.compile(r"\b(diagnos\w*|differential|symptom\w*|workup|work-up|test for|screen\w*)\b", re.I)),
)


def categorize_question(question: str) -> str:
    for name, pattern in CATEGORIES:
        if pattern.search(question):
            return name
    return "general"
