"""Find drug mentions and their doses, units, routes and frequencies in free clinical text.

``parse_text(text, weight_kg=None)`` returns one :class:`MedicationMention` per drug name found
(generic, brand or synonym from the formulary pack; case-insensitive, whole words, multi-word and
combination names such as "trimethoprim/sulfamethoxazole"), each with the doses, routes and frequency
phrases that belong to it and the computed single and daily dose, all with character offsets.

Handled phrases include "1000 mg every 4 hours", "1 g q6h", "two 500 mg tablets four times a day",
"0.5 mg/kg/day", "40 mEq IV push", "once weekly", "10 mg daily", "BID/TID/QID", "every 12 hours",
"at bedtime", "4 g/day". Doses stated as a threshold ("doses above 4 g", "do not exceed 3 g") are
marked ``threshold`` so checks can skip them; lab values and rates ("mg/dL", "mEq/L", "units/hour")
are not doses.

All regular expressions are compiled once per process; drug names are matched by one trie-shaped
alternation built from the formulary.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Sequence

from .formulary import Knowledge, load_knowledge, normalize_name
from .negation import fold, literal_first, word_start
from .units import ALIAS_PATTERN, CANONICAL, unit_of

# --- value objects -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Frequency:
    start: int
    end: int
    text: str
    per_day: float | None  # administrations per day (weekly -> 1/7); None for one-time / as needed
    weekly: bool = False
    one_time: bool = False


@dataclass(frozen=True)
class Route:
    start: int
    end: int
    text: str
    route: str  # oral, iv, iv_push, im, subcut, intrathecal, ...


@dataclass(frozen=True)
class Dose:
    start: int
    end: int
    text: str
    amount: float  # stated amount x tablet count, upper end of a range, canonical unit
    unit: str  # canonical (units.CANONICAL_UNITS): mg | units | mEq | mmol
    per_kg: bool
    per_day_total: bool  # the amount is a daily total ("4 g/day", "75 mg/kg/day")
    threshold: bool  # stated as a limit/threshold ("above 4 g", "do not exceed"), not a dose to give
    frequency: Frequency | None
    single: float | None  # per administration (absolute, canonical unit) when known
    daily: float | None  # per day (absolute) when known
    single_per_kg: float | None = None
    daily_per_kg: float | None = None
    count: float = 1.0  # tablets per administration (upper end of "1-2 tablets")
    strength: float | None = None  # stated strength per tablet (canonical unit), amount = count x strength
    per_m2: bool = False  # "1.4 mg/m2": amount is per square metre of body surface area
    phase: str | None = None  # "loading" | "maintenance" when the text says so
    cap: bool = False  # a stated limit ("maximum 4 g per day", "not to exceed", "capped at 2 mg"), with threshold=True
    n_doses: int | None = None  # "for 2 doses": the regimen stops after n administrations
    duration_days: float | None = None  # "for 5 days", "for 6 months"


@dataclass(frozen=True)
class MedicationMention:
    generic: str  # formulary generic name, or "class:NAME" for a class term
    start: int
    end: int
    text: str
    doses: tuple[Dose, ...] = ()
    routes: tuple[Route, ...] = ()
    frequencies: tuple[Frequency, ...] = ()
    item: int = -1  # index in a medication list (parse_medication_list), else -1

    @property
    def is_class(self) -> bool:
        """A class term ("NSAIDs", "nitrates"): ``generic`` is then "class:NAME"."""
        return self.generic.startswith("class:")

    @property
    def route_names(self) -> frozenset[str]:
        return frozenset(r.route for r in self.routes)


# --- patterns ---------------------------------------------------------------------------------------

_SEP_TOKEN = "\x00"
_NUM = r"(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+(?:\.\d+)?|\.\d+)"
_WORD_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "once": 1, "twice": 2, "thrice": 3,
                 "a": 1, "an": 1, "half": 0.5}
_PER_DAY = r"(?:day|d|24\s*h(?:ours?|rs?)?|24-hours?)"

# matched at the start of each number in fold(text); a tablet count before it is read by _COUNT
_DOSE = re.compile(
    r"(?P<lo>" + _NUM + r")\s*(?:(?:-|–|to)\s*(?P<hi>" + _NUM + r")\s*)?"
    r"(?P<unit>" + ALIAS_PATTERN + r")(?![\w%])"
    r"(?:\s*(?:/|per)\s*(?:(?P<kg>kg)\b|(?P<m2>m2|m²|m\^2|sq(?:uare)?\.?\s*m(?:et(?:er|re)s?)?)(?![\w])))?"
    r"(?:\s*(?:/|per|a|each|in(?:\s+a)?)\s*(?P<per>" + _PER_DAY + r"|dose)\b)?",
)
_UNIT_FORM = r"(?:tablets?|tabs?|caplets?|capsules?|caps?|pills?|sachets?|suppositor(?:y|ies)|puffs?|patch(?:es)?)"
_COUNT_WORD = r"(?:one|two|three|four|five|six)"
_COUNT = re.compile(
    r"(?:(?<![a-z])(?:" + _COUNT_WORD + r"\s+(?:to|or|-)\s+)?(?P<cw>" + _COUNT_WORD + r")\s+(?:" + _UNIT_FORM + r"\s+(?:of\s+)?)?"
    r"|(?<![\d.])(?:\d+\s*(?:-|–|to|or)\s*)?(?P<cd>\d+)\s*(?:[x×]\s*|" + _UNIT_FORM + r"\s+(?:of\s+)?))$")
_NUMBER_START = re.compile(r"[0-9]+")
# a count after the strength: "325 mg, 2 tablets", "500 mg x 2 tablets"
_COUNT_AFTER = re.compile(r"\s*(?:,\s*(?:take\s+)?|x\s*|×\s*)?(?:(?:[1-6]|one|two|three)\s*(?:-|–|to|or)\s*)?(?P<n>[1-6]|one|two|three|four|five|six)\s+"
                          + _UNIT_FORM + r"\b")
_NOT_A_DOSE = re.compile(r"\s*(?:/|per)\s*(?:dl|l|ml|min(?:ute)?s?|h|hr|hours?|(?:kg|m2)\s*/\s*(?:min|h|hr|hour))\b", re.IGNORECASE)
# a stated limit: the dose after it is a cap on what is given, not a dose to give
_CAP = re.compile(r"(?:not\s+to\s+exceed|do\s+not\s+exceed|don't\s+exceed|not\s+exceeding|no\s+more\s+than|maximum(?:\s+(?:dose\s+)?of)?|max\.?(?:\s+of)?|"
                  r"capped\s+at|limit(?:ed)?\s+(?:it\s+)?to|up\s+to\s+a\s+(?:total|maximum)\s+of|at\s+most|total\s+of\s+no\s+more\s+than)\s*:?\s*$", re.IGNORECASE)
_CAP_AFTER = re.compile(r"\s*(?:(?:per|a|/)\s*(?:day|24\s*h(?:ours?)?)\s*)?(?:at\s+(?:the\s+)?most|maximum|max)\b", re.IGNORECASE)
_LOADING = re.compile(r"\b(?:loading|load|bolus|initial\s+dose|first\s+dose|stat)\b", re.IGNORECASE)
_MAINTENANCE = re.compile(r"\b(?:maintenance|then|thereafter|long[-\s]term|ongoing)\b", re.IGNORECASE)
_N_DOSES = re.compile(r"\s*(?:for|x|×)\s*(?P<n>\d+|one|two|three|four|five|six)\s+(?:more\s+|further\s+)?doses?\b", re.IGNORECASE)
_DURATION = re.compile(r"\bfor\s+(?:(?:up\s+to|about|another|a\s+further)\s+)?(?P<n>\d+(?:\.\d+)?|a|an|one|two|three|four|five|six)\s*(?P<u>days?|weeks?|months?|years?)\b",
                       re.IGNORECASE)
_DURATION_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}
_PHASE_CUT = re.compile(r"\bthen\b|[;.]\s")
_LOAD_AFTER = re.compile(r"\b(?:as\s+(?:a\s+)?)?load(?:ing)?\b")
_MAINT_AFTER = re.compile(r"\bmaintenance\b")
_THRESHOLD = re.compile(
    r"(?:above|over|more\s+than|greater\s+than|exceed(?:s|ed|ing)?|in\s+excess\s+of|beyond|>=?|≥|overdose(?:s)?\s+of|toxic(?:ity)?\s+(?:at|above)|"
    r"higher\s+than|not\s+to\s+exceed|no\s+more\s+than|maximum(?:\s+(?:dose\s+)?of)?|max\.?(?:\s+of)?|capped\s+at|limit(?:ed)?\s+(?:it\s+)?to|"
    r"up\s+to\s+a\s+(?:total|maximum)\s+of|at\s+most)\s*:?\s*(?:of\s+|a\s+total\s+of\s+)?\s*$",
    re.IGNORECASE,
)

_WEEKDAYS = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)s?"
_WEEKLY = [r"once[\s-]+(?:a\s+|per\s+|each\s+|every\s+)?week(?:ly)?", r"(?:every|each|per|a)\s+week", r"weekly",
           r"q\s*(?:1\s*)?w(?:ee)?k", r"every\s+7\s+days", r"/\s*(?:week|wk)", r"(?:every|each|on)\s+" + _WEEKDAYS]
_EVERY_N = [r"every\s+\d+\s+(?:days?|weeks?|months?)"]
_TIMES_TAIL = r"(?:\s*(?:times?|x))?\s*(?:(?:a|per|each|/)\s*day|daily|(?:in|per|every)\s+24\s*(?:h|hours?))"
_NTIMES = [r"(?:once|twice|thrice|one|two|three|four|five|six)" + _TIMES_TAIL, r"\d+" + _TIMES_TAIL]
_HOUR_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "six": 6, "eight": 8, "twelve": 12, "twenty-four": 24}
_HW = r"(?:\d+|one|two|three|four|six|eight|twelve)"
_QH = [r"(?:every|q)\s*" + _HW + r"\s*(?:(?:-|–|to|or)\s*" + _HW + r"\s*)?(?:h|hr|hrs|hours?)", r"(?:every|each)\s+hour", r"hourly", r"q\.?\s*h(?![a-z])"]
_ABBR = [r"b\.?i\.?d\.?", r"t\.?i\.?d\.?", r"q\.?i\.?d\.?"]
_QOD = [r"every\s+other\s+day", r"q\.?o\.?d", r"alternate\s+days"]
_MONTHLY = [r"monthly", r"every\s+month", r"once\s+a\s+month"]
_ONCE = [r"single\s+dose", r"one[\s-]+time(?:\s+dose)?", r"once\s+only", r"stat", r"x\s*1", r"as\s+a\s+single\s+dose"]
_DAILY = [r"daily", r"every\s+day", r"each\s+day", r"nightly", r"at\s+bedtime", r"at\s+night", r"q\.?d", r"o\.?d", r"q\.?h\.?s",
          r"q\.?am", r"q\.?pm", r"every\s+(?:morning|evening|night)", r"in\s+the\s+(?:morning|evening)", r"once\s+(?:a|per)\s+day"]
# classification (full match on the found phrase), in priority order
_FREQ = re.compile(
    r"(?P<weekly>(?:" + "|".join(_WEEKLY) + r"))"
    r"|(?P<everyn>every\s+(?P<en>\d+)\s+(?P<eu>day|week|month)s?)"
    r"|(?P<ntimes>(?P<n>once|twice|thrice|one|two|three|four|five|six|\d+)" + _TIMES_TAIL + ")"
    r"|(?P<qh>(?:every|q)\s*(?P<h1>" + _HW + r")\s*(?:(?:-|–|to|or)\s*(?P<h2>" + _HW + r")\s*)?(?:h|hr|hrs|hours?))"
    r"|(?P<hourly>(?:every|each)\s+hour|hourly|q\.?\s*h)"
    r"|(?P<bid>b\.?i\.?d\.?)|(?P<tid>t\.?i\.?d\.?)|(?P<qid>q\.?i\.?d\.?)"
    r"|(?P<qod>" + "|".join(_QOD) + r")|(?P<monthly>" + "|".join(_MONTHLY) + r")|(?P<once>" + "|".join(_ONCE) + r")"
    r"|(?P<daily>" + "|".join(_DAILY) + r")",
    re.IGNORECASE,
)
_FREQ_FIND = re.compile(literal_first(_WEEKLY + _EVERY_N + _NTIMES + _QH + _ABBR + _QOD + _MONTHLY + _ONCE + _DAILY, r"(?!\w)"))
_ROUTE_ALTS: list[tuple[str, list[str]]] = [
    ("iv_push", [r"(?:iv|i\.v\.|intravenous(?:ly)?)\s*(?:push|bolus)", r"(?:push|bolus)\s+(?:iv|intravenous(?:ly)?)",
                 r"rapid\s+(?:iv|intravenous)", r"ivp", r"(?:by|as\s+an?)\s+(?:iv\s+|intravenous\s+)?(?:push|bolus)"]),
    ("intrathecal", [r"intrathecal(?:ly)?", r"into\s+the\s+(?:csf|spinal\s+canal)"]),
    ("intra-arterial", [r"intra-?arterial(?:ly)?"]),
    ("epidural", [r"epidural(?:ly)?"]),
    ("iv", [r"(?:iv|i\.v\.|intravenous(?:ly)?|infusion|infuse[ds]?|drip)"]),
    ("im", [r"(?:im|i\.m\.|intramuscular(?:ly)?)"]),
    ("subcut", [r"(?:subcutaneous(?:ly)?|sub-?cut(?:aneous)?|subq|s\.?c|sq)"]),
    ("oral", [r"(?:oral(?:ly)?|by\s+mouth|p\.?o)"]),
    ("sublingual", [r"sublingual(?:ly)?"]),
    ("rectal", [r"(?:rectal(?:ly)?|suppository)"]),
    ("transdermal", [r"(?:transdermal(?:ly)?|patch)"]),
    ("inhaled", [r"(?:inhaled|nebuli[sz]ed|inhaler)"]),
    ("intranasal", [r"(?:intranasal(?:ly)?|nasal\s+spray)"]),
    ("topical", [r"topical(?:ly)?"]),
]
_ROUTE_FIND = re.compile(literal_first([alt for _, alts in _ROUTE_ALTS for alt in alts], r"(?!\w)"))
_ROUTE_CLASSIFY = [(name, re.compile("|".join(alts))) for name, alts in _ROUTE_ALTS]
_SENTENCE_END = re.compile(r"(?<!\d)\.|\.(?!\d)|[;!?\n]")


def _trie_pattern(names: Iterable[str]) -> str:
    trie: dict = {}
    for name in names:
        node = trie
        for ch in re.sub(r"[\s\-/]+", _SEP_TOKEN, name.lower()):
            node = node.setdefault(ch, {})
        node[""] = {}

    def tok(ch: str) -> str:
        return r"[\s\-/]+" if ch == _SEP_TOKEN else re.escape(ch)

    def build(node: dict) -> str:
        alts = [tok(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return "(?:" + body + ")?" if "" in node else body

    return build(trie)


@lru_cache(maxsize=4)
def _name_regex(knowledge: Knowledge) -> re.Pattern[str]:
    return re.compile(_trie_pattern(knowledge.names) + r"(?!\w)")  # run on fold(text); left edge checked by the caller


def _num(s: str) -> float:
    return float(s.replace(",", ""))


# --- scanning ---------------------------------------------------------------------------------------


def _left_ok(low: str, i: int) -> bool:
    return word_start(low, i) and (i == 0 or low[i - 1] != ".")


def find_drugs(text: str, knowledge: Knowledge | None = None, low: str | None = None) -> list[MedicationMention]:
    """Drug-name mentions (no doses attached)."""
    k = knowledge or load_knowledge()
    low = fold(text) if low is None else low
    out = []
    for m in _name_regex(k).finditer(low):
        if not _left_ok(low, m.start()):
            continue
        generic = k.names.get(normalize_name(m.group(0)))
        if generic:
            out.append(MedicationMention(generic, m.start(), m.end(), text[m.start():m.end()]))
    return out


def find_frequencies(text: str, low: str | None = None) -> list[Frequency]:
    low = fold(text) if low is None else low
    out = []
    for f in _FREQ_FIND.finditer(low):
        if f.group(0)[0].isalnum() and not word_start(low, f.start()):
            continue
        m = _FREQ.fullmatch(f.group(0))
        if m is None:
            continue
        g = m.lastgroup if m.lastgroup not in ("n", "h1", "h2", "en", "eu") else next(k for k in ("ntimes", "qh", "everyn") if m.group(k))
        s, e, t = f.start(), f.end(), text[f.start():f.end()]
        if g == "weekly":
            out.append(Frequency(s, e, t, 1 / 7, weekly=True))
        elif g == "everyn":
            n = int(m.group("en"))
            days = n * _DURATION_DAYS[m.group("eu").lower()]
            if days > 0:
                out.append(Frequency(s, e, t, 1 / days, weekly=days >= 7))
        elif g == "ntimes":
            n = m.group("n").lower()
            out.append(Frequency(s, e, t, float(_WORD_NUMBERS.get(n) or int(n))))
        elif g == "qh":
            h1, h2 = m.group("h1").lower(), (m.group("h2") or m.group("h1")).lower()
            hours = min(_HOUR_WORDS.get(h1) or int(h1), _HOUR_WORDS.get(h2) or int(h2))
            if hours > 0:
                out.append(Frequency(s, e, t, 24 / hours))
        elif g == "hourly":
            out.append(Frequency(s, e, t, 24.0))
        elif g in ("bid", "tid", "qid"):
            out.append(Frequency(s, e, t, {"bid": 2.0, "tid": 3.0, "qid": 4.0}[g]))
        elif g == "qod":
            out.append(Frequency(s, e, t, 0.5))
        elif g == "monthly":
            out.append(Frequency(s, e, t, 1 / 30))
        elif g == "once":
            out.append(Frequency(s, e, t, None, one_time=True))
        elif g == "daily":
            out.append(Frequency(s, e, t, 1.0))
    return out


def find_routes(text: str, low: str | None = None) -> list[Route]:
    low = fold(text) if low is None else low
    out = []
    for m in _ROUTE_FIND.finditer(low):
        if not word_start(low, m.start()):
            continue
        name = next((n for n, rx in _ROUTE_CLASSIFY if rx.fullmatch(m.group(0))), None)
        if name:
            out.append(Route(m.start(), m.end(), text[m.start():m.end()], name))
    return out


@dataclass(frozen=True)
class _RawDose:
    start: int
    end: int
    text: str
    amount: float
    unit: str
    per_kg: bool
    per: str | None  # "day" | "dose" | None
    threshold: bool
    count: float = 1.0
    per_m2: bool = False
    cap: bool = False


def find_raw_doses(text: str, low: str | None = None) -> list[_RawDose]:
    low = fold(text) if low is None else low
    out: list[_RawDose] = []
    last_end = -1
    for run in _NUMBER_START.finditer(low):
        start = run.start()
        if start < last_end:
            continue
        if start > 0 and low[start - 1] in ".,":
            if start > 1 and low[start - 2].isdigit():
                continue  # the tail of "1,000" or "2.5"
            if low[start - 1] == ".":
                start -= 1  # ".5 mg"
        if start > 0 and (low[start - 1].isalpha() or low[start - 1] == "_"):
            continue  # "b12", "x2" ...
        m = _DOSE.match(low, start)
        if m is None:
            continue
        if _NOT_A_DOSE.match(low, m.end()) and not m.group("per"):
            continue
        unit = unit_of(m.group("unit"))
        if unit is None:
            continue
        last_end = m.end()
        canon, factor = CANONICAL[unit]
        amount = max(_num(m.group("lo")), _num(m.group("hi") or "0")) * factor
        begin = m.start()
        c = _COUNT.search(low, max(0, begin - 28), begin)
        count = 1
        if c:
            count = _WORD_NUMBERS.get(c.group("cw") or "") or int(c.group("cd") or 1)
            begin = c.start()
        end = m.end()
        if not m.group("per"):
            after = _COUNT_AFTER.match(low, end)
            if after and count == 1:
                count = _WORD_NUMBERS.get(after.group("n")) or int(after.group("n"))
                end = after.end()
        amount *= count
        per = m.group("per")
        per = None if per is None else ("dose" if per == "dose" else "day")
        threshold = bool(_THRESHOLD.search(low, max(0, begin - 40), begin))
        cap = bool(_CAP.search(low, max(0, begin - 40), begin)) or bool(_CAP_AFTER.match(low, end))
        out.append(_RawDose(begin, end, text[begin:end], amount, canon, bool(m.group("kg")), per, threshold or cap, count,
                            bool(m.group("m2")), cap))
    return out


def _sentence_spans(text: str) -> list[int]:
    """Start offsets of sentences (sorted)."""
    return [0] + [m.end() for m in _SENTENCE_END.finditer(text)]


def _build_dose(raw: _RawDose, freq: Frequency | None, weight_kg: float | None, low: str = "", clause: int = 0,
                bsa: float | None = None) -> Dose:
    per_day = freq.per_day if freq else None
    tail_end = max(raw.end, freq.end if freq and freq.start >= raw.end else raw.end)
    n_doses = None
    nd = _N_DOSES.match(low, tail_end) if low else None
    if nd:
        n_doses = int(_WORD_NUMBERS.get(nd.group("n").lower()) or int(nd.group("n")))
        if per_day is not None and per_day > n_doses:
            per_day = float(n_doses)  # "0.25 mg every 6 hours for 2 doses": two doses in all
    single = daily = None
    if raw.per == "day":
        daily = raw.amount
        if per_day and not (freq and freq.weekly) and per_day >= 1:
            single = daily / per_day
    else:
        single = raw.amount
        if freq and freq.one_time:
            daily = single
        elif per_day is not None:
            daily = single * per_day
    single_pk = daily_pk = None
    if raw.per_kg:
        single_pk, daily_pk = single, daily
        if weight_kg:
            single = None if single is None else single * weight_kg
            daily = None if daily is None else daily * weight_kg
        else:
            single = daily = None
    elif raw.per_m2:  # single_pk/daily_pk hold the per-m2 amounts; absolute only with a body surface area
        single_pk, daily_pk = single, daily
        if bsa:
            single = None if single is None else single * bsa
            daily = None if daily is None else daily * bsa
        else:
            single = daily = None
    phase = duration = None
    if low:
        before = low[clause:raw.start]
        window = low[raw.start:min(len(low), tail_end + 40)]
        cut = _PHASE_CUT.search(window)
        after = window[: cut.start()] if cut else window
        if _LOADING.search(before[-60:]) or _LOAD_AFTER.search(after):
            phase = "loading"
        elif _MAINTENANCE.search(before[-60:]) or _MAINT_AFTER.search(after):
            phase = "maintenance"
        dm = _DURATION.search(after)
        if dm:
            n = dm.group("n").lower()
            duration = float(_WORD_NUMBERS.get(n) or float(n)) * _DURATION_DAYS[dm.group("u").lower().rstrip("s")]
    strength = raw.amount / raw.count if raw.count and raw.count != 1 else None
    return Dose(raw.start, raw.end, raw.text, raw.amount, raw.unit, raw.per_kg, raw.per == "day", raw.threshold, freq,
                single, daily, single_pk, daily_pk, raw.count, strength, raw.per_m2, phase, raw.cap, n_doses, duration)


def parse_text(text: str, weight_kg: float | None = None, knowledge: Knowledge | None = None, *, item: int = -1,
               bsa: float | None = None) -> list[MedicationMention]:
    """Drug mentions with their doses, routes and frequencies. Doses/routes/frequencies belong to the
    nearest preceding drug name in the same sentence (or, if none precedes, the next one)."""
    k = knowledge or load_knowledge()
    low = fold(text)
    drugs = find_drugs(text, k, low)
    if not drugs:
        return []
    raw_doses = find_raw_doses(text, low)
    freqs = find_frequencies(text, low)
    routes = find_routes(text, low)
    sentences = _sentence_spans(text)
    drug_starts = [d.start for d in drugs]

    def owner(pos: int) -> int | None:
        sent = sentences[bisect.bisect_right(sentences, pos) - 1]
        i = bisect.bisect_right(drug_starts, pos) - 1
        if i >= 0 and drugs[i].start >= sent:
            return i
        j = i + 1
        if j < len(drugs):
            nxt = bisect.bisect_right(sentences, drugs[j].start) - 1
            if sentences[nxt] == sent:
                return j
        return None

    mine_d: list[list[_RawDose]] = [[] for _ in drugs]
    mine_f: list[list[Frequency]] = [[] for _ in drugs]
    mine_r: list[list[Route]] = [[] for _ in drugs]
    for rd in raw_doses:
        o = owner(rd.start)
        if o is not None:
            mine_d[o].append(rd)
    for f in freqs:
        o = owner(f.start)
        if o is not None:
            mine_f[o].append(f)
    for r in routes:
        o = owner(r.start)
        if o is not None:
            mine_r[o].append(r)

    out = []
    for i, d in enumerate(drugs):
        ds, fs = mine_d[i], mine_f[i]
        doses = []
        for j, rd in enumerate(ds):
            nxt = ds[j + 1].start if j + 1 < len(ds) else len(text)
            prev = ds[j - 1].end if j > 0 else -1
            freq = next((f for f in fs if rd.end <= f.start < nxt), None)
            if freq is None:
                freq = next((f for f in reversed(fs) if prev <= f.start and f.end <= rd.start), None)
            sent = sentences[bisect.bisect_right(sentences, rd.start) - 1]
            clause = max(sent, d.start if d.start <= rd.start else sent)
            doses.append(_build_dose(rd, freq, weight_kg, low, clause, bsa))
        out.append(MedicationMention(d.generic, d.start, d.end, d.text, tuple(doses), tuple(mine_r[i]), tuple(fs), item))
    return out


def parse_medication_list(items: Sequence[str], weight_kg: float | None = None, knowledge: Knowledge | None = None) -> list[MedicationMention]:
    """Parse a patient's medication list ("warfarin 5 mg daily", "Lipitor 40 mg"); offsets are within each item."""
    k = knowledge or load_knowledge()
    out: list[MedicationMention] = []
    for i, item in enumerate(items):
        out.extend(parse_text(item, weight_kg, k, item=i))
    return out
