"""Negation and warning-context detection for clinical free text (shared by rule-based signals).

A term mentioned as something to avoid ("avoid ibuprofen", "do not give aspirin to children",
"sildenafil must not be combined with nitrates", "X is contraindicated", "instead of X",
"stop taking X") is not a recommendation. :func:`scan` finds the cues once per text; then
``WarningContext.cue_for(start, end)`` says which cue, if any, puts a span in warning context.

Scope rules (clause-based, deliberately simple and predictable):
  * a *pre* cue ("avoid", "do not give", "instead of", ...) covers the text after it up to the end
    of its clause;
  * a *post* cue ("is contraindicated", "should be avoided", "must not be combined with", ...) covers
    the text before it back to the start of its clause (and, for "... with/and", the text after it);
  * a clause ends at sentence punctuation (. ; ! ? or a newline, so each list item is its own clause;
    not a decimal point) or at a word that turns to a recommendation or reason ("but", "instead",
    "use", "give", "because"). A colon does not end a clause ("Avoid: ibuprofen, naproxen").
  * a term directly followed by "allergy", "toxicity", "overdose", "-induced", "levels" ... is a
    reference, not a recommendation ("penicillin allergy", "digoxin toxicity").

:func:`is_negated` answers the broader question rule-based signals ask of a named agent ("is this
mention a recommendation?", used by ``guideline_consistency`` and ``reasoning_consistency``): the
warning cues above, plus plain negation in the mention's clause ("antibiotics are not needed",
"no antibiotics"), except where the cue negates a delay or a limit rather than the agent ("do not
delay epinephrine", "do not exceed 4 g of paracetamol", "no more than 4 g").

:data:`DENIAL_BEFORE` is the negation of a symptom in a question ("denies chest pain", "no fever"),
matched against the text just before the symptom (``red_flags``).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from functools import lru_cache

_PRE = [
    r"avoid(?:ing|s|ed)?", r"do\s+not", r"don'?t", r"does\s+not", r"never", r"should\s+not", r"shouldn'?t",
    r"must\s+not", r"mustn'?t", r"cannot", r"can'?t", r"not\s+(?:be\s+)?(?:recommended|advised|indicated|safe)",
    r"(?:is|are)\s+not\s+(?:recommended|advised|safe)", r"instead\s+of", r"rather\s+than", r"in\s+place\s+of",
    r"stop(?:ping|ped|s)?(?:\s+taking)?", r"discontinu(?:e|ed|ing)", r"withh[oe]ld(?:ing)?", r"hold(?:ing)?\s+(?:the\s+)?",
    r"ceas(?:e|ing)", r"refrain\s+from", r"steer\s+clear\s+of", r"contraindicat(?:ed|ion|es?)", r"allerg(?:ic|y)\s+to",
    r"(?:history|hx)\s+of\s+(?:an?\s+)?(?:allergy|reaction)\s+to", r"unsafe", r"not\s+to\s+be\s+(?:given|used|taken|combined)",
    r"switch(?:ing)?\s+(?:away\s+)?from", r"no\s+(?:more|longer)", r"without",
]
_POST = [
    r"(?:is|are)\s+contraindicated", r"(?:is|are)\s+not\s+(?:recommended|advised|safe|indicated)",
    r"should\s+(?:be\s+)?(?:avoided|stopped|discontinued|held|withheld|not\s+be)", r"must\s+(?:be\s+)?(?:avoided|stopped|not\s+be)",
    r"(?:is|are)\s+(?:to\s+be\s+)?avoided", r"(?:is|are)\s+unsafe", r"(?:is|are|was|were)\s+(?:dangerous|harmful)",
    r"can\s+(?:cause|be\s+fatal)", r"may\s+be\s+fatal", r"(?:is|are)\s+(?:potentially\s+)?(?:fatal|lethal|toxic)",
    r"should\s+never", r"must\s+never", r"(?:is|are)\s+never",
]
# a negated verb is part of the cue ("do not give", "avoid using"), so the verb does not end the clause
_VERB = (r"(?:\s+(?:be\s+)?(?:give|given|giving|use|used|using|take|taken|taking|prescribe|prescribing|start|starting|"
         r"administer|administering|combine|combined|begin|try|recommend|consider|exceed|restart|resume)\b)?")


# --- fast scanning helpers (shared with medication_parse) ---------------------------------------------
# Python's regex engine skips quickly to candidate positions only when every top-level alternative
# starts with a literal character and no IGNORECASE flag is set. The scanners therefore run on a
# length-preserving lower-cased copy of the text, with literal-first alternations and the left word
# boundary checked in Python.

def fold(text: str) -> str:
    """Lower-case ``text`` without changing its length (offsets stay valid)."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


def _leading_group(alt: str) -> tuple[list[str], str] | None:
    """Split '(?:a|b(?:c)?)rest' into (['a', 'b(?:c)?'], 'rest'); None if alt does not start with a plain group."""
    if not alt.startswith("(?:"):
        return None
    depth, parts, cur, i = 0, [], [], 3
    while i < len(alt):
        ch = alt[i]
        if ch == "\\":
            cur.append(alt[i:i + 2])
            i += 2
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            if depth == 0:
                rest = alt[i + 1:]
                if rest[:1] in ("?", "*", "+", "{"):
                    return None
                parts.append("".join(cur))
                return parts, rest
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append("".join(cur))
            cur = []
            i += 1
            continue
        cur.append(ch)
        i += 1
    return None


def literal_first(alternatives: list[str], suffix: str = "") -> str:
    """Join alternatives so that each starts with a literal: '(?:is|are)\\s+x' -> 'is\\s+x|are\\s+x';
    a leading '\\d+' becomes ten alternatives '0\\d*...'. Order (priority) is preserved."""
    out: list[str] = []
    todo = list(alternatives)
    while todo:
        alt = todo.pop(0)
        split = _leading_group(alt)
        if split:
            todo[:0] = [head + split[1] for head in split[0]]
        elif alt.startswith("\\d+"):
            out.extend(f"{d}\\d*{alt[3:]}{suffix}" for d in "0123456789")
        elif alt.startswith("\\d"):
            out.extend(f"{d}{alt[2:]}{suffix}" for d in "0123456789")
        else:
            out.append(alt + suffix)
    return "|".join(out)


def word_start(low: str, i: int) -> bool:
    """True when position ``i`` starts a word (or is not preceded by a word character)."""
    return i == 0 or not (low[i - 1].isalnum() or low[i - 1] == "_")


_POST_RE = re.compile(r"(?:" + "|".join(_POST) + r")\b", re.IGNORECASE)
_CUES = re.compile(literal_first(_POST, r"\b") + "|" + literal_first(_PRE, r"\b" + _VERB))
# Post cues that join two terms ("X must not be combined with Y", "X is contraindicated with Y")
_JOINING_AFTER = re.compile(r"\s*(?:be\s+)?(?:combined|co-?administered|given|used|taken|mixed)?\s*(?:with|and|alongside|together\s+with)\b",
                            re.IGNORECASE)
# A term directly followed by one of these is a reference, not a recommendation:
# "penicillin allergy", "NSAID-induced", "digoxin toxicity", "acetaminophen overdose", "lithium levels".
_ADJACENT = re.compile(
    r"\s*-?\s*(?:allerg(?:y|ies|ic)|intolerance|hypersensitivity|toxicity|overdose|poisoning|induced|associated|levels?)\b",
    re.IGNORECASE,
)
_BOUNDARY_WORDS = ["but", "however", "instead", "use", "give", "prefer(?:red|ably)?", "try", "start", "begin", "consider",
                   "recommend(?:ed)?", "because", "since", "although", "though", "whereas", "while", "unless", "then", "which", "so"]
_BOUNDARY = re.compile(r"\.(?!\d)|;|!|\?|\n|" + literal_first(_BOUNDARY_WORDS, r"\b"))


@dataclass(frozen=True)
class Cue:
    start: int
    end: int
    text: str
    kind: str  # "pre" or "post"


class WarningContext:
    """Cues and clause boundaries of one text, computed once."""

    def __init__(self, text: str):
        self.text = text
        low = fold(text)
        self.cues: list[Cue] = [
            Cue(m.start(), m.end(), text[m.start():m.end()], "post" if _POST_RE.fullmatch(m.group(0)) else "pre")
            for m in _CUES.finditer(low) if word_start(low, m.start())
        ]
        spans = [(c.start, c.end) for c in self.cues]
        starts = [s for s, _ in spans]

        def inside_cue(a: int, b: int) -> bool:  # "instead of", "do not give": the cue's own words end nothing
            i = bisect.bisect_right(starts, a) - 1
            return i >= 0 and spans[i][0] <= a and b <= spans[i][1]

        self._bounds: list[tuple[int, int]] = [
            (m.start(), m.end()) for m in _BOUNDARY.finditer(low)
            if not inside_cue(m.start(), m.end()) and (not m.group(0)[0].isalpha() or word_start(low, m.start()))
        ]
        self._bound_starts = [b[0] for b in self._bounds]
        self._cue_starts = [c.start for c in self.cues]

    def _next_boundary(self, pos: int) -> int:
        i = bisect.bisect_left(self._bound_starts, pos)
        return self._bounds[i][0] if i < len(self._bounds) else len(self.text)

    def _prev_boundary_end(self, pos: int) -> int:
        i = bisect.bisect_right(self._bound_starts, pos) - 1
        while i >= 0:
            if self._bounds[i][1] <= pos:
                return self._bounds[i][1]
            i -= 1
        return 0

    def cue_for(self, start: int, end: int) -> Cue | None:
        """The cue that puts text[start:end] in warning context, or None."""
        adj = _ADJACENT.match(self.text, end)
        if adj:
            return Cue(end, adj.end(), self.text[end:adj.end()].strip(), "post")
        clause_start = self._prev_boundary_end(start)
        clause_end = self._next_boundary(end)
        for cue in self.cues[bisect.bisect_left(self._cue_starts, clause_start):]:  # every rule needs cue.start >= clause_start
            if cue.start >= clause_end:
                break
            if cue.kind == "pre" and clause_start <= cue.start and cue.end <= start:
                # the cue itself must be in the same clause as the term
                if self._next_boundary(cue.end) >= end:
                    return cue
            if cue.kind == "post":
                if clause_start <= cue.start and end <= cue.start and self._next_boundary(end) >= cue.start:
                    return cue
                if cue.end <= start and _JOINING_AFTER.match(self.text, cue.end) and self._next_boundary(cue.end) >= end:
                    return cue
        return None


def scan(text: str) -> WarningContext:
    """Find the warning cues and clause boundaries of ``text``."""
    return WarningContext(text)


def warning_cue(text: str, start: int, end: int) -> Cue | None:
    """One-off form of ``scan(text).cue_for(start, end)``."""
    return scan(text).cue_for(start, end)


# --- mention negation (is a named agent recommended?) -------------------------------------------------
_CLAUSE_BREAK = re.compile(
    r"(?<!\d)\.|\.(?!\d)|[;:!?\n]|\b(?:but|however|whereas|except|so|then|because|since|although|though|while|unless)\b",
    re.IGNORECASE,
)
_NEG_BEFORE = re.compile(
    r"\b(?:not|no|never|avoid|avoiding|don't|do not|does not|doesn't|should not|shouldn't|must not|cannot|can't|"
    r"without|instead of|rather than|against|stop|stopping|discontinue|withhold|contraindicat\w*|"
    r"unnecessary|neither|nor|not recommended|not indicated|not needed|not advised|unsafe)\b",
    re.IGNORECASE,
)
# "do not delay epinephrine", "do not exceed 4 g of paracetamol": the cue negates the delay or the
# excess, not the drug
_DOUBLE_NEG = re.compile(
    r"^\s*(?:delay|delaying|withhold|withholding|hesitate|wait|forget|omit|miss|exceed|exceeding|more\s+than|"
    r"longer\s+than)\b",
    re.IGNORECASE,
)
_LIMIT_VERB = re.compile(r"\b(?:delay|withhold|hesitate|wait|forget|omit|miss|exceed)\w*\s*$", re.IGNORECASE)
_THAN = re.compile(r"\s*than\b", re.IGNORECASE)
_NEG_AFTER = re.compile(
    r"^[^.;!?\n]{0,40}?\b(?:is|are|was|were|be|being)?\s*(?:not|never)\s+(?:recommended|indicated|needed|necessary|"
    r"required|advised|appropriate|effective|first[\s-]?line|helpful|useful|warranted|used|given|prescribed|safe)\b"
    r"|^[^.;!?\n]{0,40}?\b(?:is|are)\s+(?:contraindicated|unnecessary|ineffective|inappropriate|not\b)"
    r"|^[^.;!?\n]{0,40}?\bshould\s+(?:not|never)\s+be\b"
    r"|^[^.;!?\n]{0,40}?\bshould\s+be\s+avoided\b"
    r"|^[^.;!?\n]{0,30}?\b(?:do|does|will)\s+not\s+(?:help|work|treat|cure)\b",
    re.IGNORECASE,
)
_MAX_WORDS_BETWEEN = 6


@lru_cache(maxsize=32)
def _clause_breaks(text: str) -> tuple[list[int], list[int]]:
    spans = [m.span() for m in _CLAUSE_BREAK.finditer(text)]
    return [a for a, _ in spans], [b for _, b in spans]


@lru_cache(maxsize=32)
def _scan_cached(text: str) -> WarningContext:
    return scan(text)


def _clause_negated(text: str, start: int, end: int) -> bool:
    """Plain negation of text[start:end] in its clause: a negation word at most six words before it
    ("no antibiotics", "not amoxicillin"), or a negated predicate after it ("... are not needed")."""
    # clause start: the end of the last break before the mention
    starts, ends = _clause_breaks(text)
    i = bisect.bisect_right(starts, start - 1) - 1
    clause_start = 0
    while i >= 0:
        if ends[i] <= start:
            clause_start = ends[i]
            break
        i -= 1
    before = text[clause_start:start]
    for m in _NEG_BEFORE.finditer(before):
        between = before[m.end():]
        if len(between.split()) > _MAX_WORDS_BETWEEN:
            continue
        if _DOUBLE_NEG.match(between):
            continue
        return True
    return bool(_NEG_AFTER.match(text[end:]))


def is_negated(text: str, start: int, end: int) -> bool:
    """Whether the mention text[start:end] is negated or warned against, i.e. not a recommendation.

    ``is_negated("Do not use amoxicillin.", 11, 22)`` is True; ``is_negated("Do not delay
    epinephrine.", 13, 24)`` is False (the cue negates the delay, not the drug).
    """
    if _clause_negated(text, start, end):
        return True
    cue = _scan_cached(text).cue_for(start, end)
    if cue is None:
        return False
    between = text[cue.end:start]
    if cue.kind == "pre" and (_DOUBLE_NEG.match(between) or _LIMIT_VERB.search(cue.text) or _THAN.match(between)):
        return False
    return True


# --- symptom denial (red_flags) --------------------------------------------------------------------
#: "denies chest pain", "no stiff neck", "negative for ...": searched in the text just before a symptom.
DENIAL_BEFORE = re.compile(
    r"\b(?:no|denies|denied|denying|without|not|negative for|absence of|free of|never had|ruled out)\b[^.?!;\n]{0,20}$",
    re.IGNORECASE,
)
