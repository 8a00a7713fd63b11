"""The 2026.12.0 update of the medication packs (issue 13), applied to the 2026.11.0 packs that
``tools/gen_medication_packs.py`` builds: new facts with their sources (dose limits by route, weight,
BSA, regimen phase and patient group; products with per-tablet strengths; duplicate therapy; taper rules).

``apply(formulary, interactions, allergy)`` mutates the three pack dicts in place. The shipped JSON equals
``apply`` on the generator's output (``tests/medication/test_medication_packs.py``). To fold into the
generator: run the generator, then ``apply``, then write the JSON (``python -m bench.data.pack_update_2026_12``
does exactly that).
"""

from __future__ import annotations

import json
from pathlib import Path

VER = "2026.12.0"


def apply(d: dict, interactions: dict, allergy: dict) -> None:
    d['version'] = VER
    d['description'] += (" 2026.12: route-specific, per-kg, per-m2, maintenance and loading limits, usual single doses (thousand-fold"
                         " unit errors), low-weight, geriatric (FDA label, Beers 2023) and hepatic limits, lactation, dose- and"
                         " gestation-dependent pregnancy limits, daily regimens of weekly/monthly drugs, maximum durations;"
                         " header: products (strength per tablet), duplicate_therapy, taper_required.")
    S = d['sources']
    def fda(g):
        k = f"fda-label:{g}"
        S.setdefault(k, f"U.S. FDA-approved prescribing information for {g} products (DailyMed, National Library of Medicine, dailymed.nlm.nih.gov).")
        return k
    S["fda-otc-monograph-analgesics"] = "U.S. FDA OTC Drug Facts labels for internal analgesic products (21 CFR 343; acetaminophen, ibuprofen, naproxen sodium tablet strengths and directions)."
    S["endocrine-society-vitd-2011"] = "Holick MF et al. Evaluation, treatment, and prevention of vitamin D deficiency: an Endocrine Society clinical practice guideline. J Clin Endocrinol Metab. 2011;96(7):1911-1930 (upper limit 10,000 IU/day for at-risk adults)."
    S["iom-dri-vitamin-a-2001"] = "Institute of Medicine. Dietary Reference Intakes for Vitamin A ... 2001; teratogenicity of preformed vitamin A above 10,000 IU/day in pregnancy (also ACOG guidance)."
    S["uspstf-aspirin-preeclampsia-2021"] = "US Preventive Services Task Force. Aspirin use to prevent preeclampsia: recommendation statement. JAMA. 2021;326(12):1186-1191 (low-dose aspirin 81 mg/day from 12 weeks)."
    S["acog-eclampsia-2020"] = "ACOG Practice Bulletin No. 222: Gestational hypertension and preeclampsia (magnesium sulfate 4-6 g IV loading dose, then 1-2 g/h). Obstet Gynecol. 2020;135(6):e237-e260."
    S["hayward-2016-apap-liver"] = "Hayward KL et al. Can paracetamol (acetaminophen) be administered to patients with liver impairment? Br J Clin Pharmacol. 2016;81(2):210-222 (2-3 g/day in chronic liver disease)."
    S["fda-dsc-citalopram-2012"] = "U.S. FDA Drug Safety Communication: revised recommendations for Celexa (citalopram) related to QT prolongation; maximum 20 mg/day over 60 years (28 Mar 2012)."
    S["ashp-taper-consensus"] = "Joint Clinical Practice Guideline on Benzodiazepine Tapering (ASAM et al., 2025) and FDA labels (boxed/withdrawal warnings) for benzodiazepines, beta blockers, clonidine, corticosteroids, SNRIs and baclofen."
    S["aga-nsaid-duplication"] = "FDA labels for NSAIDs (avoid concomitant use of two NSAIDs: increased GI bleeding without added benefit) and Beers 2023 (avoid combinations that add GI-bleeding risk)."
    E = {e['generic']: e for e in d['entries']}
    def adult(g, **kw):
        a = E[g].setdefault('adult', {})
        for k, v in kw.items():
            a[k] = v
    def q(v, u="mg"): return {"value": v, "unit": u}
    def src(g, *ids):
        s = E[g]['source'] if isinstance(E[g]['source'], list) else [E[g]['source']]
        for i in ids:
            if i not in s: s.append(i)
        E[g]['source'] = s
    def new(entry):
        d['entries'].append(entry); E[entry['generic']] = entry
    # --- new drugs
    new({"generic": "acetaminophen-codeine", "brands": ["Tylenol with Codeine", "Tylenol #3", "Tylenol #4", "Tylenol No. 3", "Tylenol No. 4"],
         "synonyms": ["acetaminophen/codeine", "paracetamol/codeine", "co-codamol"], "classes": ["opioid", "analgesic"], "routes": ["oral"],
         "components": ["acetaminophen", "codeine"], "high_alert": True,
         "ismp_class": "opioids (IV, transdermal and oral, including liquid concentrates, immediate- and sustained-release)",
         "source": [fda("acetaminophen-codeine"), "ismp-high-alert-2024"]})
    new({"generic": "cholecalciferol", "brands": [], "synonyms": ["vitamin D3", "vitamin D", "ergocalciferol", "vitamin D2"], "classes": ["vitamin d"],
         "routes": ["oral"], "high_alert": False, "adult": {"max_daily": q(10000, "units"), "usual_single": q(1000, "units")},
         "note": "Deficiency: 50,000 IU once weekly for 8 weeks, or 6,000 IU daily; maintenance 1,500-2,000 IU daily.",
         "source": [fda("ergocalciferol"), "endocrine-society-vitd-2011"]})
    new({"generic": "vitamin a", "brands": [], "synonyms": ["retinol", "retinyl palmitate"], "classes": ["vitamin a"], "routes": ["oral"],
         "high_alert": False, "adult": {"max_daily": q(10000, "units")},
         "pregnancy": {"severity": "major", "above_daily": q(10000, "units"), "note": "Preformed vitamin A above 10,000 IU/day in pregnancy is teratogenic"},
         "source": ["iom-dri-vitamin-a-2001"]})
    new({"generic": "ibandronate", "brands": ["Boniva"], "synonyms": [], "classes": ["bisphosphonate"], "routes": ["oral", "iv"], "high_alert": False,
         "adult": {"max_single": q(150)},
         "frequency": {"schedule": "monthly", "note": "Oral ibandronate 150 mg is taken ONCE MONTHLY (the daily regimen is 2.5 mg)", "daily_regimen_max": q(2.5)},
         "source": [fda("ibandronate")]})
    # --- products (per-tablet strengths)
    d['products'] = [
        {"names": ["Extra Strength Tylenol", "Tylenol Extra Strength"], "drug": "acetaminophen", "per_unit": {"acetaminophen": q(500)}, "source": ["fda-otc-monograph-analgesics"]},
        {"names": ["Tylenol Arthritis", "Tylenol 8 HR", "Tylenol 8 hour"], "drug": "acetaminophen", "per_unit": {"acetaminophen": q(650)}, "source": ["fda-otc-monograph-analgesics"],
         "max_units_per_dose": 2, "max_units_per_day": 6, "note": "Extended-release 650 mg caplets: 2 caplets every 8 hours, at most 6 caplets in 24 hours"},
        {"names": ["Regular Strength Tylenol", "Tylenol Regular Strength"], "drug": "acetaminophen", "per_unit": {"acetaminophen": q(325)}, "source": ["fda-otc-monograph-analgesics"]},
        {"names": ["Advil", "Motrin IB", "Advil Liqui-Gels"], "drug": "ibuprofen", "per_unit": {"ibuprofen": q(200)}, "source": ["fda-otc-monograph-analgesics"]},
        {"names": ["Aleve"], "drug": "naproxen", "per_unit": {"naproxen": q(200)}, "source": ["fda-otc-monograph-analgesics"]},
        {"names": ["Tylenol #3", "Tylenol No. 3", "Tylenol with Codeine"], "drug": "acetaminophen-codeine", "per_unit": {"acetaminophen": q(300), "codeine": q(30)}, "source": [fda("acetaminophen-codeine")]},
        {"names": ["Tylenol #4", "Tylenol No. 4"], "drug": "acetaminophen-codeine", "per_unit": {"acetaminophen": q(300), "codeine": q(60)}, "source": [fda("acetaminophen-codeine")]},
        {"names": ["Vicodin"], "drug": "hydrocodone-acetaminophen", "per_unit": {"hydrocodone": q(5), "acetaminophen": q(300)}, "source": [fda("hydrocodone-acetaminophen")]},
    ]
    # brands Advil/Aleve/Motrin exist already? keep names unique: drop from brands lists where products define them
    for e in d['entries']:
        for key in ('brands', 'synonyms'):
            e[key] = [b for b in e.get(key, []) if b.lower() not in {n.lower() for p in d['products'] for n in p['names']}]
    E['naproxen'].setdefault('brands', [])
    d['duplicate_therapy'] = [
        {"classes": ["nsaid"], "exclude": ["aspirin"], "note": "Two NSAIDs together add GI-bleeding and renal risk without added benefit: use one NSAID",
         "source": ["aga-nsaid-duplication", "beers-2023"]},
    ]
    d['taper_required'] = [
        {"classes": ["benzodiazepine"], "note": "Stopping a benzodiazepine taken regularly for weeks abruptly risks withdrawal seizures: taper gradually", "source": ["ashp-taper-consensus"]},
        {"classes": ["beta blocker"], "note": "Abrupt withdrawal of a beta blocker can precipitate angina, infarction or arrhythmia (boxed warning): reduce over 1-2 weeks", "source": ["ashp-taper-consensus"]},
        {"classes": ["corticosteroid"], "drugs": [], "exclude": ["fluticasone", "budesonide"], "note": "After more than ~3 weeks of systemic corticosteroid, abrupt stopping risks adrenal crisis: taper", "source": ["ashp-taper-consensus"]},
        {"drugs": ["clonidine", "venlafaxine", "paroxetine", "duloxetine", "baclofen", "gabapentin", "pregabalin"], "classes": [],
         "note": "Abrupt discontinuation causes withdrawal (rebound hypertension for clonidine, discontinuation syndrome for SNRIs/paroxetine, seizures/hallucinations for baclofen, seizures for gabapentinoids): taper", "source": ["ashp-taper-consensus"]},
    ]
    # --- limits
    adult("acetaminophen", usual_single=q(650))
    E["acetaminophen"]["low_weight"] = {"below_kg": 50, "max_single_per_kg": 15, "max_daily_per_kg": 75, "severity": "major",
        "note": "Adults under 50 kg: 15 mg/kg per dose, 75 mg/kg/day", "source": "fda-label:acetaminophen"}
    E["acetaminophen"]["hepatic"] = {"max_daily": q(2000), "severity": "major", "note": "Chronic liver disease/cirrhosis: limit to 2 g/day", "source": "hayward-2016-apap-liver"}
    src("acetaminophen", "hayward-2016-apap-liver")
    adult("celecoxib", max_single=q(400), max_daily=q(400)); src("celecoxib", fda("celecoxib"))
    adult("levothyroxine", max_daily=q(300, "mcg"), usual_single=q(100, "mcg"))
    adult("fentanyl", usual_single=q(50, "mcg"))
    adult("digoxin", max_single=q(0.5), max_daily=q(0.5), usual_single=q(0.125))
    E["digoxin"]["loading"] = {"max_single": q(0.5), "max_daily": q(1.5), "severity": "major", "note": "Loading: 10-15 mcg/kg in divided doses (about 0.5 mg first, then 0.25 mg every 6 h)", "source": "fda-label:digoxin"}
    E["digoxin"]["geriatric"] = [{"from": 65, "max_daily": q(0.125), "severity": "major", "note": "Beers 2023: avoid digoxin doses above 0.125 mg/day in older adults (toxicity, reduced clearance)", "source": "beers-2023"}]
    src("digoxin", "beers-2023")
    adult("colchicine", usual_single=q(0.6))
    adult("clonidine", usual_single=q(0.1), max_single=q(0.8))
    adult("tamsulosin", usual_single=q(0.4), max_single=q(0.8))
    adult("metformin", usual_single=q(500), max_single=q(1000))
    adult("warfarin", usual_single=q(5), max_single=q(15), max_daily=q(15)); E["warfarin"].setdefault("source", [])
    src("warfarin", fda("warfarin"))
    adult("epinephrine", max_single_by_route={"im": q(0.5), "subcut": q(0.5)}, usual_single=q(0.5)); src("epinephrine", fda("epinephrine"))
    adult("enoxaparin", max_single_per_kg=1.5, max_daily_per_kg=2)
    for r in E["enoxaparin"]["renal"]:
        r["max_daily_per_kg"] = 1
    adult("vincristine", max_single=q(2), max_single_per_m2=2); src("vincristine", fda("vincristine"))
    adult("doxorubicin", max_single_per_m2=75); src("doxorubicin", fda("doxorubicin"))
    adult("amiodarone", max_daily=q(1600), max_single=q(800), maintenance_max_daily=q(400)); src("amiodarone", fda("amiodarone"))
    adult("phenytoin", max_single=q(400), max_daily=q(600))
    E["phenytoin"]["loading"] = {"max_single": q(1500), "max_single_per_kg": 20, "severity": "major", "note": "Loading: 10-20 mg/kg (IV 15-20 mg/kg), not above 1.5 g", "source": "fda-label:phenytoin"}
    src("phenytoin", fda("phenytoin"))
    adult("magnesium sulfate", max_single=q(6, "g"), max_daily=q(40, "g"))
    E["magnesium sulfate"]["loading"] = {"max_single": q(6, "g"), "severity": "major", "note": "Pre-eclampsia/eclampsia: 4-6 g IV loading dose", "source": "acog-eclampsia-2020"}
    src("magnesium sulfate", fda("magnesium sulfate"), "acog-eclampsia-2020")
    E["metoclopramide"]["max_duration_days"] = 84
    E["metoclopramide"]["duration_note"] = "Boxed warning: avoid treatment longer than 12 weeks (tardive dyskinesia)"
    adult("metoclopramide", max_single=q(20), max_daily=q(80)); src("metoclopramide", fda("metoclopramide"))
    E["dexamethasone"]["pediatric"] = {"unit": "mg", "max_single_per_kg": 0.6, "max_single": q(16)}; src("dexamethasone", fda("dexamethasone"))
    E["ondansetron"]["pediatric"] = {"unit": "mg", "max_single": q(4), "max_daily": q(12)}
    adult("ondansetron", max_single=q(24), max_daily=q(24)); src("ondansetron", fda("ondansetron"))
    E["prednisolone"]["pediatric"] = {"unit": "mg", "max_daily_per_kg": 2, "max_daily": q(60)}; src("prednisolone", fda("prednisolone"), "aap-redbook-2024")
    E["amoxicillin"]["pediatric"] = {"unit": "mg", "max_daily_per_kg": 90, "max_daily": q(4000)}
    adult("amoxicillin", max_single=q(1000), max_daily=q(3000)); src("amoxicillin", fda("amoxicillin"))
    E["diphenhydramine"]["pediatric"] = {"unit": "mg", "max_single_per_kg": 1.25, "max_daily_per_kg": 5, "max_single": q(50), "max_daily": q(300)}
    adult("sumatriptan", max_single=q(100), max_daily=q(200)); src("sumatriptan", fda("sumatriptan"))
    adult("alendronate", max_single=q(70))
    E["alendronate"]["frequency"] = {"schedule": "weekly", "note": "Alendronate 70 mg is taken ONCE WEEKLY (the daily regimen is 5-10 mg)", "daily_regimen_max": q(10)}
    for g in ("dulaglutide", "tirzepatide"):
        E[g]["frequency"] = {"schedule": "weekly", "note": f"{g.capitalize()} is injected ONCE WEEKLY; daily injection multiplies the exposure sevenfold"}
        src(g, fda(g))
    E["medroxyprogesterone"]["frequency"] = {"schedule": "quarterly", "note": "Depot medroxyprogesterone 150 mg IM is given every 3 months (oral regimens are 2.5-10 mg daily)", "daily_regimen_max": q(10)}
    src("medroxyprogesterone", fda("medroxyprogesterone"))
    E["methotrexate"]["adult"] = {"max_single": q(30)}  # weekly RA/psoriasis dose ceiling
    E["zolpidem"]["geriatric"] = [{"from": 65, "max_single": q(5), "max_daily": q(5), "severity": "major", "note": "FDA label: 5 mg at bedtime in adults 65 and older (also Beers 2023: avoid)", "source": "fda-label:zolpidem"}]
    E["zolpidem"]["hepatic"] = {"max_single": q(5), "max_daily": q(5), "severity": "major", "note": "FDA label: 5 mg in mild-moderate hepatic impairment; avoid in severe", "source": "fda-label:zolpidem"}
    src("zolpidem", fda("zolpidem"))
    E["citalopram"]["geriatric"] = [{"from": 60, "max_daily": q(20), "severity": "major", "note": "Maximum 20 mg/day over 60 years (QT prolongation)", "source": "fda-dsc-citalopram-2012"}]
    E["citalopram"]["hepatic"] = {"max_daily": q(20), "severity": "major", "note": "Maximum 20 mg/day in hepatic impairment (QT prolongation)", "source": "fda-dsc-citalopram-2012"}
    src("citalopram", "fda-dsc-citalopram-2012")
    E["escitalopram"]["geriatric"] = [{"from": 65, "max_daily": q(10), "severity": "major", "note": "FDA label: 10 mg/day recommended for elderly patients", "source": "fda-label:escitalopram"}]
    E["escitalopram"]["hepatic"] = {"max_daily": q(10), "severity": "major", "note": "FDA label: 10 mg/day in hepatic impairment", "source": "fda-label:escitalopram"}
    src("escitalopram", fda("escitalopram"))
    E["tramadol"]["geriatric"] = [{"from": 75, "max_daily": q(300), "severity": "major", "note": "FDA label: over 75 years, do not exceed 300 mg/day", "source": "fda-label:tramadol"}]
    E["tramadol"]["lactation"] = {"severity": "major", "note": "Not recommended while breastfeeding (FDA 2017: ultra-rapid metabolism, infant respiratory depression)"}
    src("tramadol", "fda-dsc-codeine-tramadol-2017")
    E["codeine"]["lactation"] = {"severity": "major", "note": "Not recommended while breastfeeding (FDA 2017: ultra-rapid CYP2D6 metabolism, infant deaths)"}
    E["acetaminophen-codeine"]["lactation"] = dict(E["codeine"]["lactation"])
    src("codeine", "fda-dsc-codeine-tramadol-2017"); src("acetaminophen-codeine", "fda-dsc-codeine-tramadol-2017")
    E["ketorolac"]["geriatric"] = [{"from": 65, "max_single": q(15), "max_daily": q(60), "severity": "major", "note": "FDA label: 65 years and older, 15 mg IV/IM per dose, maximum 60 mg/day", "source": "fda-label:ketorolac"}]
    E["duloxetine"]["hepatic"] = {"severity": "major", "note": "FDA label: avoid in chronic liver disease or substantial alcohol use (hepatotoxicity)", "source": "fda-label:duloxetine"}
    src("duloxetine", fda("duloxetine"))
    E["allopurinol"]["renal"] = [
        {"below": 20, "severity": "moderate", "action": "dose_adjust", "basis": "CrCl", "note": "FDA label: CrCl 10-20 mL/min, 200 mg/day", "max_daily": q(200)},
        {"below": 10, "severity": "moderate", "action": "dose_adjust", "basis": "CrCl", "note": "FDA label: CrCl < 10 mL/min, 100 mg/day at most", "max_daily": q(100)}]
    src("allopurinol", fda("allopurinol"))
    for g in ("ibuprofen", "naproxen", "diclofenac", "celecoxib", "meloxicam", "ketorolac", "indomethacin"):
        if "pregnancy" in E[g]:
            E[g]["pregnancy"]["from_week"] = 20
    E["aspirin"]["pregnancy"] = {"severity": "moderate", "above_daily": q(150), "from_week": 20,
        "note": "Analgesic-dose aspirin: avoid at 20 weeks or later (FDA NSAID warning); low-dose aspirin 81 mg/day for preeclampsia prevention is recommended (USPSTF 2021)"}
    src("aspirin", "fda-dsc-nsaid-pregnancy-2020", "uspstf-aspirin-preeclampsia-2021")
    interactions["version"] = VER
    allergy["version"] = VER


def main() -> None:
    import importlib.util

    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("gen_medication_packs", root / "tools" / "gen_medication_packs.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    f = gen.build_formulary()
    i, a = gen.build_interactions(f), gen.build_allergy(f)
    apply(f, i, a)
    for name, pack in (("formulary", f), ("interactions", i), ("allergy_classes", a)):
        (root / "safemed_desktop" / "packs" / f"{name}.json").write_text(json.dumps(pack, indent=1, ensure_ascii=False) + "\n",
                                                                        encoding="utf-8")


if __name__ == "__main__":
    main()
