"""Drug/dose extraction and negation detection on hand-written phrases."""

from __future__ import annotations

import pytest

from safemed_desktop.signals.medication_parse import find_frequencies, find_routes, parse_medication_list, parse_text
from safemed_desktop.signals.negation import scan, warning_cue


def one(text: str, weight_kg: float | None = None):
    ms = parse_text(text, weight_kg)
    assert len(ms) == 1, ms
    m = ms[0]
    assert text[m.start:m.end] == m.text
    for d in m.doses:
        assert text[d.start:d.end] == d.text
    return m


@pytest.mark.parametrize("text,generic,single,daily", [
    ("Acetaminophen 1000 mg every 4 hours", "acetaminophen", 1000, 6000),
    ("Tylenol 1 g q6h", "acetaminophen", 1000, 4000),
    ("take two 500 mg tablets of acetaminophen four times a day", "acetaminophen", 1000, 4000),
    ("warfarin 10 mg daily", "warfarin", 10, 10),
    ("metformin 500 mg BID", "metformin", 500, 1000),
    ("ibuprofen 400 mg TID", "ibuprofen", 400, 1200),
    ("ibuprofen 600 mg QID", "ibuprofen", 600, 2400),
    ("gentle: naproxen 250 mg q8h", "naproxen", 250, 750),
    ("ciprofloxacin 500 mg every 12 hours", "ciprofloxacin", 500, 1000),
    ("zolpidem 5 mg at bedtime", "zolpidem", 5, 5),
    ("amlodipine 5 mg once daily", "amlodipine", 5, 5),
    ("acetaminophen 4 g/day", "acetaminophen", None, 4000),
    ("acetaminophen 500-1000 mg every 4 to 6 hours", "acetaminophen", 1000, 6000),
    ("levothyroxine 50 mcg daily", "levothyroxine", 0.05, 0.05),
    ("Insulin glargine 20 units at bedtime", "insulin glargine", 20, 20),
])
def test_dose_phrases(text, generic, single, daily):
    m = one(text)
    assert m.generic == generic
    d = m.doses[0]
    assert d.single == pytest.approx(single) if single is not None else d.single is None
    assert d.daily == pytest.approx(daily)


def test_once_weekly_and_mg_per_kg_per_day():
    d = one("methotrexate 15 mg once weekly").doses[0]
    assert d.frequency.weekly and d.single == 15 and d.daily == pytest.approx(15 / 7)
    d = one("amoxicillin 0.5 mg/kg/day divided every 12 hours").doses[0]
    assert d.per_kg and d.daily_per_kg == 0.5 and d.single_per_kg == 0.25 and d.single is None
    d = one("amoxicillin 0.5 mg/kg/day divided every 12 hours", weight_kg=20).doses[0]
    assert d.daily == pytest.approx(10) and d.single == pytest.approx(5)


def test_route_phrases():
    m = one("potassium chloride 40 mEq IV push")
    assert m.doses[0].amount == 40 and m.doses[0].unit == "mEq"
    assert m.route_names == {"iv_push"}
    assert [r.route for r in find_routes("give 1 g intravenously, then orally; not intrathecally")] == ["iv", "oral", "intrathecal"]


@pytest.mark.parametrize("phrase,per_day", [
    ("BID", 2), ("TID", 3), ("QID", 4), ("q8h", 3), ("every 12 hours", 2), ("at bedtime", 1), ("once daily", 1),
    ("three times a day", 3), ("every other day", 0.5), ("weekly", 1 / 7), ("twice daily", 2),
])
def test_frequency_phrases(phrase, per_day):
    f = find_frequencies(f"take {phrase} with food")
    assert len(f) == 1 and f[0].per_day == pytest.approx(per_day)


def test_names_match_whole_words_case_insensitive_multiword_and_combinations():
    assert parse_text("Advilox and tylenolic are not drugs") == []
    ms = parse_text("TRIMETHOPRIM/SULFAMETHOXAZOLE or Bactrim, plus insulin glargine and hydrocodone-acetaminophen")
    assert [m.generic for m in ms] == ["trimethoprim-sulfamethoxazole", "trimethoprim-sulfamethoxazole", "insulin glargine",
                                       "hydrocodone-acetaminophen"]
    assert [m.generic for m in parse_text("Toprol-XL 50 mg")] == ["metoprolol"]


def test_lab_values_and_rates_are_not_doses():
    m = one("K 3.1 mEq/L and Hb 9 g/dL; give potassium chloride 20 mEq orally")
    assert [d.amount for d in m.doses] == [20]
    assert one("heparin infusion at 1000 units/hour").doses == ()


def test_threshold_phrases_are_marked():
    m = one("do not exceed 4 g per day of acetaminophen")
    assert m.doses[0].threshold
    assert not one("acetaminophen 1 g every 6 hours").doses[0].threshold


def test_doses_attach_to_their_own_drug():
    ms = parse_text("Warfarin 5 mg daily and ibuprofen 400 mg three times daily.")
    assert [(m.generic, m.doses[0].daily) for m in ms] == [("warfarin", 5), ("ibuprofen", 1200)]


def test_patient_medication_list():
    ms = parse_medication_list(["warfarin 5 mg daily", "Lipitor 40 mg at night", "vitamin C", "metformin 1 g BID"])
    assert [(m.generic, m.item, m.doses[0].daily) for m in ms] == [("warfarin", 0, 5), ("atorvastatin", 1, 40), ("metformin", 3, 2000)]


# --- negation / warning context ----------------------------------------------------------------------

@pytest.mark.parametrize("text,term,negated", [
    ("Avoid ibuprofen in kidney disease.", "ibuprofen", True),
    ("Avoid ibuprofen, use acetaminophen instead.", "acetaminophen", False),
    ("Do not give aspirin to children.", "aspirin", True),
    ("Sildenafil must not be combined with nitrates.", "Sildenafil", True),
    ("Sildenafil must not be combined with nitrates.", "nitrates", True),
    ("Warfarin is contraindicated in pregnancy.", "Warfarin", True),
    ("Use acetaminophen instead of ibuprofen.", "ibuprofen", True),
    ("Use acetaminophen instead of ibuprofen.", "acetaminophen", False),
    ("Stop taking ibuprofen and start acetaminophen.", "ibuprofen", True),
    ("Stop taking ibuprofen and start acetaminophen.", "acetaminophen", False),
    ("Give amoxicillin 500 mg three times daily.", "amoxicillin", False),
    ("Ibuprofen 400 mg every 6 hours. Avoid alcohol.", "Ibuprofen", False),
])
def test_warning_context(text, term, negated):
    i = text.index(term)
    assert (warning_cue(text, i, i + len(term)) is not None) is negated


def test_warning_context_scans_once_and_reports_the_cue():
    text = "Never give aspirin to children under 16 (Reye syndrome)."
    cue = scan(text).cue_for(text.index("aspirin"), text.index("aspirin") + 7)
    assert cue is not None and cue.text.lower().startswith("never") and cue.kind == "pre"


def test_offsets_survive_case_folding_that_changes_length():
    from safemed_desktop.signals.negation import fold

    text = "İİ note: give Tylenol 1 g q6h"
    assert len(fold(text)) == len(text)
    m = one(text)
    assert m.generic == "acetaminophen" and m.text == "Tylenol" and m.doses[0].daily == 4000


def test_literal_first_expands_leading_groups_in_order():
    import re

    from safemed_desktop.signals.negation import literal_first

    pat = literal_first([r"(?:iv|i\.v\.)\s*push", r"\d+x", r"(?:is|are)\s+not"], r"(?!\w)")
    assert pat.split("|")[:2] == [r"iv\s*push(?!\w)", r"i\.v\.\s*push(?!\w)"]
    rx = re.compile(pat)
    assert [m.group(0) for m in rx.finditer("iv push; 12x; they are not")] == ["iv push", "12x", "are not"]


def test_warning_list_after_a_colon_and_list_items():
    text = "Avoid: ibuprofen, naproxen and aspirin.\n- acetaminophen 500 mg every 6 hours"
    ctx = scan(text)
    for term, negated in (("ibuprofen", True), ("naproxen", True), ("aspirin", True), ("acetaminophen", False)):
        i = text.index(term)
        assert (ctx.cue_for(i, i + len(term)) is not None) is negated, term


def test_reference_words_after_a_drug():
    for text, term in (("Watch for digoxin toxicity.", "digoxin"), ("Her penicillin allergy is documented.", "penicillin"),
                       ("NSAID-induced ulcer", "NSAID")):
        i = text.index(term)
        assert warning_cue(text, i, i + len(term)) is not None


def test_tablet_count_after_the_strength():
    d = one("Tylenol 325 mg, 2 tablets every 4 hours").doses[0]
    assert d.single == 650 and d.daily == 3900 and d.text == "325 mg, 2 tablets"
    d = one("acetaminophen 500 mg x 2 tablets four times a day").doses[0]
    assert d.single == 1000 and d.daily == 4000
