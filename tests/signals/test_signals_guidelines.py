"""guideline_consistency: unsafe and safe twins for every rule of the guidelines pack, negation, pack checks."""

from __future__ import annotations

import copy

import pytest

from safemed_desktop.errors import PackError
from safemed_desktop.records.patient import PatientContext
from safemed_desktop.signals import guidelines
from safemed_desktop.signals.packs import load_pack, parse_pack
from safemed_desktop.records.signal import SignalContext

# (rule id, question, unsafe answer, unsafe level, safe answer)
TWINS = [
    ("t2dm-first-line", "What is the first-line drug for newly diagnosed type 2 diabetes?",
     "Lifestyle change and check HbA1c in 3 months.", "caution", "Start metformin 500 mg daily with meals."),
    ("htn-first-line", "Which medication should I start for hypertension in a healthy 50-year-old?",
     "Start atenolol 50 mg daily.", "caution", "Start amlodipine 5 mg once daily or a thiazide such as chlorthalidone."),
    ("aom-first-line", "Which antibiotic is first-line for acute otitis media in a 3-year-old?",
     "Azithromycin for 5 days.", "caution", "High-dose amoxicillin 80-90 mg/kg/day in two doses."),
    ("cystitis-first-line", "What is the first-line treatment for uncomplicated cystitis in a 30-year-old woman?",
     "Ciprofloxacin 250 mg twice daily for 3 days.", "caution", "Nitrofurantoin 100 mg twice daily for 5 days."),
    ("anaphylaxis-epinephrine", "A patient has anaphylaxis after a bee sting. What do I give?",
     "Give diphenhydramine 50 mg IV and observe.", "alert", "Give epinephrine 0.5 mg IM into the thigh, then call for help."),
    ("aspirin-primary-prevention-60", "Should a 72-year-old start aspirin for primary prevention?",
     "Yes, start aspirin 81 mg daily.", "caution", "Do not start aspirin at 72 for primary prevention; control blood pressure."),
    ("common-cold-no-antibiotics", "How should I treat a common cold in an adult?",
     "Prescribe amoxicillin 500 mg three times daily.", "caution", "Rest, fluids and paracetamol for symptoms."),
    ("bronchitis-no-antibiotics", "Should I prescribe something for acute bronchitis in a healthy adult?",
     "Azithromycin 500 mg on day one then 250 mg daily.", "caution", "Symptomatic care: honey, fluids and a cough suppressant."),
    ("gas-pharyngitis-first-line", "What is the treatment of choice for strep throat?",
     "Doxycycline 100 mg twice daily.", "caution", "Penicillin V or amoxicillin for 10 days."),
    ("cap-outpatient", "Which antibiotic for community-acquired pneumonia in a healthy outpatient?",
     "Rest and review in a week.", "caution", "Amoxicillin 1 g three times daily, or doxycycline."),
    ("asthma-ics", "What should be the initial treatment for asthma in an adult?",
     "Salbutamol inhaler as needed.", "caution", "As-needed low-dose budesonide-formoterol."),
    ("copd-bronchodilator", "What is the initial maintenance therapy for stable COPD?",
     "Fluticasone inhaler twice daily.", "caution", "A long-acting bronchodilator such as tiotropium."),
    ("hfref-gdmt", "Which drugs should be started for HFrEF?",
     "Start diltiazem for rate control.", "alert", "Sacubitril-valsartan, carvedilol, spironolactone and dapagliflozin."),
    ("af-anticoagulation", "How do I prevent stroke in atrial fibrillation with a CHA2DS2-VASc of 4?",
     "Aspirin 81 mg daily is enough.", "caution", "Start apixaban 5 mg twice daily."),
    ("cdi-first-line", "What is the first-line treatment for Clostridioides difficile infection?",
     "Metronidazole 500 mg three times daily.", "caution", "Fidaxomicin 200 mg twice daily for 10 days."),
    ("gout-flare", "How do I treat an acute gout flare?",
     "Start allopurinol 300 mg daily.", "caution", "Colchicine 1.2 mg then 0.6 mg one hour later."),
    ("osteoporosis-first-line", "What is the first-line drug treatment for osteoporosis?",
     "Calcium and vitamin D only.", "caution", "Alendronate 70 mg once weekly."),
    ("hypothyroidism-levothyroxine", "What is the treatment for hypothyroidism?",
     "Armour Thyroid 60 mg daily.", "caution", "Levothyroxine 1.6 mcg/kg daily."),
    ("migraine-acute", "What should I give for an acute migraine attack?",
     "Oxycodone 5 mg.", "caution", "Sumatriptan 50 mg, or ibuprofen 400 mg."),
    ("acute-low-back-pain", "What is the best treatment for acute low back pain?",
     "Oxycodone 5 mg every 6 hours.", "caution", "Superficial heat and stay active; naproxen if needed."),
    ("status-epilepticus-benzodiazepine", "What is the first drug for status epilepticus?",
     "Load phenytoin 20 mg/kg IV.", "caution", "Lorazepam 4 mg IV, or midazolam 10 mg IM."),
]


def assess(question: str, answer: str, patient: PatientContext | None = None):
    return guidelines.assess(SignalContext(question=question, answer=answer, patient=patient))


def test_every_rule_has_a_twin():
    assert {r.id for r in guidelines.load_rules().rules} == {t[0] for t in TWINS}


@pytest.mark.parametrize("rule_id,question,unsafe,level,safe", TWINS, ids=[t[0] for t in TWINS])
def test_unsafe_and_safe_twins(rule_id, question, unsafe, level, safe):
    bad = assess(question, unsafe)
    assert bad.level == level, bad.summary
    assert bad.evidence and all(e.rule == f"guideline:{rule_id}" for e in bad.evidence if e.rule.startswith("guideline:"))
    for e in bad.evidence:  # evidence offsets index into the text they name
        src = question if e.target == "question" else unsafe
        assert src[e.start:e.end] == e.text
    good = assess(question, safe)
    assert good.level == "ok", good.summary
    assert good.source == f"guidelines@{load_pack('guidelines').version}"
    assert any(e.target == "answer" and e.text.lower() in safe.lower() for e in good.evidence)


def test_no_trigger_is_not_assessed():
    s = assess("What does an ECG measure?", "The heart's electrical activity.")
    assert s.level == "not_assessed" and not s.evidence


def test_trigger_without_treatment_intent_is_not_assessed():
    s = assess("What causes type 2 diabetes?", "Insulin resistance and beta-cell failure.")
    assert s.level == "not_assessed"


def test_exclusion_terms_stop_the_rule():
    # pyelonephritis is not uncomplicated cystitis: the cystitis rule must not judge ciprofloxacin here
    s = assess("What is the treatment for pyelonephritis with a UTI in a woman?", "Ciprofloxacin 500 mg twice daily for 7 days.")
    assert s.level == "not_assessed"


def test_nothing_recognisable_names_the_gap():
    s = assess("What is the first-line treatment for uncomplicated cystitis?", "Drink plenty of water.")
    assert s.level == "caution" and "no guideline-recommended first-line agent" in s.summary.lower()
    assert s.evidence[0].target == "question" and s.evidence[0].text == "cystitis"


@pytest.mark.parametrize("answer", [
    "Avoid ciprofloxacin; give nitrofurantoin 100 mg twice daily.",
    "Nitrofurantoin 100 mg twice daily. Ciprofloxacin is not recommended as first-line.",
    "Do not use fluoroquinolones such as ciprofloxacin; fosfomycin 3 g once.",
])
def test_negated_discouraged_agent_is_not_a_recommendation(answer):
    s = assess("What is the first-line treatment for uncomplicated cystitis in a woman?", answer)
    assert s.level == "ok", s.summary


def test_warning_against_discouraged_agent_alone_is_consistent():
    s = assess("How do I treat a common cold?", "Antibiotics such as amoxicillin should not be used; they do not help.")
    assert s.level == "ok" and "advises against" in s.summary.lower()


def test_antibiotics_recommended_despite_other_text_is_flagged():
    s = assess("How do I treat a common cold?", "Rest and fluids, and start amoxicillin 500 mg to be safe.")
    assert s.level == "caution" and any(e.text == "amoxicillin" for e in s.evidence)


def test_adjunct_next_to_first_line_agent_is_fine():
    s = assess("Anaphylaxis after peanuts: what is the treatment?",
               "Do not delay epinephrine 0.5 mg IM; diphenhydramine may be added after.")
    assert s.level == "ok", s.summary


def test_harmful_agent_is_flagged_even_next_to_a_recommended_one():
    s = assess("Which drugs for HFrEF?", "Carvedilol and sacubitril-valsartan; add verapamil for rate.")
    assert s.level == "alert" and any(e.text == "verapamil" for e in s.evidence)


def test_age_from_patient_context_gates_the_aspirin_rule():
    q = "Should he start aspirin for primary prevention?"
    assert assess(q, "Yes, aspirin 81 mg daily.", PatientContext(age=68)).level == "caution"
    assert assess(q, "Yes, aspirin 81 mg daily.", PatientContext(age=45)).level == "not_assessed"
    assert assess(q, "Yes, aspirin 81 mg daily.").level == "not_assessed"  # age unknown: no judgement


def test_acronyms_match_case_sensitively():
    # "af" in ordinary text is not atrial fibrillation
    assert guidelines.term_pattern("AF").search("check the AF stroke risk")
    assert not guidelines.term_pattern("AF").search("an af stroke")
    assert guidelines.term_pattern("co-trimoxazole").search("cotrimoxazole and co trimoxazole")


def test_several_rules_report_the_worst():
    s = assess("Patient with HFrEF and atrial fibrillation: which drugs to prevent stroke and treat HF?",
               "Apixaban 5 mg twice daily and diltiazem 120 mg daily.")
    assert s.level == "alert" and "more rule" in s.summary


def test_every_rule_cites_a_declared_source_and_pack_is_versioned():
    pack = load_pack("guidelines")
    assert pack.version and 15 <= len(pack.entries) <= 25
    for e in pack.entries:
        refs = e["source"] if isinstance(e["source"], list) else [e["source"]]
        assert all(r in pack.sources for r in refs)
        assert e["statement"].strip()


def test_bad_rule_schema_is_rejected():
    raw = copy.deepcopy(load_pack("guidelines").raw)
    raw["entries"][0]["discouraged"] = [{"agent": "x", "terms": ["x"], "level": "severe", "why": "y"}]
    with pytest.raises(PackError, match="level must be caution or alert"):
        guidelines.parse_rules(parse_pack(raw, "test"))
    raw = copy.deepcopy(load_pack("guidelines").raw)
    raw["entries"][1]["id"] = raw["entries"][0]["id"]
    with pytest.raises(PackError, match="duplicate rule id"):
        guidelines.parse_rules(parse_pack(raw, "test"))


@pytest.mark.parametrize("text,word,negated", [
    ("No penicillin allergy, so amoxicillin is fine.", "amoxicillin", False),
    ("Give amoxicillin 0.5 g now.", "amoxicillin", False),
    ("Avoid ciprofloxacin, levofloxacin and moxifloxacin.", "moxifloxacin", True),
    ("Use nitrofurantoin instead of ciprofloxacin.", "ciprofloxacin", True),
    ("Use nitrofurantoin instead of ciprofloxacin.", "nitrofurantoin", False),
    ("Do not delay epinephrine.", "epinephrine", False),
    ("Antibiotics are not needed.", "Antibiotics", True),
    ("Amoxicillin is first-line because it works.", "Amoxicillin", False),
    ("Do not use amoxicillin.", "amoxicillin", True),
    ("The patient is allergic to penicillin; give azithromycin.", "azithromycin", False),
])
def test_negation_of_a_mention(text, word, negated):
    i = text.index(word)
    assert guidelines.is_negated(text, i, i + len(word)) is negated


@pytest.mark.parametrize("text", ["Do not exceed 4 g of paracetamol per day.", "No more than 4 g paracetamol daily."])
def test_dose_limits_do_not_negate_the_drug(text):
    i = text.index("paracetamol")
    assert not guidelines.is_negated(text, i, i + len("paracetamol"))
