"""The answer-side rule signals run while an answer streams, one sentence at a time.

``IncrementalRules(question, patient, history)`` takes the answer as it streams (``feed(text)`` with the new text)
and, at each completed sentence, parses only that sentence for ``medication_safety`` and
``guideline_consistency``, adds what it found to what earlier sentences gave, and re-draws the two signals
from the whole set (a cheap step: the checks on the mentions, not the text scans). ``finish()`` parses the
unfinished last sentence and returns the two signals; they equal one full run of the pipeline on the whole
answer (``assess_one("medication_safety", ...)`` and ``assess_one("guideline_consistency", ...)``) with the
same ``SignalContext`` (``history``: the conversation's earlier turns, (question, answer) oldest first; a
follow-up that names no drug lists the findings on the drugs of the earlier question it follows up).

Why sentence by sentence is exact: a sentence ends at ``.``, ``!`` or ``?`` followed by white space, and
every scan these two signals make stops there. Drug names, doses, routes and frequencies are matched
within it (a dose belongs to a drug of its own sentence, ``medication_parse._SENTENCE_END``); a warning or
negation cue governs only its own clause, and ``.``/``!``/``?`` end every clause (``negation._BOUNDARY``,
``_CLAUSE_BREAK``, ``_NEG_AFTER``); the look-behinds at a sentence's start see white space either way.
A later sentence that contradicts an earlier one ("Give ciprofloxacin. Actually, do not.") is read the
same way by the full run: negation does not cross sentences there either. The question's rules (which
guideline fires) and the patient's facts (current medications, allergies) are computed once.

Cut points are only taken where the sentence end is followed by white space, so an abbreviation such as
"b.i.d." is never split.

API for a view that streams an answer (the clinician's window; call from any one thread, not concurrently):

    inc = IncrementalRules(question, patient, history)  # once per answer: packs, patient facts, question screening
    for token in stream:
        signals = inc.feed(token.text)             # None, or [medication_safety, guideline_consistency]
        if signals is not None:                    # a sentence just ended: redraw both chips/panels
            show(signals)
    final = inc.finish()                           # equals pipeline.assess_one(...) on the whole answer

``feed`` does the work of the new sentence(s) only (parse, then re-draw from the accumulated mentions:
about the cost of one final run spread over the answer; ``bench/bench_signals.py`` reports the ratio).
Evidence offsets index into ``inc.text`` (the answer so far); evidence with target "question" (drugs the
question proposes, rule ``question_*``) indexes into the question. ``inc.sentences`` counts the parsed
sentences. ``signals()`` re-draws without new text. The question-stage screening (before any token) is
``pipeline.assess_question``, which adds a ``medication_safety`` signal when the question proposes a drug.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Iterable

from ..records.patient import PatientContext
from ..records.signal import Signal
from . import guidelines, medication_safety
from .formulary import load_knowledge

__all__ = ["IncrementalRules", "SIGNALS", "sentence_cuts"]

SIGNALS = (medication_safety.NAME, guidelines.NAME)
_CUT = re.compile(r"[.!?](?=\s)")


def sentence_cuts(text: str, start: int = 0) -> list[int]:
    """Offsets just after each sentence end of ``text[start:]`` that is followed by white space."""
    return [m.end() for m in _CUT.finditer(text, start)]


def _shift_frequency(f, off: int):
    return None if f is None else dataclasses.replace(f, start=f.start + off, end=f.end + off)


def _shift_mention(m, off: int):
    if off == 0:
        return m
    doses = tuple(dataclasses.replace(d, start=d.start + off, end=d.end + off, frequency=_shift_frequency(d.frequency, off))
                  for d in m.doses)
    routes = tuple(dataclasses.replace(r, start=r.start + off, end=r.end + off) for r in m.routes)
    freqs = tuple(_shift_frequency(f, off) for f in m.frequencies)
    return dataclasses.replace(m, start=m.start + off, end=m.end + off, doses=doses, routes=routes, frequencies=freqs)


def _shift_cue(c, off: int):
    return None if c is None or off == 0 else dataclasses.replace(c, start=c.start + off, end=c.end + off)


class IncrementalRules:
    """``medication_safety`` and ``guideline_consistency`` over a streaming answer (see the module doc)."""

    def __init__(self, question: str, patient: PatientContext | None = None,
                 history: Iterable[tuple[str, str]] = ()):
        self.question = question
        self.patient = patient or PatientContext()
        self.history = tuple(history or ())  # the conversation's earlier turns, (question, answer) oldest first
        self._k = load_knowledge()
        self._facts = medication_safety.patient_facts(self.patient, self._k, question)
        # drugs the question proposes (a follow-up naming none: those of the earlier question it follows up)
        self._q_evidence = medication_safety.question_evidence(self._k, self._facts, self.history)
        self._gp = guidelines.load_rules()
        self._fired = guidelines.fired_rules(question, self.patient, self._gp)
        self._text = ""
        self._done = 0  # text[:_done] is parsed
        self._mentioned: list = []
        self._memo: dict = {}  # per-mention results of medication_safety (finished sentences never change)
        self._spans = [([], []) for _ in self._fired]
        self.sentences = 0

    @property
    def text(self) -> str:
        return self._text

    def _parse(self, end: int) -> None:
        start = self._done
        if end <= start:
            return
        chunk = self._text[start:end]
        for m, cue in medication_safety.answer_mentions(chunk, self._facts.patient.weight_kg, self._k, self._facts.extras.bsa):
            self._mentioned.append((_shift_mention(m, start), _shift_cue(cue, start)))
        if self._fired:
            for (exp, dis), (e2, d2) in zip(self._spans, guidelines.answer_spans(self._fired, chunk, start)):
                exp.extend(e2)
                dis.extend(d2)
        self._done = end
        self.sentences += 1

    def feed(self, new_text: str) -> list[Signal] | None:
        """Append streamed text; when it completes one or more sentences, parse them and return the two
        signals for the answer so far (sentence-complete part), else None."""
        before = len(self._text)
        self._text += new_text
        # a sentence end needs the white space after it: look from one character before the new text
        cuts = sentence_cuts(self._text, max(self._done, before - 1))
        if not cuts:
            return None
        for cut in cuts:
            self._parse(cut)
        return self.signals(self._text[: self._done])

    def finish(self) -> list[Signal]:
        """Parse what is left and return the two signals for the whole answer (equal to a full run)."""
        self._parse(len(self._text))
        return self.signals(self._text)

    def signals(self, answer: str | None = None) -> list[Signal]:
        """The two signals from what has been parsed so far (``answer``: the text their evidence cites)."""
        answer = self._text if answer is None else answer
        med = medication_safety.conclude(self._k, answer, self._facts, self._mentioned, self._memo)
        if self._q_evidence:
            med = dataclasses.replace(med, evidence=med.evidence + self._q_evidence)
        if self._fired:
            guide = guidelines.conclude(self._gp, self.question, answer, self._fired, self._spans)
        else:
            guide = Signal(guidelines.NAME, "not_assessed", "No guideline rule in the pack applies to this question.",
                           self._gp.pack.ref)
        return [med, guide]

    @classmethod
    def run(cls, question: str, patient: PatientContext | None, pieces: Iterable[str],
            history: Iterable[tuple[str, str]] = ()) -> list[Signal]:
        """Feed every piece (e.g. streamed tokens) and return ``finish()``."""
        inc = cls(question, patient, history)
        for piece in pieces:
            inc.feed(piece)
        return inc.finish()
