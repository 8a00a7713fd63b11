"""The pieces the rule-based signals share: units, pack sources, level ranking, mention negation."""

from __future__ import annotations

import re

import pytest

from safemed_desktop.records.signal import LEVEL_RANK, worst_level
from safemed_desktop.signals import formulary, medication_parse, units
from safemed_desktop.signals.negation import DENIAL_BEFORE, is_negated
from safemed_desktop.signals.packs import join_sources, normalize_sources


# ------------------------------------------------------------------------------------------- units
@pytest.mark.parametrize("spelling,unit", [
    ("mcg", "mcg"), ("ug", "mcg"), ("\u00b5g", "mcg"), ("\u03bcg", "mcg"), ("microgram", "mcg"), ("Micrograms", "mcg"),
    ("mg", "mg"), ("milligrams", "mg"), ("g", "g"), ("gm", "g"), ("grams", "g"),
    ("IU", "units"), ("unit", "units"), ("international  units", "units"),
    ("mEq", "mEq"), ("milliequivalents", "mEq"), ("mmol", "mmol"), ("millimole", "mmol"),
])
def test_unit_aliases(spelling, unit):
    assert units.unit_of(spelling) == unit


@pytest.mark.parametrize("spelling", ["ml", "mg/dL", "kg", "tablets", "micro"])
def test_non_dose_units_are_not_aliases(spelling):
    assert units.unit_of(spelling) is None


@pytest.mark.parametrize("value,unit,expected,canon", [
    (500, "mcg", 0.5, "mg"), (1, "g", 1000.0, "mg"), (250, "mg", 250.0, "mg"),
    (40, "mEq", 40.0, "mEq"), (5000, "units", 5000.0, "units"), (20, "mmol", 20.0, "mmol"),
])
def test_conversion_to_canonical_units(value, unit, expected, canon):
    assert units.to_canonical(value, unit) == pytest.approx(expected)
    assert units.canonical_unit(unit) == canon


def test_every_pack_unit_has_a_canonical_form_and_spelling():
    assert set(units.CANONICAL) == set(units.UNITS)
    assert {c for c, _ in units.CANONICAL.values()} == set(units.CANONICAL_UNITS)
    assert set(units.ALIASES.values()) == set(units.UNITS)


def test_alias_pattern_matches_whole_spellings_only():
    rx = re.compile(units.ALIAS_PATTERN + r"(?![\w%])")
    assert rx.fullmatch("international   units")
    assert rx.match("grams").group(0) == "grams"
    assert not rx.fullmatch("milli")


def test_formulary_and_parser_use_the_same_units():
    assert formulary.UNITS is units.UNITS
    assert formulary.Quantity(0.5, "g").canonical() == (500.0, "mg")
    assert formulary.Quantity(20, "mEq").canonical() == (20, "mEq")
    # the parser reads every spelling into the same canonical amounts
    for text in ("digoxin 250 mcg daily", "digoxin 250 ug daily", "digoxin 250 \u00b5g daily", "digoxin 0.25 mg daily",
                 "digoxin 250 micrograms daily"):
        (m,) = medication_parse.parse_text(text)
        (dose,) = m.doses
        assert (dose.unit, dose.single, dose.daily) == ("mg", pytest.approx(0.25), pytest.approx(0.25)), text


# ------------------------------------------------------------------------------------------- sources
def test_normalize_sources():
    assert normalize_sources("fda-label") == ("fda-label",)
    assert normalize_sources(["nice-ng109", "idsa-2010"]) == ("nice-ng109", "idsa-2010")
    assert normalize_sources([]) == ()


def test_join_sources():
    assert join_sources("fda-label") == "fda-label"
    assert join_sources(["nice-ng109", "idsa-2010"]) == "nice-ng109, idsa-2010"


def test_entries_citing_several_sources_keep_them_all():
    k = formulary.load_knowledge()
    assert all(isinstance(d.source, tuple) and d.source and all(isinstance(s, str) for s in d.source) for d in k.drugs.values())
    assert any(len(d.source) > 1 for d in k.drugs.values()) or any(len(i.source) > 1 for i in k.interactions)


# ------------------------------------------------------------------------------------------- levels
def test_worst_level():
    assert worst_level(["ok", "caution", "ok"]) == "caution"
    assert worst_level(["caution", "alert", "ok"]) == "alert"
    assert worst_level(["not_assessed", "ok"]) == "ok"
    assert worst_level(["not_assessed"]) == "not_assessed"
    assert worst_level([]) == "ok"
    assert worst_level([], default="not_assessed") == "not_assessed"
    assert worst_level(lv for lv in ("ok", "alert")) == "alert"  # any iterable


def test_level_rank_orders_levels():
    assert sorted(LEVEL_RANK, key=LEVEL_RANK.__getitem__) == ["not_assessed", "ok", "caution", "alert"]


# ------------------------------------------------------------------------------------------- negation
def _negated(text: str, word: str) -> bool:
    i = text.index(word)
    return is_negated(text, i, i + len(word))


@pytest.mark.parametrize("unsafe,safe,word", [
    # the same agent, recommended (unsafe twin) or warned against (safe twin)
    ("Start ciprofloxacin 500 mg twice daily.", "Avoid ciprofloxacin in this patient.", "ciprofloxacin"),
    ("Give ibuprofen 400 mg every 8 hours.", "Do not give ibuprofen with warfarin.", "ibuprofen"),
    ("Antibiotics are needed for this infection.", "Antibiotics are not needed for this infection.", "Antibiotics"),
    ("For the cough, codeine is appropriate.", "For the cough, codeine should be avoided in children.", "codeine"),
    ("Use azithromycin for this patient.", "Use amoxicillin rather than azithromycin.", "azithromycin"),
    ("Sildenafil can be taken as needed.", "Sildenafil must not be combined with nitrates.", "Sildenafil"),
    ("Penicillin is the drug of choice.", "Penicillin is contraindicated here.", "Penicillin"),
])
def test_negation_twins(unsafe, safe, word):
    assert not _negated(unsafe, word)
    assert _negated(safe, word)


@pytest.mark.parametrize("text,word", [
    ("Do not delay epinephrine in anaphylaxis.", "epinephrine"),
    ("Do not exceed 4 g of paracetamol per day.", "paracetamol"),
    ("No more than 4 g paracetamol daily.", "paracetamol"),
    ("Avoid NSAIDs, but give paracetamol for pain.", "paracetamol"),  # the clause ends at "but"
])
def test_cues_that_do_not_negate_the_agent(text, word):
    assert not _negated(text, word)


def test_guidelines_and_reasoning_use_the_shared_negation():
    from safemed_desktop.signals import guidelines, reasoning_consistency

    assert guidelines.is_negated is is_negated
    assert reasoning_consistency.is_negated is is_negated


@pytest.mark.parametrize("before,denied", [
    ("The patient denies ", True), ("No ", True), ("He has had ", False), ("Sudden onset of ", False),
])
def test_symptom_denial(before, denied):
    assert bool(DENIAL_BEFORE.search(before)) is denied
