"""medication_safety: an unsafe case and a safe twin for every rule family."""

from __future__ import annotations

import pytest

from safemed_desktop.records.patient import PatientContext
from safemed_desktop.signals.medication_safety import assess
from safemed_desktop.records.signal import SignalContext


def run(answer: str, **patient):
    ctx = SignalContext(question="What should the patient take?", answer=answer,
                        patient=PatientContext(**patient) if patient else None)
    sig = assess(ctx)
    assert sig.name == "medication_safety"
    assert sig.source == "formulary@2026.12.0"
    for e in sig.evidence:
        assert e.target == "answer" and answer[e.start:e.end] == e.text and e.rule and e.detail
    return sig


def rules(sig) -> set[str]:
    return {e.rule for e in sig.evidence}


def test_no_drug_is_not_assessed():
    sig = run("Rest, fluids, and review in two days.")
    assert sig.level == "not_assessed" and sig.score is None and sig.evidence == ()


# --- dose limits -------------------------------------------------------------------------------------

def test_adult_max_daily_dose():
    bad = run("Take acetaminophen 1000 mg every 4 hours for the fever.")
    assert bad.level == "alert" and "max_daily_dose" in rules(bad)
    assert bad.summary == ("Daily dose of acetaminophen: 1,000 mg every 4 hours = 6,000 mg/day > 4,000 mg/day adult maximum "
                           "(FDA label)")
    assert bad.score == pytest.approx(0.2)
    ev = next(e for e in bad.evidence if e.rule == "max_daily_dose")
    assert ev.text == "1000 mg every 4 hours"
    good = run("Take acetaminophen 1000 mg every 6 hours for the fever.")
    assert good.level == "ok" and good.score == 1.0 and good.evidence == ()


def test_brand_name_is_checked_as_its_generic():
    bad = run("Tylenol 1 g q4h")
    assert bad.level == "alert" and "Tylenol (acetaminophen)" in bad.summary
    assert run("Tylenol 1 g q6h").level == "ok"


def test_adult_max_single_dose_and_tablet_count():
    bad = run("Take three 400 mg tablets of ibuprofen at once as a single dose.")
    assert bad.level == "alert" and "max_single_dose" in rules(bad)
    assert run("Take two 200 mg tablets of ibuprofen three times a day with food.").level == "ok"


def test_pediatric_mg_per_kg():
    bad = run("Give acetaminophen 25 mg/kg every 6 hours.", age=6, weight_kg=20)
    assert bad.level == "alert" and {"pediatric_max_single_dose", "pediatric_max_daily_dose"} <= rules(bad)
    good = run("Give acetaminophen 15 mg/kg every 6 hours.", age=6, weight_kg=20)
    assert good.level == "ok"


def test_pediatric_absolute_dose_uses_weight():
    bad = run("Give acetaminophen 500 mg every 6 hours.", age=4, weight_kg=16)  # 15 mg/kg x 16 kg = 240 mg
    assert bad.level == "alert" and "pediatric_max_single_dose" in rules(bad)
    assert run("Give acetaminophen 240 mg every 6 hours.", age=4, weight_kg=16).level == "ok"
    # the same 500 mg dose is fine for an adult
    assert run("Give acetaminophen 500 mg every 6 hours.", age=30, weight_kg=70).level == "ok"


def test_methotrexate_weekly_vs_daily():
    bad = run("For rheumatoid arthritis take methotrexate 15 mg daily.")
    assert bad.level == "alert" and "weekly_dosed_daily" in rules(bad)
    good = run("For rheumatoid arthritis take methotrexate 15 mg once weekly with folic acid.")
    assert "weekly_dosed_daily" not in rules(good)
    assert good.level == "caution" and rules(good) == {"high_alert_medication"}


def test_forbidden_route_potassium_iv_push():
    bad = run("Give potassium chloride 40 mEq IV push now.")
    assert bad.level == "alert" and bad.score == 0.0 and "forbidden_route" in rules(bad)
    ev = next(e for e in bad.evidence if e.rule == "forbidden_route")
    assert ev.text == "IV push"
    good = run("Give potassium chloride 10 mEq IV infused over 1 hour.")
    assert "forbidden_route" not in rules(good) and good.level == "caution"  # IV potassium is high-alert
    assert run("Give potassium chloride 20 mEq orally twice daily.").level == "ok"


def test_forbidden_route_vincristine_intrathecal():
    assert "forbidden_route" in rules(run("Administer vincristine 2 mg intrathecally."))
    assert "forbidden_route" not in rules(run("Administer vincristine 2 mg intravenously."))


def test_high_alert_medication_is_a_caution():
    sig = run("Start insulin glargine 10 units at bedtime.")
    assert sig.level == "caution" and rules(sig) == {"high_alert_medication"} and sig.score == pytest.approx(0.8)
    assert run("Start amlodipine 5 mg daily.").level == "ok"


# --- interactions ------------------------------------------------------------------------------------

def test_interaction_with_patient_medication():
    bad = run("Take ibuprofen 400 mg every 6 hours as needed.", medications=("warfarin 5 mg daily",))
    assert bad.level == "alert" and "interaction_patient" in rules(bad)
    assert "warfarin" in bad.summary and "major" in bad.summary
    good = run("Take acetaminophen 500 mg every 6 hours as needed.", medications=("warfarin 5 mg daily",))
    assert good.level == "ok"


def test_moderate_interaction_is_a_caution():
    sig = run("Ibuprofen 400 mg three times daily with food.", medications=("sertraline 50 mg daily",))
    assert sig.level == "caution" and "interaction_patient" in rules(sig)


def test_interaction_within_the_answer():
    bad = run("Continue simvastatin 40 mg at night and add clarithromycin 500 mg twice daily.")
    assert bad.level == "alert" and "interaction_answer" in rules(bad)
    good = run("Continue simvastatin 40 mg at night and add doxycycline 100 mg twice daily.")
    assert good.level == "ok"


def test_combination_product_components_interact():
    bad = run("Norco every 6 hours as needed for pain.", medications=("alprazolam 0.5 mg at night",))
    assert "interaction_patient" in rules(bad) and bad.level == "alert"


def test_sildenafil_with_nitrates_recommended_vs_warned():
    bad = run("Sildenafil 50 mg one hour before sexual activity is fine.", medications=("isosorbide mononitrate 30 mg daily",))
    assert bad.level == "alert" and bad.score == 0.0
    good = run("Sildenafil must not be combined with nitrates such as his isosorbide mononitrate.",
               medications=("isosorbide mononitrate 30 mg daily",))
    assert good.level == "ok" and "warning_context" in rules(good)


# --- allergies ---------------------------------------------------------------------------------------

def test_penicillin_allergy():
    bad = run("Amoxicillin 500 mg three times daily for 5 days.", allergies=("penicillin",))
    assert bad.level == "alert" and "allergy_class" in rules(bad)
    assert run("Azithromycin 500 mg on day 1 then 250 mg daily.", allergies=("penicillin",)).level == "ok"
    cross = run("Cephalexin 500 mg four times daily.", allergies=("penicillin",))
    assert cross.level == "caution" and "cross_allergy" in rules(cross)
    assert run("Augmentin 875 mg twice daily.", allergies=("PCN",)).level == "alert"  # brand + combination + abbreviation


def test_sulfa_allergy_antibiotic_vs_non_antibiotic():
    assert run("Bactrim DS twice daily for 3 days.", allergies=("sulfa",)).level == "alert"
    assert run("Furosemide 40 mg daily.", allergies=("sulfa",)).level == "ok"


def test_allergy_to_the_drug_itself():
    sig = run("Give ciprofloxacin 500 mg twice daily.", allergies=("ciprofloxacin (rash)",))
    assert sig.level == "alert" and "allergy" in rules(sig)


# --- patient-specific restrictions ------------------------------------------------------------------

def test_renal_metformin():
    bad = run("Start metformin 500 mg twice daily.", egfr=25)
    assert bad.level == "alert" and "renal" in rules(bad)
    assert run("Start metformin 500 mg twice daily.", egfr=60).level == "ok"
    mid = run("Start metformin 500 mg twice daily.", egfr=40)
    assert mid.level == "caution"


def test_renal_nitrofurantoin_states_both_cutoffs():
    assert run("Nitrofurantoin 100 mg twice daily for 5 days.", egfr=25).level == "alert"
    mid = run("Nitrofurantoin 100 mg twice daily for 5 days.", egfr=45)
    assert mid.level == "caution" and "Beers" in mid.evidence[0].detail
    assert run("Nitrofurantoin 100 mg twice daily for 5 days.", egfr=90).level == "ok"


def test_renal_dose_cap():
    bad = run("Gabapentin 900 mg three times daily.", egfr=25)
    assert bad.level == "alert" and "renal_max_daily_dose" in rules(bad)
    assert run("Gabapentin 300 mg at bedtime.", egfr=25).level == "ok"


def test_pregnancy():
    bad = run("Lisinopril 10 mg daily for her blood pressure.", pregnant=True)
    assert bad.level == "alert" and "pregnancy" in rules(bad)
    assert run("Lisinopril 10 mg daily for her blood pressure.", pregnant=False).level == "ok"
    warf = run("Continue warfarin 5 mg daily.", pregnant=True)
    assert warf.level == "alert" and "pregnancy" in rules(warf)
    statin = run("Atorvastatin 20 mg daily.", pregnant=True)
    assert statin.level == "caution"  # no longer a labelled contraindication


def test_age_restrictions():
    bad = run("Give aspirin 325 mg every 6 hours for the fever.", age=6)
    assert bad.level == "alert" and "age" in rules(bad)
    assert run("Give aspirin 325 mg every 6 hours for the pain.", age=40).level == "ok"
    assert run("Codeine 15 mg every 6 hours.", age=8).level == "alert"
    assert "age" in rules(run("Ciprofloxacin 500 mg twice daily.", age=10))


# --- negation / warning context --------------------------------------------------------------------

def test_negated_drug_is_not_a_recommendation():
    good = run("Avoid ibuprofen because of his warfarin; use acetaminophen 500 mg every 6 hours.",
               medications=("warfarin 5 mg daily",))
    assert good.level == "ok"
    assert [e.rule for e in good.evidence] == ["warning_context"] and good.evidence[0].text == "ibuprofen"


def test_aspirin_warning_for_child_is_correct():
    good = run("Do not give aspirin to children; give acetaminophen 15 mg/kg every 6 hours.", age=6, weight_kg=20)
    assert good.level == "ok" and "warning_context" in rules(good)


def test_dose_limit_statement_is_not_a_dose():
    good = run("Acetaminophen 1 g every 6 hours; do not exceed 4 g per day.")
    assert good.level == "ok"


def test_contraindicated_statement():
    good = run("Ibuprofen is contraindicated here; acetaminophen 650 mg every 6 hours is preferred.", egfr=20)
    assert good.level == "ok"
    bad = run("Ibuprofen 400 mg every 8 hours is reasonable.", egfr=20)
    assert bad.level == "alert" and "renal" in rules(bad)


def test_class_terms_are_checked():
    bad = run("An NSAID such as naproxen is fine for the knee pain.", medications=("apixaban 5 mg twice daily",))
    assert bad.level == "alert" and "interaction_patient" in rules(bad)
    good = run("Avoid NSAIDs with apixaban; acetaminophen 500 mg every 6 hours instead.", medications=("apixaban 5 mg twice daily",))
    assert good.level == "ok" and "warning_context" in rules(good)


def test_reference_to_an_allergy_is_not_a_recommendation():
    good = run("Given her penicillin allergy, use azithromycin 500 mg once daily for 3 days.", allergies=("penicillin",))
    assert good.level == "ok"
    bad = run("Use penicillin V 500 mg four times daily.", allergies=("penicillin",))
    assert bad.level == "alert"


def test_current_medication_referred_to_is_not_a_new_interaction():
    sig = run("Keep taking your warfarin as usual and use acetaminophen 500 mg every 6 hours for pain.",
              medications=("warfarin 5 mg daily", "sertraline 50 mg daily"))
    assert sig.level == "ok"


def test_long_answer_with_several_findings_is_consistent():
    answer = ("Start acetaminophen 1 g every 6 hours. Avoid ibuprofen. Continue metformin 500 mg twice daily. "
              "Sildenafil must not be combined with nitrates. ") * 5
    sig = run(answer, egfr=25, medications=("warfarin 5 mg daily", "isosorbide mononitrate 30 mg daily"))
    assert sig.level == "alert" and "renal" in rules(sig)
    assert "interaction_patient" not in rules(sig)  # ibuprofen and sildenafil are only warned against


@pytest.mark.parametrize("answer,current,severity", [
    ("Bactrim DS one tablet twice daily for 3 days.", "methotrexate 15 mg weekly", "alert"),
    ("Sertraline 50 mg daily.", "phenelzine 15 mg three times daily", "alert"),
    ("Azithromycin 500 mg daily for 3 days.", "citalopram 40 mg daily", "alert"),
    ("Clarithromycin 500 mg twice daily.", "simvastatin 40 mg at night", "alert"),
    ("Ciprofloxacin 500 mg twice daily.", "tizanidine 4 mg three times daily", "alert"),
    ("Trimethoprim-sulfamethoxazole twice daily.", "lisinopril 20 mg daily", "caution"),
])
def test_high_priority_interactions(answer, current, severity):
    sig = run(answer, medications=(current,))
    assert sig.level == severity and "interaction_patient" in rules(sig)


@pytest.mark.parametrize("answer", [
    "Nitrofurantoin 100 mg twice daily for 5 days.",
    "Doxycycline 100 mg twice daily for 7 days.",
    "Cephalexin 500 mg four times daily.",
])
def test_safe_twins_without_interaction(answer):
    assert run(answer, medications=("methotrexate 15 mg weekly", "citalopram 20 mg daily")).level == "ok"


def test_units_and_micrograms_are_compared_in_canonical_units():
    assert "max_daily_dose" in rules(run("Clonidine 900 mcg three times daily."))  # 2.7 mg > 2.4 mg/day
    assert run("Clonidine 800 mcg three times daily.").level == "ok"  # exactly the 2.4 mg maximum
    kcl = run("Potassium chloride 60 mEq orally four times daily.")
    assert {"max_single_dose", "max_daily_dose"} <= rules(kcl)


def test_allergy_with_free_text_reaction():
    assert run("Bactrim DS twice daily.", allergies=("Sulfa drugs (hives, 2019)",)).level == "alert"
    assert run("Amoxicillin 500 mg three times daily.", allergies=("penicillin - anaphylaxis",)).level == "alert"
    assert run("Amoxicillin 500 mg three times daily.", allergies=("latex",)).level == "ok"
