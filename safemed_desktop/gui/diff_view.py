"""Render edits readably: an inline, word-level diff (removed words struck through in red and marked
"removed", added words underlined in green and marked "added"), never the raw ``--- +++ @@`` markup."""

from __future__ import annotations

import difflib
import html
import re


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


_WORDS = re.compile(r"\s+|[^\s]+")
_DEL = "background:#fde2e0;color:#7f1b15"
_INS = "background:#e3f3e7;color:#14522a"


def _marked(words: list[str], spans: list[tuple[int, int]], style: str, tag: str, what: str) -> str:
    out, pos = [], 0
    for i1, i2 in spans:
        out.append(html.escape("".join(words[pos:i1])))
        out.append(f"<span style='{style}' title='{what}'><{tag}>{html.escape(''.join(words[i1:i2]))}</{tag}></span>")
        pos = i2
    out.append(html.escape("".join(words[pos:])))
    return "".join(out)


def _line_pair(old: str, new: str) -> tuple[str, str]:
    """One changed line as "Before" and "After", the words that changed struck / underlined."""
    a, b = _WORDS.findall(old), _WORDS.findall(new)
    dels, ins = [], []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op in ("delete", "replace"):
            dels.append((i1, i2))
        if op in ("insert", "replace"):
            ins.append((j1, j2))
    return _marked(a, dels, _DEL, "s", "removed"), _marked(b, ins, _INS, "u", "added")


def readable_diff_html(old: str, new: str, old_label: str = "the model's answer",
                       new_label: str = "the edited answer") -> str:
    """A readable diff of ``old`` -> ``new`` as HTML: each changed line shown whole, "Before:" with the removed
    words struck through (red) and "After:" with the added words underlined (green); unchanged lines plain."""
    if old == new:
        return "<i>No changes.</i>"
    a, b = old.splitlines(), new.splitlines()
    rows = [f"<p><b>Changes from {html.escape(old_label)} to {html.escape(new_label)}</b> "
            f"(<span style='{_DEL}'><s>removed</s></span>, <span style='{_INS}'><u>added</u></span>)</p>"]
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            rows += [f"<p>{html.escape(line)}</p>" for line in a[i1:i2]]
            continue
        olds, news = a[i1:i2], b[j1:j2]
        for k in range(max(len(olds), len(news))):
            o = olds[k] if k < len(olds) else None
            n = news[k] if k < len(news) else None
            if o is not None and n is not None:
                before, after = _line_pair(o, n)
                rows.append(f"<p><b>Before:</b> {before}<br><b>After:</b> {after}</p>")
            elif o is not None:
                rows.append(f"<p><b>Removed line:</b> <span style='{_DEL}'><s>{html.escape(o)}</s></span></p>")
            else:
                rows.append(f"<p><b>Added line:</b> <span style='{_INS}'><u>{html.escape(n or '')}</u></span></p>")
    return "".join(rows)


def diff_html(old: str, new: str, old_label: str = "the model's answer", new_label: str = "your edit") -> str:
    return readable_diff_html(old, new, old_label, new_label)
