"""Render unified diffs as HTML: removed lines struck through and '-', added underlined and '+'."""

from __future__ import annotations

import html


def unified_to_html(diff: str) -> str:
    if not diff.strip():
        return "<i>No changes.</i>"
    rows = []
    for line in diff.splitlines():
        esc = html.escape(line)
        if line.startswith(("---", "+++")):
            rows.append(f"<b>{esc}</b>")
        elif line.startswith("@@"):
            rows.append(f"<span style='color:#6b6f76'>{esc}</span>")
        elif line.startswith("-"):
            rows.append(f"<span style='background:#fde2e0;color:#7f1b15'><s>{esc}</s></span>")
        elif line.startswith("+"):
            rows.append(f"<span style='background:#e3f3e7;color:#14522a'><u>{esc}</u></span>")
        else:
            rows.append(esc)
    return "<pre style='white-space:pre-wrap'>" + "<br>".join(rows) + "</pre>"


def unified_diff(text_a: str, text_b: str, label_a: str, label_b: str, context: int = 3) -> str:
    """The store's unified diff, through the service (the same diff the store shows for edit versions)."""
    from ..service import unified_diff as service_diff

    return service_diff(text_a, text_b, label_a, label_b, context=context)


def diff_html(old: str, new: str, old_label: str = "model", new_label: str = "edited") -> str:
    return unified_to_html(unified_diff(old, new, old_label, new_label, context=2))
