"""``reasoning_consistency``: does the final answer say what the reasoning concluded?

Checks, in order of severity:

- multiple choice: the option letter chosen in the answer differs from the letter the reasoning
  concluded with -> ``alert``;
- the answer recommends a drug that the reasoning warned against or ruled out -> ``alert``;
- the reasoning's conclusion names drugs and the answer names only other drugs -> ``caution``;
- a reasoning model (``ctx.expects_reasoning``) produced no reasoning -> ``caution``;
- a plain-format model with no reasoning -> ``not_assessed``.

Drug names are recognised from the guideline pack's agent terms, the formulary pack when one is
installed, and International Nonproprietary Name stems (``-pril``, ``-sartan``, ``-floxacin``...).
"""

from __future__ import annotations

import re
from functools import lru_cache

from .confidence import find_chosen_option, question_options
from .guidelines import load_rules
from .negation import is_negated
from ..records.signal import LEVEL_RANK, Evidence, Signal, SignalContext

NAME = "reasoning_consistency"
SOURCE = "reasoning-rules@1"

# WHO INN stems of common drug classes; a word must be at least 6 letters to count.
_INN_STEMS = (
    "pril", "sartan", "olol", "alol", "dipine", "statin", "cillin", "cycline", "mycin", "micin", "floxacin",
    "conazole", "nidazole", "gliflozin", "gliptin", "glutide", "parin", "xaban", "gatran", "prazole", "tidine",
    "triptan", "setron", "lukast", "profen", "coxib", "dronate", "semide", "thiazide", "azepam", "zolam",
    "barbital", "oxetine", "pramine", "triptyline", "apine", "olone", "terol", "tropium", "formin", "glinide",
    "glitazone", "ciclovir", "navir", "tegravir", "buvir", "afil", "tinib", "ximab", "zumab", "umab", "caine",
)
_INN = re.compile(r"\b[a-z]{2,}(?:" + "|".join(_INN_STEMS) + r")\b", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z][A-Za-z\-]+")
_CONCLUSION_CUE = re.compile(
    r"\b(?:therefore|thus|hence|so\b|in conclusion|to conclude|overall|the answer|the best|best choice|"
    r"first[\s-]?line|i would (?:recommend|choose|give|start)|recommend(?:ed)?|should (?:be )?(?:start|give|use|prescribe)\w*|"
    r"the correct|the right|most appropriate|choose|go with|final)\b",
    re.IGNORECASE,
)
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")
# class words that are not a specific drug (matching them would make every answer "differ")
_GENERIC = frozenset({
    "antibiotic", "antibiotics", "steroid", "steroids", "drug", "drugs", "medication", "corticosteroid",
    "glucocorticoid", "antihistamine", "thiazide", "bisphosphonate", "benzodiazepine", "macrolide", "fluoroquinolone",
    "quinolone", "sulfonamide", "opioid", "triptan", "gepant", "thiazolidinedione", "antiplatelet", "anticoagulant",
    "anticoagulation", "analgesic", "decongestant",
    # non-drug measures that guideline rules list as acceptable answers
    "acupuncture", "massage", "hydration", "fluids", "symptomatic", "supportive", "observation", "observe",
    "exercise", "saline", "honey", "heat", "self-limiting", "self-limited",
})


@lru_cache(maxsize=1)
def drug_lexicon() -> dict[str, str]:
    """Lower-cased single-word drug name -> canonical name (formulary generic where the formulary knows it).

    Names come from the guideline pack's agent terms and, when installed, the formulary pack
    (generic names, brands, synonyms), so "Cipro" and "ciprofloxacin" count as the same drug.
    """
    names: dict[str, str] = {}
    for rule in load_rules().pack.entries:
        for group in (*rule["expected"], *rule["discouraged"]):
            for term in group["terms"]:
                if " " not in term and not term.isupper() and len(term) >= 5 and "-blocker" not in term.lower():
                    names[term.lower()] = term.lower()
    try:
        from .formulary import load_knowledge
    except ImportError:
        load_knowledge = None
    if load_knowledge is not None:
        for name, generic in load_knowledge().names.items():
            if " " not in name and len(name) >= 4:
                names[name] = generic
        for name in list(names):
            if names[name] == name:  # a guideline term the formulary also knows under that name
                names[name] = load_knowledge().names.get(name, name)
    for word in _GENERIC:
        names.pop(word, None)
    return names


def drug_mentions(text: str) -> list[tuple[str, int, int]]:
    """(canonical name, start, end) of every drug name in ``text``."""
    lex = drug_lexicon()
    out: dict[tuple[int, int], str] = {}
    for m in _WORD.finditer(text):
        w = m.group(0).lower().strip("-")
        if w in lex:
            out[m.span()] = lex[w]
        elif w.endswith("s") and w[:-1] in lex:
            out[m.span()] = lex[w[:-1]]
    for m in _INN.finditer(text):
        if len(m.group(0)) >= 6 and m.span() not in out:
            out[m.span()] = m.group(0).lower()
    return [(name, a, b) for (a, b), name in sorted(out.items())]


def _positive(text: str) -> dict[str, tuple[int, int]]:
    """Drugs mentioned without negation: name -> first span."""
    out: dict[str, tuple[int, int]] = {}
    for name, a, b in drug_mentions(text):
        if not is_negated(text, a, b):
            out.setdefault(name, (a, b))
    return out


def _negative(text: str) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for name, a, b in drug_mentions(text):
        if is_negated(text, a, b):
            out.setdefault(name, (a, b))
    return out


def conclusion_text(reasoning: str, steps: tuple[str, ...] = ()) -> str:
    """The part of the reasoning that states its conclusion: sentences with a concluding cue, else the last step."""
    sentences = [m.group(0).strip() for m in _SENTENCE.finditer(reasoning) if m.group(0).strip()]
    cued = [s for s in sentences if _CONCLUSION_CUE.search(s)]
    if cued:
        return " ".join(cued[-2:])
    if steps:
        return steps[-1]
    return sentences[-1] if sentences else ""


def assess(ctx: SignalContext) -> Signal:
    reasoning = (ctx.reasoning or "").strip()
    answer = ctx.answer or ""
    if not reasoning:
        if ctx.expects_reasoning:
            return Signal(NAME, "caution", "The reasoning model gave no reasoning, so its answer cannot be checked against it.", SOURCE)
        return Signal(NAME, "not_assessed", "This model does not show reasoning; nothing to compare the answer with.", SOURCE)
    if not answer.strip():
        return Signal(NAME, "caution", "The model reasoned but gave no final answer.", SOURCE)

    findings: list[tuple[str, str]] = []
    evidence: list[Evidence] = []

    options = question_options(ctx.question)
    if options:
        chosen = find_chosen_option(answer, options)
        concluded = find_chosen_option(reasoning, options, last=True)
        if chosen and concluded and chosen[0] != concluded[0]:
            letter, a, b = chosen
            findings.append(("alert", f"The answer chooses option {letter} but the reasoning concluded {concluded[0]}"))
            evidence.append(Evidence("answer", a, b, answer[a:b], "option_mismatch",
                                     f"reasoning concluded option {concluded[0]}: \"{_quote(reasoning, concluded[1])}\""))

    answer_pos = _positive(answer)
    reasoning_neg = _negative(reasoning)
    conclusion = conclusion_text(reasoning, ctx.reasoning_steps)
    concluded_pos = _positive(conclusion)
    against = {n: s for n, s in answer_pos.items() if n in reasoning_neg and n not in concluded_pos}
    for name, (a, b) in against.items():
        findings.append(("alert", f"The answer recommends {answer[a:b]}, which the reasoning warned against"))
        ra = reasoning_neg[name][0]
        evidence.append(Evidence("answer", a, b, answer[a:b], "drug_ruled_out",
                                 f"the reasoning argued against {name}: \"{_quote(reasoning, ra)}\""))
    if concluded_pos and answer_pos and not against and not set(answer_pos) & set(concluded_pos):
        a, b = next(iter(answer_pos.values()))
        findings.append(("caution", f"The answer names {', '.join(answer_pos)} but the reasoning concluded "
                                    f"{', '.join(concluded_pos)}"))
        evidence.append(Evidence("answer", a, b, answer[a:b], "drug_mismatch",
                                 f"the reasoning's conclusion names {', '.join(concluded_pos)}: \"{conclusion[:160]}\""))

    if not findings:
        compared = []
        if options:
            compared.append("option letter")
        if answer_pos or concluded_pos:
            compared.append("drugs named")
        what = " and ".join(compared) if compared else "conclusion"
        return Signal(NAME, "ok", f"The answer agrees with the reasoning ({what} checked).", SOURCE)
    findings.sort(key=lambda f: -LEVEL_RANK[f[0]])
    summary = findings[0][1] + ("." if len(findings) == 1 else f" (+{len(findings) - 1} more).")
    return Signal(NAME, findings[0][0], summary, SOURCE, evidence=tuple(evidence))


def _quote(text: str, pos: int, width: int = 70) -> str:
    """The sentence around ``pos``, shortened to about ``width`` characters each side."""
    start = max(text.rfind(".", 0, pos) + 1, pos - width, 0)
    end = text.find(".", pos)
    end = min(end + 1 if end >= 0 else len(text), pos + width)
    return " ".join(text[start:end].split())
