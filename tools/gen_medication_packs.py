"""Generate the medication knowledge packs (formulary, interactions, allergy classes).

Run ``.venv/bin/python tools/gen_medication_packs.py`` to rewrite
``safemed_desktop/packs/{formulary,interactions,allergy_classes}.json`` from the tables below, then
``pytest tests/medication`` (the packs are validated by ``safemed_desktop.signals.formulary``).

Editorial policy: every number comes from the cited source (U.S. FDA prescribing information on
DailyMed for the drug, ISMP high-alert list, AGS Beers 2023, KDIGO). When a limit depends on
indication, formulation or route in a way a free-text check cannot tell apart, the limit is left out
rather than guessed. Renal rules state their basis (eGFR or Cockcroft-Gault CrCl) as the source does.
"""

from __future__ import annotations

import json
from pathlib import Path

VERSION = "2026.11.0"
PACK_DIR = Path(__file__).resolve().parent.parent / "safemed_desktop" / "packs"

COMMON_SOURCES = {
    "ismp-high-alert-2024": "Institute for Safe Medication Practices. ISMP List of High-Alert Medications in Acute Care Settings. ISMP; 2024.",
    "onc-ddi-2012": "Phansalkar S, Desai AA, Bell D, et al. High-priority drug-drug interactions for use in electronic health records. J Am Med Inform Assoc. 2012;19(5):735-743. doi:10.1136/amiajnl-2011-000612",
    "beers-2023": "2023 American Geriatrics Society Beers Criteria Update Expert Panel. American Geriatrics Society 2023 updated AGS Beers Criteria for potentially inappropriate medication use in older adults. J Am Geriatr Soc. 2023;71(7):2052-2081.",
    "kdigo-2022-diabetes": "KDIGO 2022 Clinical Practice Guideline for Diabetes Management in Chronic Kidney Disease. Kidney Int. 2022;102(5S):S1-S127.",
    "kdigo-2024-ckd": "KDIGO 2024 Clinical Practice Guideline for the Evaluation and Management of Chronic Kidney Disease. Kidney Int. 2024;105(4S):S117-S314.",
    "fda-dsc-nsaid-pregnancy-2020": "U.S. FDA Drug Safety Communication: FDA recommends avoiding the use of NSAIDs in pregnancy at 20 weeks or later (15 Oct 2020).",
    "fda-dsc-statin-pregnancy-2021": "U.S. FDA Drug Safety Communication: FDA requests removal of strongest warning against using cholesterol-lowering statins during pregnancy (20 Jul 2021).",
    "fda-dsc-opioid-benzo-2016": "U.S. FDA Drug Safety Communication: FDA warns about serious risks and death when combining opioid pain or cough medicines with benzodiazepines; requires its strongest warning (31 Aug 2016).",
    "fda-dsc-codeine-tramadol-2017": "U.S. FDA Drug Safety Communication: FDA restricts use of prescription codeine pain and cough medicines and tramadol pain medicines in children (20 Apr 2017).",
    "fda-dsc-methylene-blue-2011": "U.S. FDA Drug Safety Communication: Serious CNS reactions possible when methylene blue is given to patients taking certain psychiatric medications (26 Jul 2011; updated 2011-10-20).",
    "fda-dsc-gabapentinoid-2019": "U.S. FDA Drug Safety Communication: FDA warns about serious breathing problems with seizure and nerve pain medicines gabapentin and pregabalin (19 Dec 2019).",
    "crediblemeds-qt": "CredibleMeds QTdrugs list (AZCERT), drugs with Known Risk of Torsades de Pointes.",
    "aap-redbook-2024": "American Academy of Pediatrics. Red Book: 2024-2027 Report of the Committee on Infectious Diseases (tetracycline/doxycycline use in children).",
    "jaaci-2022-drug-allergy": "Khan DA, Banerji A, Blumenthal KG, et al. Drug allergy: A 2022 practice parameter update. J Allergy Clin Immunol. 2022;150(6):1333-1393.",
    "strom-nejm-2003": "Strom BL, Schinnar R, Apter AJ, et al. Absence of cross-reactivity between sulfonamide antibiotics and sulfonamide nonantibiotics. N Engl J Med. 2003;349(17):1628-1635.",
}

# ---------------------------------------------------------------------------------------------------
# Formulary table.  D(generic, brands, synonyms, classes, routes, **rules)
#   single/daily=(value, unit)       adult maximum single dose / maximum daily dose
#   ped=dict(single_per_kg, daily_per_kg, unit, single_cap, daily_cap)
#   ha="ISMP category" (+ ha_routes="iv" when only that route is high-alert)
#   freq=("weekly", "context note")
#   forbid=[(route, severity, note)]
#   renal=[(egfr_below, severity, action, basis, note[, max_daily(value, unit)])]
#   preg=(severity, note)
#   age=[("below"|"from", years, severity, note[, source])]
#   comps="a|b" components of a combination product
# ---------------------------------------------------------------------------------------------------
DRUGS: list[dict] = []

OPIOID_HA = "opioids (IV, transdermal and oral, including liquid concentrates, immediate- and sustained-release)"
ANTITHROMBOTIC_HA = "antithrombotic agents (anticoagulants, direct thrombin and factor Xa inhibitors, heparins, thrombolytics)"
INSULIN_HA = "insulin, subcutaneous and IV"
CHEMO_HA = "chemotherapeutic agents, parenteral and oral"
NMB_HA = "neuromuscular blocking agents"
SULFONYLUREA_HA = "sulfonylurea hypoglycemics, oral"
SEDATION_HA = "sedation agents, IV moderate / anesthetic agents, general"
ADRENERGIC_HA = "adrenergic agonists, IV"
ANTIARRHYTHMIC_HA = "antiarrhythmics, IV"
INOTROPE_HA = "inotropic medications, IV"

NSAID_RENAL = [(30, "major", "avoid", "CrCl", "Avoid NSAIDs when CrCl < 30 mL/min (Beers 2023; KDIGO advises avoiding NSAIDs at GFR < 30)")]
NSAID_PREG = ("moderate", "Avoid at 20 weeks of gestation or later (oligohydramnios, fetal renal dysfunction; premature ductus closure from 30 weeks)")
ACE_PREG = ("contraindicated", "Boxed warning, fetal toxicity: drugs acting on the renin-angiotensin system injure the fetus; discontinue as soon as pregnancy is detected")
STATIN_PREG = ("moderate", "Labels no longer list pregnancy as a contraindication (FDA 2021); discontinue in most patients once pregnancy is recognised; not recommended while breastfeeding")
BEERS_ANTICHOL = ("from", 65, "moderate", "Beers 2023: avoid, strongly anticholinergic (confusion, constipation, falls) in adults 65 and older", "beers-2023")
BEERS_BENZO = ("from", 65, "moderate", "Beers 2023: avoid benzodiazepines in adults 65 and older (cognitive impairment, delirium, falls, fractures)", "beers-2023")
BEERS_SU = ("from", 65, "moderate", "Beers 2023: avoid sulfonylureas as first- or second-line therapy in older adults (prolonged hypoglycaemia)", "beers-2023")
FQ_CHILD = ("below", 18, "moderate", "Not first-line in patients under 18 (arthropathy, musculoskeletal adverse events); reserve for specific indications per label")
TETRA_CHILD = ("below", 8, "moderate", "Permanent tooth discoloration under 8 years; label restricts use (short doxycycline courses are accepted for e.g. rickettsial disease per AAP Red Book)")


def D(generic: str, brands: str = "", syn: str = "", cls: str = "", routes: str = "oral", **kw) -> None:
    DRUGS.append(dict(generic=generic, brands=brands, syn=syn, cls=cls, routes=routes, **kw))


# --- analgesics, antipyretics, NSAIDs ---
D("acetaminophen", "Tylenol|Ofirmev|Panadol|Mapap", "paracetamol|APAP", "analgesic|antipyretic", "oral|iv|rectal",
  single=(1000, "mg"), daily=(4000, "mg"),
  ped=dict(single_per_kg=15, daily_per_kg=75, unit="mg", single_cap=(1000, "mg"), daily_cap=(4000, "mg")))
D("ibuprofen", "Advil|Motrin|Caldolor", "", "nsaid|nonselective nsaid", "oral|iv", single=(800, "mg"), daily=(3200, "mg"),
  ped=dict(single_per_kg=10, daily_per_kg=40, unit="mg", single_cap=(800, "mg"), daily_cap=(3200, "mg")),
  renal=NSAID_RENAL, preg=NSAID_PREG)
D("naproxen", "Aleve|Naprosyn|Anaprox|Naprelan", "naproxen sodium", "nsaid|nonselective nsaid", daily=(1500, "mg"),
  renal=NSAID_RENAL, preg=NSAID_PREG, note="Daily maximum 1500 mg naproxen (base) for limited periods; naproxen sodium 550 mg = naproxen 500 mg.")
D("aspirin", "Bayer|Ecotrin|Bufferin", "acetylsalicylic acid|ASA", "nsaid|nonselective nsaid|salicylate|antiplatelet", "oral|rectal",
  single=(1000, "mg"), daily=(4000, "mg"), renal=NSAID_RENAL,
  age=[("below", 18, "major", "Reye syndrome: avoid in children and teenagers, especially with viral illness (varicella, influenza); specialist exceptions such as Kawasaki disease")])
D("celecoxib", "Celebrex", "", "nsaid|cox-2 selective nsaid", renal=NSAID_RENAL, preg=NSAID_PREG)
D("diclofenac", "Voltaren|Cataflam|Zipsor|Cambia", "", "nsaid|nonselective nsaid", "oral|topical", daily=(200, "mg"),
  renal=NSAID_RENAL, preg=NSAID_PREG)
D("meloxicam", "Mobic|Vivlodex", "", "nsaid|nonselective nsaid", single=(15, "mg"), daily=(15, "mg"), renal=NSAID_RENAL, preg=NSAID_PREG)
D("ketorolac", "Toradol|Sprix", "", "nsaid|nonselective nsaid", "oral|iv|im|intranasal", single=(60, "mg"), daily=(120, "mg"),
  renal=[(30, "contraindicated", "contraindicated", "CrCl", "Label: contraindicated in advanced renal impairment and in patients at risk of renal failure from volume depletion (the label gives no number; this pack uses CrCl < 30)")],
  preg=NSAID_PREG, age=[("from", 65, "moderate", "Beers 2023: avoid ketorolac in adults 65 and older (GI bleeding, acute kidney injury)", "beers-2023")],
  note="Parenteral: 60 mg IM single dose; 120 mg/day maximum; oral 40 mg/day; total therapy 5 days maximum.")
D("indomethacin", "Indocin|Tivorbex", "", "nsaid|nonselective nsaid", "oral|rectal|iv", daily=(200, "mg"), renal=NSAID_RENAL, preg=NSAID_PREG,
  age=[("from", 65, "moderate", "Beers 2023: avoid indomethacin in adults 65 and older (CNS effects, highest NSAID risk)", "beers-2023")])
# --- opioids ---
D("tramadol", "Ultram|ConZip", "", "opioid|serotonergic", single=(100, "mg"), daily=(400, "mg"), ha=OPIOID_HA,
  renal=[(30, "moderate", "dose_adjust", "CrCl", "CrCl < 30 mL/min: dose every 12 hours, maximum 200 mg/day (immediate release)", (200, "mg"))],
  age=[("below", 12, "contraindicated", "Contraindicated under 12 years (life-threatening respiratory depression); also contraindicated under 18 after tonsillectomy/adenoidectomy", "fda-dsc-codeine-tramadol-2017")])
D("codeine", "", "codeine sulfate", "opioid", single=(60, "mg"), daily=(360, "mg"), ha=OPIOID_HA,
  age=[("below", 12, "contraindicated", "Contraindicated under 12 years (ultra-rapid CYP2D6 metabolism, fatal respiratory depression); also under 18 after tonsillectomy/adenoidectomy", "fda-dsc-codeine-tramadol-2017")])
D("hydrocodone", "Hysingla|Zohydro", "", "opioid", ha=OPIOID_HA)
D("hydrocodone-acetaminophen", "Norco|Vicodin|Lortab", "hydrocodone/APAP", "opioid|analgesic", comps="hydrocodone|acetaminophen", ha=OPIOID_HA)
D("oxycodone", "OxyContin|Roxicodone|Oxaydo", "", "opioid", ha=OPIOID_HA)
D("oxycodone-acetaminophen", "Percocet|Endocet", "oxycodone/APAP", "opioid|analgesic", comps="oxycodone|acetaminophen", ha=OPIOID_HA)
D("morphine", "MS Contin|Kadian|Duramorph|Infumorph", "morphine sulfate", "opioid", "oral|iv|im|subcut|epidural|intrathecal", ha=OPIOID_HA)
D("hydromorphone", "Dilaudid|Exalgo", "", "opioid", "oral|iv|im|subcut", ha=OPIOID_HA)
D("fentanyl", "Duragesic|Sublimaze|Actiq|Fentora", "", "opioid|serotonergic", "iv|transdermal|buccal|intranasal|epidural", ha=OPIOID_HA)
D("methadone", "Dolophine|Methadose", "", "opioid|serotonergic|qt-prolonging", "oral|iv", ha=OPIOID_HA)
D("meperidine", "Demerol", "pethidine", "opioid|serotonergic", "oral|iv|im", ha=OPIOID_HA,
  age=[("from", 65, "moderate", "Beers 2023: avoid meperidine in adults 65 and older (neurotoxicity, delirium)", "beers-2023")])
D("buprenorphine", "Subutex|Butrans|Belbuca|Sublocade", "", "opioid", "sublingual|transdermal|buccal|subcut|iv", ha=OPIOID_HA)
D("buprenorphine-naloxone", "Suboxone|Zubsolv", "", "opioid", "sublingual", comps="buprenorphine|naloxone", ha=OPIOID_HA)
D("tapentadol", "Nucynta", "", "opioid|serotonergic", ha=OPIOID_HA)
D("naloxone", "Narcan|Kloxxado", "", "opioid antagonist", "iv|im|subcut|intranasal")
# --- gout ---
D("colchicine", "Colcrys|Mitigare|Gloperba", "", "antigout", single=(1.2, "mg"), daily=(2.4, "mg"),
  note="Gout flare: 1.2 mg then 0.6 mg one hour later (1.8 mg total); prophylaxis 1.2 mg/day; FMF up to 2.4 mg/day.")
D("allopurinol", "Zyloprim|Aloprim", "", "xanthine oxidase inhibitor", "oral|iv", daily=(800, "mg"))
D("febuxostat", "Uloric", "", "xanthine oxidase inhibitor", daily=(80, "mg"))
# --- cardiovascular ---
for g, b, mx in (("lisinopril", "Prinivil|Zestril|Qbrelis", 80), ("enalapril", "Vasotec|Epaned", 40), ("ramipril", "Altace", 20),
                 ("benazepril", "Lotensin", 80), ("quinapril", "Accupril", 80)):
    D(g, b, "", "ace inhibitor|raas inhibitor", daily=(mx, "mg"), preg=ACE_PREG)
for g, b, mx in (("losartan", "Cozaar", 100), ("valsartan", "Diovan", 320), ("irbesartan", "Avapro", 300),
                 ("olmesartan", "Benicar", 40), ("candesartan", "Atacand", 32), ("telmisartan", "Micardis", 80)):
    D(g, b, "", "arb|raas inhibitor", daily=(mx, "mg"), preg=ACE_PREG)
D("sacubitril-valsartan", "Entresto", "sacubitril/valsartan", "arni|arb|raas inhibitor", comps="valsartan", preg=ACE_PREG)
D("amlodipine", "Norvasc|Katerzia", "", "calcium channel blocker|dihydropyridine", single=(10, "mg"), daily=(10, "mg"))
D("nifedipine", "Procardia|Adalat", "", "calcium channel blocker|dihydropyridine")
D("diltiazem", "Cardizem|Cartia|Tiazac", "", "calcium channel blocker|non-dihydropyridine|moderate cyp3a4 inhibitor", "oral|iv")
D("verapamil", "Calan|Isoptin|Verelan", "", "calcium channel blocker|non-dihydropyridine|moderate cyp3a4 inhibitor", "oral|iv", daily=(480, "mg"))
D("metoprolol", "Lopressor|Toprol-XL|Toprol", "metoprolol tartrate|metoprolol succinate", "beta blocker", "oral|iv", daily=(450, "mg"))
D("atenolol", "Tenormin", "", "beta blocker", daily=(200, "mg"))
D("carvedilol", "Coreg", "", "beta blocker")
D("propranolol", "Inderal|InnoPran", "", "beta blocker", "oral|iv")
D("hydrochlorothiazide", "Microzide", "HCTZ", "thiazide diuretic|diuretic")
D("chlorthalidone", "Thalitone", "", "thiazide diuretic|diuretic")
D("furosemide", "Lasix|Furoscix", "", "loop diuretic|diuretic", "oral|iv|im|subcut", daily=(600, "mg"))
D("bumetanide", "Bumex", "", "loop diuretic|diuretic", "oral|iv|im")
D("torsemide", "Demadex|Soaanz", "", "loop diuretic|diuretic", "oral|iv")
D("spironolactone", "Aldactone|CaroSpir", "", "potassium-sparing diuretic|mineralocorticoid antagonist|diuretic", daily=(400, "mg"))
D("hydralazine", "Apresoline", "", "vasodilator", "oral|iv|im")
D("clonidine", "Catapres|Kapvay", "", "alpha-2 agonist", "oral|transdermal|epidural", daily=(2.4, "mg"))
D("nitroglycerin", "Nitrostat|Nitro-Dur|Nitrolingual|Nitro-Bid", "glyceryl trinitrate|GTN", "nitrate", "sublingual|transdermal|iv|topical")
D("isosorbide mononitrate", "Imdur|Monoket", "ISMN", "nitrate")
D("isosorbide dinitrate", "Isordil|Dilatrate", "ISDN", "nitrate", "oral|sublingual")
D("digoxin", "Lanoxin", "", "cardiac glycoside", "oral|iv", ha=INOTROPE_HA, ha_routes="iv")
D("amiodarone", "Pacerone|Cordarone|Nexterone", "", "antiarrhythmic|qt-prolonging", "oral|iv", ha=ANTIARRHYTHMIC_HA, ha_routes="iv",
  preg=("moderate", "May cause fetal harm (neonatal hypo- or hyperthyroidism, bradycardia); use only if benefit outweighs risk"))
D("sotalol", "Betapace|Sotylize", "", "antiarrhythmic|beta blocker|qt-prolonging", "oral|iv", ha=ANTIARRHYTHMIC_HA, ha_routes="iv",
  renal=[(40, "contraindicated", "contraindicated", "CrCl", "Contraindicated for atrial fibrillation/flutter when CrCl < 40 mL/min (label)")])
D("dofetilide", "Tikosyn", "", "antiarrhythmic|qt-prolonging",
  renal=[(20, "contraindicated", "contraindicated", "CrCl", "Contraindicated when CrCl < 20 mL/min; dose by CrCl above that")])
D("lidocaine", "Xylocaine", "lignocaine", "antiarrhythmic|local anesthetic", "iv|topical|subcut|epidural", ha=ANTIARRHYTHMIC_HA, ha_routes="iv")
D("atorvastatin", "Lipitor", "", "statin", daily=(80, "mg"), preg=STATIN_PREG)
D("simvastatin", "Zocor|Flolipid", "", "statin", daily=(80, "mg"), preg=STATIN_PREG,
  note="80 mg/day only for patients already tolerating it for 12 months or more (myopathy); not for new starts.")
D("rosuvastatin", "Crestor|Ezallor", "", "statin", daily=(40, "mg"), preg=STATIN_PREG)
D("pravastatin", "Pravachol", "", "statin", daily=(80, "mg"), preg=STATIN_PREG)
D("lovastatin", "Mevacor|Altoprev", "", "statin", daily=(80, "mg"), preg=STATIN_PREG)
D("ezetimibe", "Zetia", "", "cholesterol absorption inhibitor", single=(10, "mg"), daily=(10, "mg"))
D("gemfibrozil", "Lopid", "", "fibrate", daily=(1200, "mg"))
# --- antithrombotics ---
D("warfarin", "Coumadin|Jantoven", "", "anticoagulant|vitamin k antagonist", ha=ANTITHROMBOTIC_HA,
  preg=("contraindicated", "Contraindicated in pregnancy (embryopathy, fetal haemorrhage) except in women with mechanical heart valves at high thromboembolic risk"))
D("heparin", "", "unfractionated heparin|UFH", "anticoagulant|heparin", "iv|subcut", ha=ANTITHROMBOTIC_HA,
  forbid=[("im", "major", "Do not give heparin intramuscularly (haematoma)")])
D("enoxaparin", "Lovenox", "", "anticoagulant|heparin|low molecular weight heparin", "subcut|iv", ha=ANTITHROMBOTIC_HA,
  forbid=[("im", "major", "Do not give enoxaparin intramuscularly")],
  renal=[(30, "moderate", "dose_adjust", "CrCl", "CrCl < 30 mL/min: reduce dose (treatment 1 mg/kg once daily; prophylaxis 30 mg once daily)")])
D("dalteparin", "Fragmin", "", "anticoagulant|heparin|low molecular weight heparin", "subcut", ha=ANTITHROMBOTIC_HA)
D("fondaparinux", "Arixtra", "", "anticoagulant|factor xa inhibitor", "subcut", ha=ANTITHROMBOTIC_HA,
  renal=[(30, "contraindicated", "contraindicated", "CrCl", "Contraindicated when CrCl < 30 mL/min (bleeding)")])
D("apixaban", "Eliquis", "", "anticoagulant|doac|factor xa inhibitor", single=(10, "mg"), daily=(20, "mg"), ha=ANTITHROMBOTIC_HA,
  note="Atrial fibrillation dose reduction uses age >= 80, weight <= 60 kg, serum creatinine >= 1.5 mg/dL (two of three), not eGFR.")
D("rivaroxaban", "Xarelto", "", "anticoagulant|doac|factor xa inhibitor", single=(20, "mg"), daily=(30, "mg"), ha=ANTITHROMBOTIC_HA,
  renal=[(50, "moderate", "dose_adjust", "CrCl", "Atrial fibrillation: CrCl <= 50 mL/min -> 15 mg once daily"),
         (15, "major", "avoid", "CrCl", "Avoid when CrCl < 15 mL/min")])
D("dabigatran", "Pradaxa", "", "anticoagulant|doac|direct thrombin inhibitor", single=(150, "mg"), daily=(300, "mg"), ha=ANTITHROMBOTIC_HA,
  renal=[(30, "moderate", "dose_adjust", "CrCl", "Atrial fibrillation: CrCl 15-30 mL/min -> 75 mg twice daily; no VTE-treatment dosing below CrCl 30"),
         (15, "major", "avoid", "CrCl", "Not recommended when CrCl < 15 mL/min or on dialysis")])
D("edoxaban", "Savaysa|Lixiana", "", "anticoagulant|doac|factor xa inhibitor", single=(60, "mg"), daily=(60, "mg"), ha=ANTITHROMBOTIC_HA,
  renal=[(50, "moderate", "dose_adjust", "CrCl", "CrCl 15-50 mL/min -> 30 mg once daily (also: do not use for AF when CrCl > 95 mL/min)"),
         (15, "major", "avoid", "CrCl", "Not recommended when CrCl < 15 mL/min")])
D("argatroban", "", "", "anticoagulant|direct thrombin inhibitor", "iv", ha=ANTITHROMBOTIC_HA)
D("bivalirudin", "Angiomax", "", "anticoagulant|direct thrombin inhibitor", "iv", ha=ANTITHROMBOTIC_HA)
D("alteplase", "Activase|Cathflo", "tPA|rtPA", "thrombolytic", "iv", ha=ANTITHROMBOTIC_HA)
D("tenecteplase", "TNKase", "TNK", "thrombolytic", "iv", ha=ANTITHROMBOTIC_HA)
D("eptifibatide", "Integrilin", "", "antiplatelet|glycoprotein iib/iiia inhibitor", "iv", ha=ANTITHROMBOTIC_HA)
D("clopidogrel", "Plavix", "", "antiplatelet|p2y12 inhibitor")
D("prasugrel", "Effient", "", "antiplatelet|p2y12 inhibitor", single=(60, "mg"),
  age=[("from", 75, "moderate", "Generally not recommended at 75 years or older (fatal and intracranial bleeding) except high-risk situations")])
D("ticagrelor", "Brilinta", "", "antiplatelet|p2y12 inhibitor", single=(180, "mg"))
# --- diabetes ---
D("metformin", "Glucophage|Fortamet|Glumetza|Riomet", "", "biguanide|antidiabetic", daily=(2550, "mg"),
  renal=[(45, "moderate", "do_not_start", "eGFR", "eGFR 30-45 mL/min/1.73m2: starting metformin is not recommended; if already taking, assess benefit/risk and reduce dose"),
         (30, "contraindicated", "contraindicated", "eGFR", "Contraindicated when eGFR < 30 mL/min/1.73m2 (lactic acidosis)")],
  src=["kdigo-2022-diabetes"])
D("glipizide", "Glucotrol", "", "sulfonylurea|antidiabetic", daily=(40, "mg"), ha=SULFONYLUREA_HA, age=[BEERS_SU])
D("glyburide", "Diabeta|Glynase|Micronase", "glibenclamide", "sulfonylurea|antidiabetic", daily=(20, "mg"), ha=SULFONYLUREA_HA, age=[BEERS_SU])
D("glimepiride", "Amaryl", "", "sulfonylurea|antidiabetic", daily=(8, "mg"), ha=SULFONYLUREA_HA, age=[BEERS_SU])
D("pioglitazone", "Actos", "", "thiazolidinedione|antidiabetic", daily=(45, "mg"))
D("sitagliptin", "Januvia|Zituvio", "", "dpp-4 inhibitor|antidiabetic", single=(100, "mg"), daily=(100, "mg"),
  renal=[(45, "moderate", "dose_adjust", "eGFR", "eGFR 30-45: 50 mg once daily", (50, "mg")),
         (30, "moderate", "dose_adjust", "eGFR", "eGFR < 30 or dialysis: 25 mg once daily", (25, "mg"))])
D("empagliflozin", "Jardiance", "", "sglt2 inhibitor|antidiabetic", daily=(25, "mg"),
  renal=[(30, "moderate", "do_not_start", "eGFR", "Not recommended for glycaemic control when eGFR < 30 (heart failure/CKD indications: initiation down to eGFR 20)")])
D("dapagliflozin", "Farxiga|Forxiga", "", "sglt2 inhibitor|antidiabetic", daily=(10, "mg"),
  renal=[(25, "moderate", "do_not_start", "eGFR", "Initiation not recommended when eGFR < 25 mL/min/1.73m2")])
D("canagliflozin", "Invokana", "", "sglt2 inhibitor|antidiabetic", daily=(300, "mg"),
  renal=[(30, "moderate", "do_not_start", "eGFR", "Initiation not recommended when eGFR < 30 mL/min/1.73m2")])
D("semaglutide", "Ozempic|Wegovy|Rybelsus", "", "glp-1 receptor agonist|antidiabetic", "subcut|oral")
D("liraglutide", "Victoza|Saxenda", "", "glp-1 receptor agonist|antidiabetic", "subcut")
D("dulaglutide", "Trulicity", "", "glp-1 receptor agonist|antidiabetic", "subcut")
D("tirzepatide", "Mounjaro|Zepbound", "", "gip/glp-1 receptor agonist|antidiabetic", "subcut")
D("insulin", "", "insulins", "insulin|antidiabetic", "subcut|iv", ha=INSULIN_HA, label=False)
D("insulin glargine", "Lantus|Basaglar|Toujeo|Semglee|Rezvoglar", "glargine", "insulin|long-acting insulin|antidiabetic", "subcut", ha=INSULIN_HA,
  forbid=[("iv", "major", "Long-acting insulin glargine must not be given intravenously or in insulin pumps")])
D("insulin detemir", "Levemir", "detemir", "insulin|long-acting insulin|antidiabetic", "subcut", ha=INSULIN_HA,
  forbid=[("iv", "major", "Insulin detemir must not be given intravenously")])
D("insulin degludec", "Tresiba", "degludec", "insulin|long-acting insulin|antidiabetic", "subcut", ha=INSULIN_HA,
  forbid=[("iv", "major", "Insulin degludec must not be given intravenously")])
D("insulin lispro", "Humalog|Admelog|Lyumjev", "lispro", "insulin|rapid-acting insulin|antidiabetic", "subcut|iv", ha=INSULIN_HA)
D("insulin aspart", "Novolog|Fiasp|NovoRapid", "aspart", "insulin|rapid-acting insulin|antidiabetic", "subcut|iv", ha=INSULIN_HA)
D("insulin glulisine", "Apidra", "glulisine", "insulin|rapid-acting insulin|antidiabetic", "subcut|iv", ha=INSULIN_HA)
D("insulin regular", "Humulin R|Novolin R|Myxredlin", "regular insulin", "insulin|short-acting insulin|antidiabetic", "subcut|iv|im", ha=INSULIN_HA)
D("insulin isophane", "Humulin N|Novolin N", "NPH insulin|insulin NPH", "insulin|intermediate-acting insulin|antidiabetic", "subcut", ha=INSULIN_HA,
  forbid=[("iv", "major", "NPH (isophane) insulin suspension must not be given intravenously")])
# --- GI ---
D("omeprazole", "Prilosec", "", "proton pump inhibitor", "oral")
D("esomeprazole", "Nexium", "", "proton pump inhibitor", "oral|iv")
D("pantoprazole", "Protonix", "", "proton pump inhibitor", "oral|iv")
D("lansoprazole", "Prevacid", "", "proton pump inhibitor")
D("famotidine", "Pepcid", "", "h2 antagonist", "oral|iv")
D("ondansetron", "Zofran|Zuplenz", "", "antiemetic|5-ht3 antagonist|qt-prolonging", "oral|iv|im")
D("metoclopramide", "Reglan|Gimoti", "", "antiemetic|prokinetic", "oral|iv|im|intranasal")
D("promethazine", "Phenergan|Promethegan", "", "antihistamine|antiemetic|phenothiazine", "oral|iv|im|rectal",
  forbid=[("subcut", "contraindicated", "Subcutaneous injection is contraindicated (tissue necrosis)"),
          ("intra-arterial", "contraindicated", "Intra-arterial injection is contraindicated (gangrene)")],
  age=[("below", 2, "contraindicated", "Boxed warning: contraindicated under 2 years (fatal respiratory depression)"),
       ("from", 65, "moderate", "Beers 2023: avoid, strongly anticholinergic in adults 65 and older", "beers-2023")])
D("misoprostol", "Cytotec", "", "prostaglandin analogue",
  preg=("contraindicated", "Boxed warning: contraindicated in pregnancy when used to reduce NSAID-induced ulcer risk (abortion, birth defects, uterine rupture)"))
D("loperamide", "Imodium", "", "antidiarrheal|opioid receptor agonist", daily=(16, "mg"),
  age=[("below", 2, "contraindicated", "Contraindicated under 2 years (respiratory depression, cardiac adverse reactions)")])
# --- respiratory / allergy ---
D("albuterol", "ProAir|Ventolin|Proventil", "salbutamol", "beta-2 agonist", "inhaled|oral")
D("fluticasone", "Flonase|Flovent|Arnuity", "", "corticosteroid", "inhaled|intranasal")
D("budesonide", "Pulmicort|Entocort|Uceris|Rhinocort", "", "corticosteroid", "inhaled|oral|intranasal")
D("tiotropium", "Spiriva", "", "anticholinergic bronchodilator", "inhaled")
D("montelukast", "Singulair", "", "leukotriene receptor antagonist", single=(10, "mg"), daily=(10, "mg"))
D("theophylline", "Theo-24|Elixophyllin", "", "methylxanthine", "oral|iv")
D("cetirizine", "Zyrtec", "", "antihistamine", daily=(10, "mg"))
D("loratadine", "Claritin", "", "antihistamine", daily=(10, "mg"))
D("fexofenadine", "Allegra", "", "antihistamine", daily=(180, "mg"))
D("diphenhydramine", "Benadryl", "", "antihistamine|anticholinergic", "oral|iv|im", single=(50, "mg"), daily=(300, "mg"), age=[BEERS_ANTICHOL])
D("hydroxyzine", "Atarax|Vistaril", "", "antihistamine|anticholinergic", "oral|im", age=[BEERS_ANTICHOL])
D("benzonatate", "Tessalon", "", "antitussive", single=(200, "mg"), daily=(600, "mg"),
  age=[("below", 10, "moderate", "Not approved under 10 years; accidental ingestion in children under 2 has been fatal")])
D("dextromethorphan", "Delsym|Robitussin DM", "", "antitussive|serotonergic", daily=(120, "mg"))
D("pseudoephedrine", "Sudafed", "", "sympathomimetic|decongestant", daily=(240, "mg"))
D("prednisone", "Deltasone|Rayos", "", "corticosteroid")
D("prednisolone", "Orapred|Millipred", "", "corticosteroid")
D("methylprednisolone", "Medrol|Solu-Medrol|Depo-Medrol", "", "corticosteroid", "oral|iv|im")
D("dexamethasone", "Decadron|Hemady", "", "corticosteroid", "oral|iv|im")
# --- psychiatry / neurology ---
D("sertraline", "Zoloft", "", "ssri|serotonergic", daily=(200, "mg"))
D("fluoxetine", "Prozac|Sarafem", "", "ssri|serotonergic", daily=(80, "mg"))
D("citalopram", "Celexa", "", "ssri|serotonergic|qt-prolonging", daily=(40, "mg"),
  note="Maximum 20 mg/day above age 60, in CYP2C19 poor metabolisers or with cimetidine (QT prolongation).")
D("escitalopram", "Lexapro", "", "ssri|serotonergic|qt-prolonging", daily=(20, "mg"))
D("paroxetine", "Paxil|Pexeva|Brisdelle", "", "ssri|serotonergic|anticholinergic",
  age=[BEERS_ANTICHOL])
D("fluvoxamine", "Luvox", "", "ssri|serotonergic|strong cyp1a2 inhibitor", daily=(300, "mg"))
D("venlafaxine", "Effexor", "", "snri|serotonergic", daily=(375, "mg"))
D("duloxetine", "Cymbalta|Drizalma", "", "snri|serotonergic", daily=(120, "mg"),
  renal=[(30, "major", "avoid", "CrCl", "Avoid when CrCl < 30 mL/min")])
D("bupropion", "Wellbutrin|Zyban|Aplenzin|Forfivo", "", "antidepressant|ndri", daily=(450, "mg"))
D("mirtazapine", "Remeron", "", "antidepressant|serotonergic", daily=(45, "mg"))
D("trazodone", "Desyrel|Oleptro", "", "antidepressant|serotonergic", daily=(600, "mg"))
D("amitriptyline", "Elavil", "", "tca|serotonergic|anticholinergic", age=[BEERS_ANTICHOL])
D("nortriptyline", "Pamelor", "", "tca|serotonergic|anticholinergic", daily=(150, "mg"))
D("buspirone", "Buspar", "", "anxiolytic|serotonergic", daily=(60, "mg"))
D("phenelzine", "Nardil", "", "maoi", daily=(90, "mg"))
D("tranylcypromine", "Parnate", "", "maoi", daily=(60, "mg"))
D("isocarboxazid", "Marplan", "", "maoi", daily=(60, "mg"))
D("selegiline", "Emsam|Eldepryl|Zelapar", "", "maoi", "oral|transdermal")
D("alprazolam", "Xanax", "", "benzodiazepine", daily=(10, "mg"), age=[BEERS_BENZO])
D("lorazepam", "Ativan|Loreev", "", "benzodiazepine", "oral|iv|im", daily=(10, "mg"), ha=SEDATION_HA, ha_routes="iv", age=[BEERS_BENZO])
D("clonazepam", "Klonopin", "", "benzodiazepine", daily=(20, "mg"), age=[BEERS_BENZO])
D("diazepam", "Valium|Diastat|Valtoco", "", "benzodiazepine", "oral|iv|im|rectal|intranasal", age=[BEERS_BENZO])
D("midazolam", "Versed|Seizalam|Nayzilam", "", "benzodiazepine", "iv|im|oral|intranasal", ha=SEDATION_HA, age=[BEERS_BENZO])
D("zolpidem", "Ambien|Edluar|Intermezzo", "", "sedative-hypnotic", single=(12.5, "mg"), daily=(12.5, "mg"),
  note="Immediate release: 10 mg maximum (5 mg for women); extended release (Ambien CR): 12.5 mg maximum.",
  age=[("from", 65, "moderate", "Beers 2023: avoid nonbenzodiazepine 'Z-drug' hypnotics in adults 65 and older (delirium, falls)", "beers-2023")])
D("ramelteon", "Rozerem", "", "melatonin receptor agonist", single=(8, "mg"), daily=(8, "mg"))
D("quetiapine", "Seroquel", "", "antipsychotic", daily=(800, "mg"))
D("aripiprazole", "Abilify", "", "antipsychotic", "oral|im", daily=(30, "mg"))
D("risperidone", "Risperdal", "", "antipsychotic", "oral|im", daily=(16, "mg"))
D("olanzapine", "Zyprexa", "", "antipsychotic", "oral|im", daily=(20, "mg"))
D("haloperidol", "Haldol", "", "antipsychotic|qt-prolonging", "oral|iv|im")
D("clozapine", "Clozaril|Versacloz", "", "antipsychotic", daily=(900, "mg"))
D("lithium", "Lithobid", "lithium carbonate", "mood stabilizer",
  preg=("moderate", "May cause fetal harm (cardiac malformations, Ebstein anomaly); weigh risk, monitor levels closely"))
D("lamotrigine", "Lamictal", "", "anticonvulsant|aromatic anticonvulsant")
D("levetiracetam", "Keppra|Spritam", "", "anticonvulsant", "oral|iv", daily=(3000, "mg"),
  renal=[(80, "moderate", "dose_adjust", "CrCl", "CrCl 50-80 mL/min: 500-1000 mg every 12 h", (2000, "mg")),
         (50, "moderate", "dose_adjust", "CrCl", "CrCl 30-50 mL/min: 250-750 mg every 12 h", (1500, "mg")),
         (30, "moderate", "dose_adjust", "CrCl", "CrCl < 30 mL/min: 250-500 mg every 12 h (dialysis: 500-1000 mg daily plus supplement)", (1000, "mg"))])
D("topiramate", "Topamax|Trokendi|Qudexy", "", "anticonvulsant", daily=(400, "mg"),
  preg=("moderate", "Oral clefts in first-trimester exposure; use only if benefit justifies risk"))
D("valproate", "Depakote|Depakene|Depacon", "valproic acid|divalproex|divalproex sodium|sodium valproate", "anticonvulsant|mood stabilizer", "oral|iv",
  preg=("contraindicated", "Boxed warning, fetal risk (neural tube defects, lower IQ): contraindicated for migraine prophylaxis in pregnancy; for epilepsy or bipolar disorder only if alternatives are unsuitable"))
D("carbamazepine", "Tegretol|Carbatrol|Epitol|Equetro", "", "anticonvulsant|aromatic anticonvulsant|strong cyp3a4 inducer", daily=(1600, "mg"),
  preg=("moderate", "Neural tube defects and other malformations; weigh risk"))
D("phenytoin", "Dilantin|Phenytek", "", "anticonvulsant|aromatic anticonvulsant|strong cyp3a4 inducer", "oral|iv",
  preg=("moderate", "Fetal hydantoin syndrome; weigh risk"))
D("gabapentin", "Neurontin|Gralise|Horizant", "", "gabapentinoid|anticonvulsant", daily=(3600, "mg"),
  renal=[(60, "moderate", "dose_adjust", "CrCl", "CrCl 30-59 mL/min: 400-1400 mg/day in 2 doses", (1400, "mg")),
         (30, "moderate", "dose_adjust", "CrCl", "CrCl 15-29 mL/min: 200-700 mg/day", (700, "mg")),
         (15, "moderate", "dose_adjust", "CrCl", "CrCl < 15 mL/min: 100-300 mg/day", (300, "mg"))])
D("pregabalin", "Lyrica", "", "gabapentinoid|anticonvulsant", daily=(600, "mg"),
  renal=[(60, "moderate", "dose_adjust", "CrCl", "CrCl 30-60 mL/min: 75-300 mg/day", (300, "mg")),
         (30, "moderate", "dose_adjust", "CrCl", "CrCl 15-30 mL/min: 25-150 mg/day", (150, "mg")),
         (15, "moderate", "dose_adjust", "CrCl", "CrCl < 15 mL/min: 25-75 mg/day", (75, "mg"))])
D("sumatriptan", "Imitrex|Tosymra|Zembrace|Onzetra", "", "triptan|serotonergic", "oral|subcut|intranasal",
  note="Oral: 100 mg single, 200 mg per 24 h; subcutaneous 6 mg single, 12 mg per 24 h.")
D("rizatriptan", "Maxalt", "", "triptan|serotonergic", single=(10, "mg"), daily=(30, "mg"))
D("methylphenidate", "Ritalin|Concerta|Daytrana|Jornay", "", "cns stimulant", "oral|transdermal")
D("amphetamine", "Adderall|Evekeo|Adzenys", "dextroamphetamine|mixed amphetamine salts", "cns stimulant|sympathomimetic")
D("lisdexamfetamine", "Vyvanse", "", "cns stimulant", daily=(70, "mg"))
D("donepezil", "Aricept|Adlarity", "", "cholinesterase inhibitor|qt-prolonging", daily=(23, "mg"))
D("memantine", "Namenda", "", "nmda antagonist", daily=(28, "mg"))
D("cyclobenzaprine", "Flexeril|Amrix", "", "muscle relaxant|anticholinergic", daily=(30, "mg"), age=[BEERS_ANTICHOL])
D("tizanidine", "Zanaflex", "", "muscle relaxant|alpha-2 agonist", single=(16, "mg"), daily=(36, "mg"))
D("baclofen", "Lioresal|Ozobax|Fleqsuvy|Gablofen", "", "muscle relaxant", "oral|intrathecal", daily=(80, "mg"))
D("carbidopa-levodopa", "Sinemet|Rytary|Duopa", "levodopa/carbidopa|carbidopa/levodopa", "antiparkinson")
# --- anti-infectives ---
D("amoxicillin", "Amoxil|Moxatag", "", "penicillin|beta-lactam|antibiotic")
D("amoxicillin-clavulanate", "Augmentin", "amoxicillin/clavulanate|co-amoxiclav|amox-clav", "penicillin|beta-lactam|antibiotic")
D("penicillin v", "Pen VK|Veetids", "penicillin v potassium|phenoxymethylpenicillin|penicillin VK", "penicillin|beta-lactam|antibiotic")
D("penicillin g", "Pfizerpen", "penicillin g potassium|benzylpenicillin|aqueous penicillin", "penicillin|beta-lactam|antibiotic", "iv|im")
D("penicillin g benzathine", "Bicillin L-A|Bicillin|Extencilline", "benzathine penicillin|benzathine penicillin g", "penicillin|beta-lactam|antibiotic", "im",
  forbid=[("iv", "contraindicated", "Boxed warning: for deep intramuscular injection only; intravenous administration has caused cardiorespiratory arrest and death")])
D("ampicillin", "Principen", "", "penicillin|beta-lactam|antibiotic", "oral|iv|im")
D("ampicillin-sulbactam", "Unasyn", "ampicillin/sulbactam", "penicillin|beta-lactam|antibiotic", "iv|im")
D("piperacillin-tazobactam", "Zosyn", "piperacillin/tazobactam|pip-tazo", "penicillin|beta-lactam|antibiotic", "iv")
D("nafcillin", "", "", "penicillin|beta-lactam|antibiotic", "iv")
D("dicloxacillin", "Dycill", "", "penicillin|beta-lactam|antibiotic")
D("cephalexin", "Keflex|Daxbia", "cefalexin", "cephalosporin|first-generation cephalosporin|beta-lactam|antibiotic", daily=(4000, "mg"))
D("cefadroxil", "Duricef", "", "cephalosporin|first-generation cephalosporin|beta-lactam|antibiotic")
D("cefazolin", "Ancef|Kefzol", "", "cephalosporin|first-generation cephalosporin|beta-lactam|antibiotic", "iv|im")
D("cefuroxime", "Ceftin|Zinacef", "", "cephalosporin|second-generation cephalosporin|beta-lactam|antibiotic", "oral|iv|im")
D("cefdinir", "Omnicef", "", "cephalosporin|third-generation cephalosporin|beta-lactam|antibiotic", daily=(600, "mg"))
D("cefpodoxime", "Vantin", "", "cephalosporin|third-generation cephalosporin|beta-lactam|antibiotic")
D("ceftriaxone", "Rocephin", "", "cephalosporin|third-generation cephalosporin|beta-lactam|antibiotic", "iv|im", daily=(4000, "mg"))
D("ceftazidime", "Fortaz|Tazicef", "", "cephalosporin|third-generation cephalosporin|beta-lactam|antibiotic", "iv|im")
D("cefepime", "Maxipime", "", "cephalosporin|fourth-generation cephalosporin|beta-lactam|antibiotic", "iv|im",
  renal=[(60, "moderate", "dose_adjust", "CrCl", "CrCl <= 60 mL/min: adjust dose (encephalopathy, seizures when not adjusted)")])
D("meropenem", "Merrem", "", "carbapenem|beta-lactam|antibiotic", "iv")
D("imipenem-cilastatin", "Primaxin", "imipenem|imipenem/cilastatin", "carbapenem|beta-lactam|antibiotic", "iv")
D("ertapenem", "Invanz", "", "carbapenem|beta-lactam|antibiotic", "iv|im")
D("aztreonam", "Azactam|Cayston", "", "monobactam|beta-lactam|antibiotic", "iv|im|inhaled")
D("azithromycin", "Zithromax|Z-Pak|Zmax", "", "macrolide|antibiotic|qt-prolonging", "oral|iv", single=(2000, "mg"), daily=(2000, "mg"))
D("clarithromycin", "Biaxin", "", "macrolide|antibiotic|qt-prolonging|strong cyp3a4 inhibitor", daily=(1000, "mg"))
D("erythromycin", "Ery-Tab|EryPed|Erythrocin", "", "macrolide|antibiotic|qt-prolonging|moderate cyp3a4 inhibitor", "oral|iv|topical")
D("ciprofloxacin", "Cipro", "", "fluoroquinolone|antibiotic|qt-prolonging|cyp1a2 inhibitor", "oral|iv", single=(750, "mg"), daily=(1500, "mg"),
  renal=[(50, "moderate", "dose_adjust", "CrCl", "CrCl 30-50 mL/min: 250-500 mg every 12 h; 5-29 mL/min: every 18 h")], age=[FQ_CHILD])
D("levofloxacin", "Levaquin", "", "fluoroquinolone|antibiotic|qt-prolonging", "oral|iv", single=(750, "mg"), daily=(750, "mg"),
  renal=[(50, "moderate", "dose_adjust", "CrCl", "CrCl < 50 mL/min: extend interval / reduce dose per label table")], age=[FQ_CHILD])
D("moxifloxacin", "Avelox", "", "fluoroquinolone|antibiotic|qt-prolonging", "oral|iv", single=(400, "mg"), daily=(400, "mg"), age=[FQ_CHILD])
D("doxycycline", "Vibramycin|Doryx|Oracea|Acticlate", "", "tetracycline|antibiotic", "oral|iv", daily=(200, "mg"),
  age=[TETRA_CHILD + ("aap-redbook-2024",)], preg=("moderate", "Tetracyclines may cause fetal harm (tooth discoloration, bone growth) in the second and third trimester"))
D("minocycline", "Minocin|Solodyn", "", "tetracycline|antibiotic", "oral|iv", age=[TETRA_CHILD],
  preg=("moderate", "Tetracyclines may cause fetal harm (tooth discoloration, bone growth) in the second and third trimester"))
D("tetracycline", "Sumycin", "", "tetracycline|antibiotic", age=[TETRA_CHILD],
  preg=("moderate", "Tetracyclines may cause fetal harm (tooth discoloration, bone growth) in the second and third trimester"))
D("trimethoprim", "Primsol|Proloprim", "", "folate antagonist|antibiotic")
D("trimethoprim-sulfamethoxazole", "Bactrim|Septra|Sulfatrim", "sulfamethoxazole-trimethoprim|TMP-SMX|SMX-TMP|co-trimoxazole|cotrimoxazole|sulfamethoxazole",
  "sulfonamide antibiotic|folate antagonist|antibiotic", "oral|iv", comps="trimethoprim",
  renal=[(30, "moderate", "dose_adjust", "CrCl", "CrCl 15-30 mL/min: use half the usual dose"),
         (15, "major", "avoid", "CrCl", "Not recommended when CrCl < 15 mL/min")],
  age=[("below", 0.17, "contraindicated", "Contraindicated in infants under 2 months (kernicterus)")])
D("sulfadiazine", "", "", "sulfonamide antibiotic|antibiotic")
D("nitrofurantoin", "Macrobid|Macrodantin|Furadantin", "", "nitrofuran|antibiotic", daily=(400, "mg"),
  renal=[(60, "moderate", "caution", "CrCl", "FDA label: contraindicated when CrCl < 60 mL/min; Beers 2023 relaxed this to avoid only when CrCl < 30 (this pack flags < 60 as caution, < 30 as alert)"),
         (30, "major", "avoid", "CrCl", "Beers 2023: avoid when CrCl < 30 mL/min (inefficacy, toxicity); FDA label contraindicates below 60")],
  src=["beers-2023"])
D("metronidazole", "Flagyl", "", "nitroimidazole|antibiotic", "oral|iv|topical|vaginal", single=(2000, "mg"), daily=(4000, "mg"))
D("clindamycin", "Cleocin", "", "lincosamide|antibiotic", "oral|iv|im|topical")
D("vancomycin", "Vancocin|Firvanq", "", "glycopeptide|antibiotic", "iv|oral")
D("linezolid", "Zyvox", "", "oxazolidinone|antibiotic|mao-inhibiting drug", "oral|iv")
D("methylene blue", "ProvayBlue", "methylthioninium chloride", "mao-inhibiting drug|antidote", "iv")
D("fluconazole", "Diflucan", "", "azole antifungal|qt-prolonging|moderate cyp3a4 inhibitor", "oral|iv")
D("ketoconazole", "Nizoral", "", "azole antifungal|strong cyp3a4 inhibitor", "oral|topical")
D("itraconazole", "Sporanox|Tolsura", "", "azole antifungal|strong cyp3a4 inhibitor")
D("voriconazole", "Vfend", "", "azole antifungal|strong cyp3a4 inhibitor|qt-prolonging", "oral|iv")
D("acyclovir", "Zovirax|Sitavig", "aciclovir", "antiviral", "oral|iv|topical", single=(800, "mg"), daily=(4000, "mg"),
  renal=[(50, "moderate", "dose_adjust", "CrCl", "Reduce dose/extend interval when CrCl < 50 mL/min (IV) or < 25 mL/min (oral)")])
D("valacyclovir", "Valtrex", "", "antiviral", single=(2000, "mg"), daily=(4000, "mg"),
  renal=[(50, "moderate", "dose_adjust", "CrCl", "Reduce dose when CrCl < 50 mL/min (label table)")])
D("oseltamivir", "Tamiflu", "", "antiviral", renal=[(60, "moderate", "dose_adjust", "CrCl", "CrCl 30-60 mL/min: 30 mg twice daily for treatment")])
D("rifampin", "Rifadin|Rimactane", "rifampicin", "rifamycin|antibiotic|strong cyp3a4 inducer", "oral|iv")
D("isoniazid", "", "INH", "antituberculosis", "oral|im")
D("ritonavir", "Norvir", "", "protease inhibitor|strong cyp3a4 inhibitor")
D("atazanavir", "Reyataz", "", "protease inhibitor")
D("nirmatrelvir-ritonavir", "Paxlovid", "nirmatrelvir/ritonavir", "protease inhibitor|strong cyp3a4 inhibitor", comps="ritonavir")
D("hydroxychloroquine", "Plaquenil", "", "antimalarial|dmard|qt-prolonging")
# --- immunology, endocrine, urology, dermatology ---
D("methotrexate", "Trexall|Otrexup|Rasuvo|Xatmep|Jylamvo|RediTrex", "MTX", "antimetabolite|dmard|antineoplastic|folate antagonist", "oral|subcut|im|iv|intrathecal",
  ha="methotrexate, oral, non-oncologic use; chemotherapeutic agents",
  freq=("weekly", "For rheumatoid arthritis, psoriasis and polyarticular JIA methotrexate is taken ONCE WEEKLY; daily dosing has caused fatal toxicity"),
  preg=("contraindicated", "Contraindicated in pregnancy for non-neoplastic diseases (embryo-fetal toxicity, fetal death)"))
D("leflunomide", "Arava", "", "dmard",
  preg=("contraindicated", "Boxed warning: contraindicated in pregnancy (teratogenicity); exclude pregnancy before starting"))
D("azathioprine", "Imuran|Azasan", "", "immunosuppressant|antimetabolite", "oral|iv")
D("mercaptopurine", "Purixan|Purinethol", "6-MP", "antimetabolite|antineoplastic", ha=CHEMO_HA)
D("mycophenolate", "CellCept|Myfortic", "mycophenolate mofetil|mycophenolic acid", "immunosuppressant", "oral|iv",
  preg=("major", "Boxed warning: first-trimester pregnancy loss and congenital malformations; REMS; use only if no suitable alternative"))
D("tacrolimus", "Prograf|Envarsus|Astagraf|Protopic", "", "calcineurin inhibitor|immunosuppressant", "oral|iv|topical")
D("cyclosporine", "Neoral|Sandimmune|Gengraf|Restasis", "ciclosporin", "calcineurin inhibitor|immunosuppressant", "oral|iv|ophthalmic")
D("levothyroxine", "Synthroid|Levoxyl|Unithroid|Euthyrox|Tirosint", "L-thyroxine", "thyroid hormone", "oral|iv")
D("alendronate", "Fosamax|Binosto", "", "bisphosphonate",
  renal=[(35, "moderate", "avoid", "CrCl", "Not recommended when CrCl < 35 mL/min")])
D("finasteride", "Proscar|Propecia", "", "5-alpha reductase inhibitor", daily=(5, "mg"),
  preg=("contraindicated", "Contraindicated in pregnancy (abnormalities of male fetal genitalia); pregnant women should not handle crushed tablets"))
D("tamsulosin", "Flomax", "", "alpha-1 blocker", daily=(0.8, "mg"))
D("doxazosin", "Cardura", "", "alpha-1 blocker", daily=(16, "mg"))
D("oxybutynin", "Ditropan|Oxytrol|Gelnique", "", "antimuscarinic|anticholinergic", "oral|transdermal|topical", daily=(30, "mg"), age=[BEERS_ANTICHOL])
D("sildenafil", "Viagra|Revatio|Liqrev", "", "pde5 inhibitor", "oral|iv", single=(100, "mg"), daily=(100, "mg"),
  note="Erectile dysfunction: at most once daily, 100 mg; pulmonary hypertension (Revatio): 20 mg three times daily.")
D("tadalafil", "Cialis|Adcirca|Alyq|Tadliq", "", "pde5 inhibitor", single=(40, "mg"), daily=(40, "mg"),
  note="Erectile dysfunction maximum 20 mg per day; 40 mg once daily only for pulmonary arterial hypertension (Adcirca).")
D("vardenafil", "Levitra|Staxyn", "", "pde5 inhibitor", single=(20, "mg"), daily=(20, "mg"))
D("isotretinoin", "Accutane|Absorica|Claravis|Amnesteem|Zenatane|Myorisan", "", "retinoid",
  preg=("contraindicated", "Boxed warning: contraindicated in pregnancy (severe birth defects); iPLEDGE REMS with two forms of contraception"))
D("estradiol", "Estrace|Vivelle|Climara|Vagifem", "", "estrogen", "oral|transdermal|vaginal")
D("medroxyprogesterone", "Provera|Depo-Provera|Depo-SubQ Provera", "", "progestin", "oral|im|subcut")
# --- electrolytes, fluids, high-alert injectables ---
D("potassium chloride", "K-Dur|Klor-Con|K-Tab|Micro-K", "KCl", "potassium supplement|electrolyte", "oral|iv",
  single=(40, "mEq"), daily=(200, "mEq"), ha="potassium chloride for injection concentrate", ha_routes="iv",
  forbid=[("iv_push", "contraindicated", "Never give potassium chloride by IV push or bolus (cardiac arrest); dilute and infuse with a pump"),
          ("im", "contraindicated", "Potassium chloride concentrate must not be injected intramuscularly or subcutaneously")],
  note="Oral: limit single doses to 40 mEq; do not exceed 200 mEq in 24 hours. IV: dilute; peripheral rate usually <= 10 mEq/h.")
D("potassium phosphate", "", "potassium phosphates|K-Phos", "phosphate supplement|electrolyte", "iv|oral", ha="potassium phosphates injection", ha_routes="iv",
  forbid=[("iv_push", "contraindicated", "Never give potassium phosphates by IV push; dilute and infuse")])
D("magnesium sulfate", "", "MgSO4|magnesium sulphate", "electrolyte|anticonvulsant", "iv|im", ha="magnesium sulfate injection", ha_routes="iv")
D("hypertonic saline", "", "hypertonic sodium chloride|3% sodium chloride|3% saline|23.4% sodium chloride|23.4% saline|7% saline",
  "electrolyte|hyperosmolar agent", "iv|inhaled", ha="sodium chloride for injection, hypertonic (greater than 0.9% concentration)", ha_routes="iv", label=False)
D("sodium bicarbonate", "", "bicarbonate|NaHCO3", "alkalinizing agent|electrolyte", "iv|oral")
# --- critical care: vasoactives, sedation, neuromuscular blockers ---
D("epinephrine", "Adrenalin|EpiPen|Auvi-Q|Neffy", "adrenaline", "adrenergic agonist|sympathomimetic", "iv|im|subcut|intranasal|inhaled", ha=ADRENERGIC_HA, ha_routes="iv")
D("norepinephrine", "Levophed", "noradrenaline", "adrenergic agonist|vasopressor", "iv", ha=ADRENERGIC_HA)
D("phenylephrine", "Biorphen|Vazculep", "", "adrenergic agonist|vasopressor|sympathomimetic", "iv|oral|intranasal|ophthalmic", ha=ADRENERGIC_HA, ha_routes="iv")
D("dopamine", "Intropin", "", "adrenergic agonist|inotrope", "iv", ha=ADRENERGIC_HA)
D("dobutamine", "Dobutrex", "", "adrenergic agonist|inotrope", "iv", ha=ADRENERGIC_HA)
D("milrinone", "Primacor", "", "inotrope|pde3 inhibitor", "iv", ha=INOTROPE_HA)
D("vasopressin", "Vasostrict|Pitressin", "", "vasopressor", "iv", ha="vasopressin (IV and intraosseous)")
D("nitroprusside", "Nipride|Nitropress", "sodium nitroprusside", "vasodilator|nitrate", "iv", ha="nitroprusside sodium for injection")
D("oxytocin", "Pitocin", "", "oxytocic", "iv|im", ha="oxytocin, IV", ha_routes="iv")
D("propofol", "Diprivan", "", "general anesthetic|sedative", "iv", ha=SEDATION_HA)
D("dexmedetomidine", "Precedex|Igalmi", "", "sedative|alpha-2 agonist", "iv|sublingual", ha=SEDATION_HA, ha_routes="iv")
D("ketamine", "Ketalar|Spravato", "esketamine", "general anesthetic|nmda antagonist", "iv|im|intranasal", ha=SEDATION_HA)
D("succinylcholine", "Anectine|Quelicin", "suxamethonium", "neuromuscular blocker|depolarizing neuromuscular blocker", "iv|im", ha=NMB_HA)
D("rocuronium", "Zemuron", "", "neuromuscular blocker|nondepolarizing neuromuscular blocker", "iv", ha=NMB_HA)
D("vecuronium", "", "", "neuromuscular blocker|nondepolarizing neuromuscular blocker", "iv", ha=NMB_HA)
D("cisatracurium", "Nimbex", "", "neuromuscular blocker|nondepolarizing neuromuscular blocker", "iv", ha=NMB_HA)
# --- antineoplastics ---
D("cyclophosphamide", "Cytoxan", "", "antineoplastic|alkylating agent", "oral|iv", ha=CHEMO_HA)
D("cisplatin", "Platinol", "", "antineoplastic|platinum", "iv", ha=CHEMO_HA)
D("carboplatin", "Paraplatin", "", "antineoplastic|platinum", "iv", ha=CHEMO_HA)
D("doxorubicin", "Adriamycin|Doxil", "", "antineoplastic|anthracycline", "iv", ha=CHEMO_HA)
D("vincristine", "Oncovin|Vincasar", "", "antineoplastic|vinca alkaloid", "iv", ha=CHEMO_HA,
  forbid=[("intrathecal", "contraindicated", "Boxed warning: FATAL IF GIVEN BY OTHER ROUTES; for intravenous use only, never intrathecal")])
D("vinblastine", "", "", "antineoplastic|vinca alkaloid", "iv", ha=CHEMO_HA,
  forbid=[("intrathecal", "contraindicated", "Boxed warning: fatal if given intrathecally; for intravenous use only")])
D("bortezomib", "Velcade", "", "antineoplastic|proteasome inhibitor", "iv|subcut", ha=CHEMO_HA,
  forbid=[("intrathecal", "contraindicated", "For subcutaneous or intravenous use only; fatal events after intrathecal administration")])
D("paclitaxel", "Taxol|Abraxane", "", "antineoplastic|taxane", "iv", ha=CHEMO_HA)
D("fluorouracil", "Adrucil", "5-FU|5-fluorouracil", "antineoplastic|antimetabolite|fluoropyrimidine", "iv|topical", ha=CHEMO_HA, ha_routes="iv")
D("capecitabine", "Xeloda", "", "antineoplastic|antimetabolite|fluoropyrimidine", ha=CHEMO_HA)
D("cytarabine", "", "ara-C", "antineoplastic|antimetabolite", "iv|subcut|intrathecal", ha=CHEMO_HA)
D("irinotecan", "Camptosar|Onivyde", "", "antineoplastic|topoisomerase inhibitor", "iv", ha=CHEMO_HA)
D("tamoxifen", "Soltamox", "", "antineoplastic|serm", ha=CHEMO_HA)

# Words that name a whole drug class in free text ("avoid NSAIDs", "no nitrates"). Mentions of these
# are checked for interactions and allergies like a drug of that class (no dose rules).
CLASS_TERMS = {
    "nsaid": "NSAID|NSAIDs|non-steroidal anti-inflammatory|non-steroidal anti-inflammatory drugs|nonsteroidal anti-inflammatory drugs",
    "nitrate": "nitrates|organic nitrates|nitrate",
    "ssri": "SSRI|SSRIs|selective serotonin reuptake inhibitor|selective serotonin reuptake inhibitors",
    "snri": "SNRI|SNRIs",
    "maoi": "MAOI|MAOIs|MAO inhibitor|MAO inhibitors|monoamine oxidase inhibitor|monoamine oxidase inhibitors",
    "tca": "tricyclic antidepressant|tricyclic antidepressants|TCAs",
    "opioid": "opioid|opioids|opiate|opiates|narcotic analgesics",
    "benzodiazepine": "benzodiazepine|benzodiazepines|benzos",
    "statin": "statin|statins",
    "ace inhibitor": "ACE inhibitor|ACE inhibitors|ACE-I",
    "arb": "ARB|ARBs|angiotensin receptor blocker|angiotensin receptor blockers|angiotensin II receptor blockers",
    "anticoagulant": "anticoagulant|anticoagulants|blood thinner|blood thinners",
    "doac": "DOAC|DOACs|NOAC|NOACs|direct oral anticoagulant|direct oral anticoagulants",
    "antiplatelet": "antiplatelet|antiplatelets|antiplatelet agents",
    "fluoroquinolone": "fluoroquinolone|fluoroquinolones|quinolones",
    "macrolide": "macrolide|macrolides",
    "tetracycline": "tetracyclines",
    "cephalosporin": "cephalosporin|cephalosporins",
    "penicillin": "penicillin|penicillins",
    "carbapenem": "carbapenem|carbapenems",
    "sulfonylurea": "sulfonylurea|sulfonylureas",
    "pde5 inhibitor": "PDE5 inhibitor|PDE5 inhibitors|PDE-5 inhibitor|PDE-5 inhibitors|phosphodiesterase-5 inhibitors",
    "triptan": "triptan|triptans",
    "beta blocker": "beta blocker|beta blockers|beta-adrenergic blockers",
    "proton pump inhibitor": "PPI|PPIs|proton pump inhibitor|proton pump inhibitors",
    "corticosteroid": "corticosteroid|corticosteroids|steroids",
    "thiazide diuretic": "thiazide|thiazides|thiazide diuretics",
    "loop diuretic": "loop diuretic|loop diuretics",
    "antipsychotic": "antipsychotic|antipsychotics",
    "strong cyp3a4 inhibitor": "strong CYP3A4 inhibitor|strong CYP3A4 inhibitors",
}

# ---------------------------------------------------------------------------------------------------
# Interactions: (a, b, severity, effect, management, sources). "class:x" names a formulary class.
# ---------------------------------------------------------------------------------------------------
ONC = "onc-ddi-2012"
INTERACTIONS: list[tuple] = [
    # ONC high-priority list (Phansalkar 2012) and label-contraindicated pairs
    ("class:pde5 inhibitor", "class:nitrate", "contraindicated", "Profound, potentially fatal hypotension (additive cGMP-mediated vasodilation)", "Do not combine; no nitrate within 24 h of sildenafil/vardenafil or 48 h of tadalafil", [ONC, "fda-label:sildenafil"]),
    ("class:maoi", "class:ssri", "contraindicated", "Serotonin syndrome (hyperthermia, rigidity, death)", "Do not combine; 14-day washout (5 weeks after fluoxetine)", [ONC, "fda-label:phenelzine"]),
    ("class:maoi", "class:snri", "contraindicated", "Serotonin syndrome", "Do not combine; 14-day washout", [ONC, "fda-label:venlafaxine"]),
    ("class:maoi", "class:tca", "contraindicated", "Serotonin syndrome, hypertensive crisis", "Do not combine; 14-day washout", [ONC, "fda-label:phenelzine"]),
    ("class:maoi", "meperidine", "contraindicated", "Serotonin syndrome, coma, death", "Do not combine; use a non-serotonergic opioid (e.g. morphine) with caution", [ONC, "fda-label:meperidine"]),
    ("class:maoi", "tramadol", "contraindicated", "Serotonin syndrome, seizures", "Do not combine within 14 days", ["fda-label:tramadol"]),
    ("class:maoi", "methadone", "major", "Serotonin syndrome, opioid toxicity", "Avoid within 14 days of an MAOI", ["fda-label:methadone"]),
    ("class:maoi", "fentanyl", "major", "Serotonin syndrome, opioid toxicity", "Not recommended within 14 days of an MAOI", ["fda-label:fentanyl"]),
    ("class:maoi", "tapentadol", "contraindicated", "Serotonin syndrome, hypertensive crisis", "Contraindicated within 14 days of an MAOI", ["fda-label:tapentadol"]),
    ("class:maoi", "dextromethorphan", "contraindicated", "Serotonin syndrome", "Do not combine", ["fda-label:phenelzine"]),
    ("class:maoi", "bupropion", "contraindicated", "Hypertensive reactions", "Do not combine within 14 days", ["fda-label:bupropion"]),
    ("class:maoi", "mirtazapine", "contraindicated", "Serotonin syndrome", "Do not combine within 14 days", ["fda-label:mirtazapine"]),
    ("class:maoi", "trazodone", "major", "Serotonin syndrome", "Avoid within 14 days", ["fda-label:trazodone"]),
    ("class:maoi", "buspirone", "major", "Hypertensive reactions", "Not recommended", ["fda-label:buspirone"]),
    ("class:maoi", "class:triptan", "contraindicated", "Serotonin syndrome; MAO-A inhibitors raise triptan levels", "Do not combine within 14 days", ["fda-label:sumatriptan"]),
    ("class:maoi", "class:cns stimulant", "contraindicated", "Hypertensive crisis", "Do not combine within 14 days", ["fda-label:amphetamine"]),
    ("class:maoi", "pseudoephedrine", "contraindicated", "Hypertensive crisis", "Do not combine", ["fda-label:pseudoephedrine"]),
    ("class:maoi", "carbamazepine", "contraindicated", "Hypertensive crisis, serotonin toxicity", "Do not combine within 14 days", ["fda-label:carbamazepine"]),
    ("class:maoi", "class:maoi", "contraindicated", "Hypertensive crisis, serotonin syndrome", "Do not combine MAO inhibitors", ["fda-label:phenelzine"]),
    ("class:mao-inhibiting drug", "class:ssri", "major", "Serotonin syndrome (linezolid, methylene blue are MAO inhibitors)", "Avoid; if urgent, stop the serotonergic drug and monitor for 2 weeks", ["fda-dsc-methylene-blue-2011", "fda-label:linezolid"]),
    ("class:mao-inhibiting drug", "class:snri", "major", "Serotonin syndrome", "Avoid; if urgent, stop the serotonergic drug and monitor", ["fda-dsc-methylene-blue-2011", "fda-label:linezolid"]),
    ("class:mao-inhibiting drug", "class:tca", "major", "Serotonin syndrome", "Avoid; if urgent, monitor closely", ["fda-dsc-methylene-blue-2011"]),
    ("class:mao-inhibiting drug", "meperidine", "major", "Serotonin syndrome", "Avoid", ["fda-label:linezolid"]),
    ("class:mao-inhibiting drug", "tramadol", "major", "Serotonin syndrome, seizures", "Avoid", ["fda-label:linezolid"]),
    ("methotrexate", "trimethoprim", "contraindicated", "Additive antifolate effect and reduced renal clearance: pancytopenia, mucositis", "Avoid trimethoprim and co-trimoxazole with methotrexate", [ONC, "fda-label:methotrexate"]),
    ("methotrexate", "class:nsaid", "moderate", "Reduced methotrexate clearance (serious toxicity at high doses)", "Avoid with high-dose methotrexate; with low-dose, monitor blood counts and renal function", ["fda-label:methotrexate"]),
    ("methotrexate", "class:penicillin", "moderate", "Reduced methotrexate renal clearance", "Monitor methotrexate toxicity", ["fda-label:methotrexate"]),
    ("methotrexate", "class:proton pump inhibitor", "moderate", "Raised methotrexate levels (mostly high-dose)", "Consider holding the PPI around high-dose methotrexate", ["fda-label:methotrexate"]),
    ("methotrexate", "leflunomide", "moderate", "Additive hepatotoxicity and myelosuppression", "Monitor liver tests and counts", ["fda-label:leflunomide"]),
    ("simvastatin", "class:strong cyp3a4 inhibitor", "contraindicated", "Markedly raised simvastatin levels: myopathy, rhabdomyolysis", "Do not combine; suspend simvastatin during the course", [ONC, "fda-label:simvastatin"]),
    ("lovastatin", "class:strong cyp3a4 inhibitor", "contraindicated", "Markedly raised lovastatin levels: rhabdomyolysis", "Do not combine", [ONC, "fda-label:lovastatin"]),
    ("simvastatin", "erythromycin", "contraindicated", "Raised simvastatin levels: rhabdomyolysis", "Do not combine", ["fda-label:simvastatin"]),
    ("simvastatin", "gemfibrozil", "contraindicated", "Rhabdomyolysis", "Do not combine", ["fda-label:simvastatin"]),
    ("simvastatin", "cyclosporine", "contraindicated", "Rhabdomyolysis", "Do not combine", ["fda-label:simvastatin"]),
    ("lovastatin", "gemfibrozil", "contraindicated", "Rhabdomyolysis", "Avoid", ["fda-label:lovastatin"]),
    ("simvastatin", "amiodarone", "moderate", "Raised simvastatin exposure: myopathy", "Do not exceed simvastatin 20 mg/day", ["fda-label:simvastatin"]),
    ("simvastatin", "amlodipine", "moderate", "Raised simvastatin exposure: myopathy", "Do not exceed simvastatin 20 mg/day", ["fda-label:simvastatin"]),
    ("simvastatin", "class:non-dihydropyridine", "moderate", "Raised simvastatin exposure: myopathy", "Do not exceed simvastatin 10 mg/day", ["fda-label:simvastatin"]),
    ("atorvastatin", "clarithromycin", "moderate", "Raised atorvastatin exposure: myopathy", "Do not exceed atorvastatin 20 mg/day", ["fda-label:atorvastatin"]),
    ("atorvastatin", "class:strong cyp3a4 inhibitor", "moderate", "Raised atorvastatin exposure: myopathy", "Use the lowest dose; avoid with some protease inhibitors", ["fda-label:atorvastatin"]),
    ("class:statin", "gemfibrozil", "major", "Myopathy, rhabdomyolysis", "Avoid; prefer fenofibrate if a fibrate is needed", ["fda-label:rosuvastatin"]),
    ("rosuvastatin", "cyclosporine", "major", "Rosuvastatin exposure raised about 7-fold", "Do not exceed rosuvastatin 5 mg/day", ["fda-label:rosuvastatin"]),
    ("colchicine", "class:strong cyp3a4 inhibitor", "major", "Fatal colchicine toxicity (especially with renal or hepatic impairment)", "Reduce colchicine dose; contraindicated with renal or hepatic impairment", ["fda-label:colchicine"]),
    ("colchicine", "cyclosporine", "major", "Colchicine toxicity (P-gp inhibition)", "Reduce dose; avoid with renal/hepatic impairment", ["fda-label:colchicine"]),
    ("tizanidine", "fluvoxamine", "contraindicated", "Tizanidine levels raised ~33-fold: hypotension, sedation", "Do not combine", [ONC, "fda-label:tizanidine"]),
    ("tizanidine", "ciprofloxacin", "contraindicated", "Tizanidine levels raised ~10-fold: hypotension, sedation", "Do not combine", [ONC, "fda-label:tizanidine"]),
    ("ramelteon", "fluvoxamine", "contraindicated", "Ramelteon exposure raised ~190-fold", "Do not combine", [ONC, "fda-label:ramelteon"]),
    ("atazanavir", "class:proton pump inhibitor", "major", "Reduced atazanavir absorption: loss of virologic response, resistance", "Avoid; if unavoidable follow the label's limits (boosted atazanavir, omeprazole <= 20 mg, timed)", [ONC, "fda-label:atazanavir"]),
    ("irinotecan", "class:strong cyp3a4 inducer", "major", "Reduced SN-38 exposure: loss of efficacy", "Switch to a non-inducing anticonvulsant at least 2 weeks before irinotecan", [ONC, "fda-label:irinotecan"]),
    ("irinotecan", "ketoconazole", "contraindicated", "Raised SN-38 exposure: severe toxicity", "Stop ketoconazole at least 1 week before irinotecan", [ONC, "fda-label:irinotecan"]),
    ("class:qt-prolonging", "class:qt-prolonging", "major", "Additive QT prolongation: torsades de pointes", "Avoid combining; if needed, ECG and potassium/magnesium monitoring", [ONC, "crediblemeds-qt"]),
    ("rifampin", "ritonavir", "contraindicated", "Loss of protease-inhibitor effect (induction)", "Do not combine; use rifabutin with dose adjustment", ["fda-label:ritonavir"]),
    ("rifampin", "atazanavir", "contraindicated", "Loss of atazanavir effect (induction)", "Do not combine", ["fda-label:atazanavir"]),
    ("dofetilide", "trimethoprim", "contraindicated", "Raised dofetilide levels: torsades de pointes", "Do not combine (includes co-trimoxazole)", ["fda-label:dofetilide"]),
    ("dofetilide", "verapamil", "contraindicated", "Raised dofetilide levels: torsades de pointes", "Do not combine", ["fda-label:dofetilide"]),
    ("dofetilide", "hydrochlorothiazide", "contraindicated", "Raised dofetilide levels and hypokalaemia: torsades", "Do not combine", ["fda-label:dofetilide"]),
    ("dofetilide", "ketoconazole", "contraindicated", "Raised dofetilide levels: torsades", "Do not combine", ["fda-label:dofetilide"]),
    # anticoagulants and bleeding
    ("class:anticoagulant", "class:nsaid", "major", "Major bleeding (antiplatelet effect, GI mucosal injury; warfarin displacement)", "Avoid; prefer acetaminophen for pain; if unavoidable add gastroprotection and monitor", ["fda-label:warfarin", "fda-label:apixaban"]),
    ("class:anticoagulant", "class:antiplatelet", "major", "Major bleeding", "Combine only with a clear indication (e.g. recent stent) and for the shortest time", ["fda-label:warfarin", "fda-label:clopidogrel"]),
    ("class:anticoagulant", "class:anticoagulant", "major", "Duplicate anticoagulation: major bleeding", "Do not overlap except during a planned transition (e.g. heparin bridging to warfarin)", ["fda-label:apixaban", "fda-label:warfarin"]),
    ("class:anticoagulant", "class:thrombolytic", "major", "Major and intracranial bleeding", "Check anticoagulation status before thrombolysis", ["fda-label:alteplase"]),
    ("warfarin", "trimethoprim-sulfamethoxazole", "major", "Raised INR and bleeding (CYP2C9 inhibition)", "Prefer another antibiotic; otherwise reduce warfarin and check INR within 3-5 days", ["fda-label:warfarin"]),
    ("warfarin", "metronidazole", "major", "Raised INR and bleeding (CYP2C9 inhibition)", "Avoid or reduce warfarin dose and monitor INR", ["fda-label:warfarin"]),
    ("warfarin", "fluconazole", "major", "Raised INR and bleeding", "Reduce warfarin and monitor INR", ["fda-label:warfarin"]),
    ("warfarin", "voriconazole", "major", "Raised INR and bleeding", "Monitor INR closely", ["fda-label:voriconazole"]),
    ("warfarin", "amiodarone", "major", "Raised INR (reduce warfarin dose by about a third to a half)", "Reduce warfarin dose and monitor INR weekly", ["fda-label:amiodarone"]),
    ("warfarin", "capecitabine", "major", "Boxed warning: altered coagulation, bleeding and death", "Monitor INR frequently; adjust warfarin", ["fda-label:capecitabine"]),
    ("warfarin", "fluorouracil", "major", "Raised INR and bleeding", "Monitor INR frequently", ["fda-label:fluorouracil"]),
    ("warfarin", "rifampin", "major", "Loss of anticoagulation (CYP induction)", "Avoid or increase warfarin with close INR monitoring", ["fda-label:warfarin"]),
    ("warfarin", "class:fluoroquinolone", "moderate", "Raised INR", "Monitor INR", ["fda-label:warfarin"]),
    ("warfarin", "class:macrolide", "moderate", "Raised INR", "Monitor INR", ["fda-label:warfarin"]),
    ("warfarin", "class:ssri", "moderate", "Bleeding (platelet serotonin depletion)", "Monitor for bleeding", ["fda-label:warfarin"]),
    ("warfarin", "class:snri", "moderate", "Bleeding", "Monitor for bleeding", ["fda-label:warfarin"]),
    ("warfarin", "carbamazepine", "moderate", "Reduced INR (induction)", "Monitor INR when starting or stopping", ["fda-label:warfarin"]),
    ("warfarin", "levothyroxine", "moderate", "Raised INR when thyroid dose increases", "Monitor INR after thyroid dose changes", ["fda-label:levothyroxine"]),
    ("warfarin", "allopurinol", "moderate", "Raised INR in some patients", "Monitor INR", ["fda-label:warfarin"]),
    ("apixaban", "class:strong cyp3a4 inhibitor", "major", "Raised apixaban exposure: bleeding", "Reduce apixaban dose by 50% or avoid if already on 2.5 mg twice daily", ["fda-label:apixaban"]),
    ("rivaroxaban", "class:strong cyp3a4 inhibitor", "major", "Raised rivaroxaban exposure: bleeding", "Avoid combined P-gp and strong CYP3A4 inhibitors", ["fda-label:rivaroxaban"]),
    ("class:doac", "class:strong cyp3a4 inducer", "major", "Reduced anticoagulant exposure: stroke, thrombosis", "Avoid", ["fda-label:apixaban", "fda-label:rivaroxaban", "fda-label:dabigatran"]),
    ("dabigatran", "ketoconazole", "moderate", "Raised dabigatran exposure (P-gp)", "Reduce dose with renal impairment; avoid when CrCl < 50 with P-gp inhibitor", ["fda-label:dabigatran"]),
    ("class:doac", "class:ssri", "moderate", "Bleeding", "Monitor for bleeding", ["fda-label:apixaban"]),
    ("class:antiplatelet", "class:nsaid", "moderate", "GI bleeding; ibuprofen may blunt aspirin's antiplatelet effect", "Avoid regular NSAIDs; take aspirin 30 min before ibuprofen; consider a PPI", ["fda-label:aspirin", "fda-label:ibuprofen"]),
    ("clopidogrel", "omeprazole", "moderate", "Reduced active metabolite of clopidogrel (CYP2C19 inhibition)", "Avoid omeprazole/esomeprazole; use pantoprazole if a PPI is needed", ["fda-label:clopidogrel"]),
    ("clopidogrel", "esomeprazole", "moderate", "Reduced active metabolite of clopidogrel (CYP2C19 inhibition)", "Use pantoprazole instead", ["fda-label:clopidogrel"]),
    ("ticagrelor", "class:strong cyp3a4 inhibitor", "major", "Raised ticagrelor exposure: bleeding", "Avoid", ["fda-label:ticagrelor"]),
    ("ticagrelor", "class:strong cyp3a4 inducer", "major", "Reduced ticagrelor effect", "Avoid", ["fda-label:ticagrelor"]),
    ("class:ssri", "class:nsaid", "moderate", "Upper GI bleeding", "Consider a PPI or avoid the NSAID in high-risk patients", ["fda-label:sertraline"]),
    # serotonergic, CNS depression
    ("class:ssri", "tramadol", "moderate", "Serotonin syndrome and seizures", "Monitor; use the lowest doses", ["fda-label:tramadol"]),
    ("class:snri", "tramadol", "moderate", "Serotonin syndrome and seizures", "Monitor", ["fda-label:tramadol"]),
    ("class:ssri", "class:triptan", "moderate", "Serotonin syndrome (rare)", "Monitor for serotonin toxicity", ["fda-label:sumatriptan"]),
    ("class:opioid", "class:benzodiazepine", "major", "Boxed warning: profound sedation, respiratory depression, coma, death", "Avoid; if unavoidable use the lowest doses, shortest time; prescribe naloxone", ["fda-dsc-opioid-benzo-2016"]),
    ("class:opioid", "class:gabapentinoid", "moderate", "Respiratory depression", "Start low, monitor, especially in the elderly and in lung disease", ["fda-dsc-gabapentinoid-2019"]),
    ("class:opioid", "class:sedative-hypnotic", "major", "Profound sedation, respiratory depression", "Avoid combining", ["fda-label:zolpidem"]),
    ("fentanyl", "class:strong cyp3a4 inhibitor", "major", "Boxed warning: raised fentanyl levels, fatal respiratory depression", "Avoid or monitor closely with dose reduction", ["fda-label:fentanyl"]),
    ("oxycodone", "class:strong cyp3a4 inhibitor", "major", "Boxed warning: raised oxycodone levels, respiratory depression", "Avoid or reduce dose and monitor", ["fda-label:oxycodone"]),
    ("alprazolam", "ketoconazole", "contraindicated", "Markedly raised alprazolam levels", "Do not combine", ["fda-label:alprazolam"]),
    ("alprazolam", "itraconazole", "contraindicated", "Markedly raised alprazolam levels", "Do not combine", ["fda-label:alprazolam"]),
    ("midazolam", "class:strong cyp3a4 inhibitor", "major", "Prolonged sedation, respiratory depression", "Avoid oral midazolam; reduce IV doses and monitor", ["fda-label:midazolam"]),
    ("theophylline", "ciprofloxacin", "major", "Theophylline toxicity (seizures, arrhythmia)", "Avoid or monitor theophylline levels", ["fda-label:ciprofloxacin"]),
    ("theophylline", "fluvoxamine", "major", "Theophylline toxicity", "Reduce theophylline to a third and monitor levels", ["fda-label:fluvoxamine"]),
    ("clozapine", "fluvoxamine", "major", "Clozapine levels raised up to 10-fold", "Use a third of the clozapine dose and monitor", ["fda-label:clozapine"]),
    ("clozapine", "ciprofloxacin", "major", "Raised clozapine levels", "Reduce clozapine dose and monitor", ["fda-label:clozapine"]),
    ("lamotrigine", "valproate", "major", "Lamotrigine levels doubled: serious rash (SJS/TEN)", "Use the label's reduced lamotrigine titration", ["fda-label:lamotrigine"]),
    ("valproate", "class:carbapenem", "major", "Valproate levels fall sharply: breakthrough seizures", "Avoid; use another antibiotic or anticonvulsant", ["fda-label:valproate"]),
    ("carbamazepine", "clarithromycin", "major", "Carbamazepine toxicity (CYP3A4 inhibition)", "Avoid or monitor levels", ["fda-label:carbamazepine"]),
    ("lithium", "class:nsaid", "moderate", "Raised lithium levels: toxicity", "Monitor lithium levels; prefer acetaminophen", ["fda-label:lithium"]),
    ("lithium", "class:ace inhibitor", "moderate", "Raised lithium levels", "Monitor lithium levels", ["fda-label:lithium"]),
    ("lithium", "class:arb", "moderate", "Raised lithium levels", "Monitor lithium levels", ["fda-label:lithium"]),
    ("lithium", "class:thiazide diuretic", "major", "Lithium toxicity (reduced clearance)", "Avoid or halve lithium dose with close level monitoring", ["fda-label:lithium"]),
    # RAAS, potassium
    ("class:ace inhibitor", "sacubitril-valsartan", "contraindicated", "Angioedema", "Do not combine; 36-hour washout after the ACE inhibitor", ["fda-label:sacubitril-valsartan"]),
    ("class:ace inhibitor", "class:arb", "major", "Dual RAAS blockade: hyperkalaemia, hypotension, acute kidney injury", "Avoid the combination", ["fda-label:losartan", "kdigo-2024-ckd"]),
    ("class:raas inhibitor", "potassium chloride", "moderate", "Hyperkalaemia", "Monitor potassium", ["fda-label:lisinopril"]),
    ("class:raas inhibitor", "spironolactone", "moderate", "Hyperkalaemia", "Monitor potassium and renal function", ["fda-label:spironolactone"]),
    ("class:raas inhibitor", "class:nsaid", "moderate", "Reduced antihypertensive effect, acute kidney injury (worse with a diuretic)", "Avoid in CKD, elderly, volume depletion; monitor renal function", ["fda-label:lisinopril"]),
    ("class:raas inhibitor", "trimethoprim-sulfamethoxazole", "moderate", "Hyperkalaemia (trimethoprim blocks ENaC)", "Monitor potassium, especially in the elderly", ["fda-label:trimethoprim-sulfamethoxazole"]),
    ("spironolactone", "potassium chloride", "major", "Severe hyperkalaemia", "Avoid potassium supplements unless hypokalaemic and monitored", ["fda-label:spironolactone"]),
    # cardiac
    ("digoxin", "amiodarone", "major", "Digoxin levels raised ~70%", "Halve the digoxin dose and monitor levels", ["fda-label:amiodarone"]),
    ("digoxin", "clarithromycin", "moderate", "Raised digoxin levels (P-gp)", "Monitor digoxin levels", ["fda-label:digoxin"]),
    ("digoxin", "verapamil", "moderate", "Raised digoxin levels, bradycardia", "Monitor levels and heart rate", ["fda-label:digoxin"]),
    ("class:beta blocker", "class:non-dihydropyridine", "moderate", "Bradycardia, AV block, heart failure", "Avoid IV combination; monitor heart rate", ["fda-label:verapamil"]),
    ("class:pde5 inhibitor", "class:alpha-1 blocker", "moderate", "Symptomatic hypotension", "Start the PDE5 inhibitor at the lowest dose in a patient stable on the alpha blocker", ["fda-label:sildenafil"]),
    ("class:pde5 inhibitor", "class:strong cyp3a4 inhibitor", "moderate", "Raised PDE5 inhibitor exposure: hypotension", "Reduce dose (e.g. sildenafil 25 mg)", ["fda-label:sildenafil"]),
    ("sotalol", "class:thiazide diuretic", "moderate", "Hypokalaemia and QT prolongation", "Monitor potassium", ["fda-label:sotalol"]),
    # anti-infectives, immunology, misc
    ("allopurinol", "azathioprine", "major", "Azathioprine toxicity (xanthine oxidase inhibition): myelosuppression", "Reduce azathioprine to one third or one quarter", ["fda-label:azathioprine"]),
    ("allopurinol", "mercaptopurine", "major", "Mercaptopurine toxicity: myelosuppression", "Reduce mercaptopurine to one third or one quarter", ["fda-label:mercaptopurine"]),
    ("febuxostat", "azathioprine", "contraindicated", "Azathioprine toxicity", "Do not combine", ["fda-label:febuxostat"]),
    ("febuxostat", "mercaptopurine", "contraindicated", "Mercaptopurine toxicity", "Do not combine", ["fda-label:febuxostat"]),
    ("isotretinoin", "class:tetracycline", "major", "Pseudotumor cerebri (benign intracranial hypertension)", "Avoid combining", ["fda-label:isotretinoin"]),
    ("tacrolimus", "class:strong cyp3a4 inhibitor", "major", "Raised tacrolimus levels: nephrotoxicity", "Avoid or reduce dose with level monitoring", ["fda-label:tacrolimus"]),
    ("cyclosporine", "class:strong cyp3a4 inhibitor", "major", "Raised cyclosporine levels: nephrotoxicity", "Monitor levels, reduce dose", ["fda-label:cyclosporine"]),
    ("class:sulfonylurea", "fluconazole", "moderate", "Hypoglycaemia (CYP2C9 inhibition)", "Monitor glucose", ["fda-label:glipizide"]),
    ("class:sulfonylurea", "clarithromycin", "moderate", "Hypoglycaemia", "Monitor glucose", ["fda-label:clarithromycin"]),
    ("class:insulin", "class:sulfonylurea", "moderate", "Additive hypoglycaemia", "Reduce doses and monitor glucose", ["fda-label:insulin glargine"]),
    ("levothyroxine", "class:proton pump inhibitor", "moderate", "Reduced levothyroxine absorption", "Monitor TSH", ["fda-label:levothyroxine"]),
    ("ciprofloxacin", "class:corticosteroid", "moderate", "Tendon rupture risk increased", "Avoid in the elderly; stop at first tendon pain", ["fda-label:ciprofloxacin"]),
    ("levofloxacin", "class:corticosteroid", "moderate", "Tendon rupture risk increased", "Avoid in the elderly; stop at first tendon pain", ["fda-label:levofloxacin"]),
    ("clarithromycin", "class:calcium channel blocker", "moderate", "Hypotension, acute kidney injury (raised CCB levels)", "Prefer azithromycin", ["fda-label:clarithromycin"]),
    ("methotrexate", "trimethoprim-sulfamethoxazole", "contraindicated", "Pancytopenia (additive antifolate, reduced clearance)", "Avoid; choose another antibiotic", [ONC, "fda-label:methotrexate"]),
]

# ---------------------------------------------------------------------------------------------------
# Allergy classes
# ---------------------------------------------------------------------------------------------------
ALLERGY_CLASSES = [
    dict(id="penicillins", label="Penicillins", names=["penicillin", "penicillins", "PCN", "pen allergy"], member_classes=["penicillin"],
         cross=[("first-generation cephalosporin", "low", "moderate", "Roughly 1-2% cross-reactivity, higher when side chains match (e.g. amoxicillin-cefadroxil/cephalexin)"),
                ("second-generation cephalosporin", "low", "moderate", "Low cross-reactivity (~1%); side-chain similarity matters more than generation"),
                ("third-generation cephalosporin", "negligible", "moderate", "Negligible (<1%) with dissimilar side chains; may usually be given unless the reaction was anaphylaxis or severe"),
                ("fourth-generation cephalosporin", "negligible", "moderate", "Negligible (<1%); may usually be given unless the reaction was severe"),
                ("carbapenem", "very low", "moderate", "<1% cross-reactivity; may be given with monitoring"),
                ("monobactam", "none", "none", "Aztreonam does not cross-react with penicillins")],
         source=["jaaci-2022-drug-allergy"]),
    dict(id="cephalosporins", label="Cephalosporins", names=["cephalosporin", "cephalosporins"], member_classes=["cephalosporin"],
         cross=[("penicillin", "low", "moderate", "Low cross-reactivity (~1-2%), driven by shared side chains"),
                ("carbapenem", "very low", "moderate", "<1% cross-reactivity")],
         source=["jaaci-2022-drug-allergy"]),
    dict(id="carbapenems", label="Carbapenems", names=["carbapenem", "carbapenems"], member_classes=["carbapenem"],
         cross=[("penicillin", "very low", "moderate", "<1% cross-reactivity"), ("cephalosporin", "very low", "moderate", "<1% cross-reactivity")],
         source=["jaaci-2022-drug-allergy"]),
    dict(id="beta-lactams", label="Beta-lactams", names=["beta-lactam", "beta-lactams"], member_classes=["beta-lactam"],
         cross=[], source=["jaaci-2022-drug-allergy"]),
    dict(id="sulfonamide-antibiotics", label="Sulfonamide antibiotics", names=["sulfa", "sulfa drugs", "sulfonamide", "sulfonamides", "sulfonamide antibiotics", "sulpha"],
         member_classes=["sulfonamide antibiotic"],
         cross=[("thiazide diuretic", "very low", "none", "Non-antibiotic sulfonamides (thiazides, furosemide, celecoxib, sulfonylureas) show no meaningful cross-reactivity with sulfonamide antibiotics"),
                ("loop diuretic", "very low", "none", "Non-antibiotic sulfonamide; no meaningful cross-reactivity"),
                ("sulfonylurea", "very low", "none", "Non-antibiotic sulfonamide; no meaningful cross-reactivity"),
                ("cox-2 selective nsaid", "very low", "none", "Celecoxib is a non-antibiotic sulfonamide; no meaningful cross-reactivity")],
         source=["strom-nejm-2003", "jaaci-2022-drug-allergy"]),
    dict(id="nsaids", label="NSAIDs (COX-1 inhibitors, including aspirin)", names=["nsaid", "nsaids", "non-steroidal anti-inflammatory drugs", "anti-inflammatories"],
         member_classes=["nonselective nsaid"],
         cross=[("cox-2 selective nsaid", "low", "moderate", "Selective COX-2 inhibitors are usually tolerated in NSAID-exacerbated respiratory disease; first dose under observation")],
         source=["jaaci-2022-drug-allergy"]),
    dict(id="salicylates", label="Aspirin / salicylates", names=["aspirin", "salicylate", "salicylates", "ASA"], member_classes=["salicylate"],
         cross=[("nonselective nsaid", "high", "major", "Aspirin-exacerbated respiratory disease and NSAID-induced urticaria cross-react with other COX-1 inhibitors"),
                ("cox-2 selective nsaid", "low", "moderate", "Selective COX-2 inhibitors are usually tolerated; first dose under observation")],
         source=["jaaci-2022-drug-allergy"]),
    dict(id="macrolides", label="Macrolides", names=["macrolide", "macrolides"], member_classes=["macrolide"], cross=[], source=["jaaci-2022-drug-allergy"]),
    dict(id="fluoroquinolones", label="Fluoroquinolones", names=["fluoroquinolone", "fluoroquinolones", "quinolone", "quinolones"],
         member_classes=["fluoroquinolone"], cross=[], source=["jaaci-2022-drug-allergy"]),
    dict(id="tetracyclines", label="Tetracyclines", names=["tetracyclines"], member_classes=["tetracycline"], cross=[], source=["jaaci-2022-drug-allergy"]),
    dict(id="opioids", label="Opioids", names=["opioid", "opioids", "opiate", "opiates", "narcotics"], member_classes=["opioid"],
         cross=[], source=["jaaci-2022-drug-allergy"]),
    dict(id="ace-inhibitors", label="ACE inhibitors (angioedema)", names=["ace inhibitor", "ace inhibitors", "ace-i", "acei"], member_classes=["ace inhibitor"],
         cross=[("arni", "moderate", "major", "Sacubitril-valsartan is contraindicated with a history of ACE-inhibitor angioedema"),
                ("arb", "low", "moderate", "ARB angioedema after ACE-inhibitor angioedema is uncommon but reported; use with caution")],
         source=["fda-label:sacubitril-valsartan", "jaaci-2022-drug-allergy"]),
    dict(id="aromatic-anticonvulsants", label="Aromatic anticonvulsants", names=["aromatic anticonvulsants", "anticonvulsant hypersensitivity"],
         member_classes=["aromatic anticonvulsant"], cross=[], source=["jaaci-2022-drug-allergy"]),
    dict(id="heparins", label="Heparins (including heparin-induced thrombocytopenia)", names=["heparins", "HIT", "heparin-induced thrombocytopenia"],
         member_classes=["heparin"], cross=[], source=["fda-label:heparin", "fda-label:enoxaparin"]),
    dict(id="benzodiazepines", label="Benzodiazepines", names=["benzodiazepine", "benzodiazepines", "benzos"], member_classes=["benzodiazepine"],
         cross=[], source=["jaaci-2022-drug-allergy"]),
    dict(id="statins", label="Statins", names=["statin", "statins"], member_classes=["statin"], cross=[], source=["fda-label:atorvastatin"]),
]


# ---------------------------------------------------------------------------------------------------
def _split(s: str) -> list[str]:
    return [x.strip() for x in s.split("|") if x.strip()]


def _q(v: tuple) -> dict:
    return {"value": v[0], "unit": v[1]}


def _slug_label(generic: str) -> str:
    return f"fda-label:{generic}"


def build_formulary() -> dict:
    sources = dict(COMMON_SOURCES)
    entries = []
    for d in DRUGS:
        g = d["generic"]
        src: list[str] = []
        if d.get("label", True):
            key = _slug_label(g)
            sources[key] = f"U.S. FDA-approved prescribing information for {g} products (DailyMed, National Library of Medicine, dailymed.nlm.nih.gov)."
            src.append(key)
        e: dict = {"generic": g, "brands": _split(d["brands"]), "synonyms": _split(d["syn"]), "classes": _split(d["cls"]), "routes": _split(d["routes"])}
        if d.get("comps"):
            e["components"] = _split(d["comps"])
        e["high_alert"] = bool(d.get("ha"))
        if d.get("ha"):
            e["ismp_class"] = d["ha"]
            if d.get("ha_routes"):
                e["high_alert_routes"] = _split(d["ha_routes"])
            src.append("ismp-high-alert-2024")
        adult = {}
        if d.get("single"):
            adult["max_single"] = _q(d["single"])
        if d.get("daily"):
            adult["max_daily"] = _q(d["daily"])
        if adult:
            e["adult"] = adult
        if d.get("ped"):
            p = dict(d["ped"])
            ped = {"unit": p["unit"]}
            for k in ("single_per_kg", "daily_per_kg"):
                if k in p:
                    ped[f"max_{k}"] = p[k]
            if "single_cap" in p:
                ped["max_single"] = _q(p["single_cap"])
            if "daily_cap" in p:
                ped["max_daily"] = _q(p["daily_cap"])
            e["pediatric"] = ped
        if d.get("freq"):
            e["frequency"] = {"schedule": d["freq"][0], "note": d["freq"][1]}
        if d.get("forbid"):
            e["forbidden_routes"] = [{"route": r, "severity": s, "note": n} for r, s, n in d["forbid"]]
        if d.get("renal"):
            rules = []
            for r in d["renal"]:
                rule = {"below": r[0], "severity": r[1], "action": r[2], "basis": r[3], "note": r[4]}
                if len(r) > 5:
                    rule["max_daily"] = _q(r[5])
                rules.append(rule)
            e["renal"] = sorted(rules, key=lambda x: -x["below"])
            if any("CrCl < 30" in r[4] and "Beers" in r[4] for r in d["renal"]) or d["renal"] is NSAID_RENAL:
                src += ["beers-2023", "kdigo-2024-ckd"]
        if d.get("preg"):
            e["pregnancy"] = {"severity": d["preg"][0], "note": d["preg"][1]}
            if d["preg"] is NSAID_PREG:
                src.append("fda-dsc-nsaid-pregnancy-2020")
            if d["preg"] is STATIN_PREG:
                src.append("fda-dsc-statin-pregnancy-2021")
        if d.get("age"):
            rules = []
            for a in d["age"]:
                rule = {a[0]: a[1], "severity": a[2], "note": a[3]}
                if len(a) > 4:
                    src.append(a[4])
                rules.append(rule)
            e["age"] = rules
        if d.get("note"):
            e["note"] = d["note"]
        for s in d.get("src", []):
            src.append(s)
        e["source"] = list(dict.fromkeys(src))
        entries.append(e)
    used = {s for e in entries for s in e["source"]}
    # interactions/allergy packs cite labels by the same keys; keep every label key defined here
    return {"pack": "formulary", "version": VERSION,
            "description": "Drugs, brand names, classes, routes, high-alert status (ISMP), adult/pediatric dose limits, "
                           "forbidden routes, renal, pregnancy and age restrictions. class_terms: words naming a drug class in free text.",
            "sources": {k: v for k, v in sources.items() if k in used},
            "class_terms": {cls: _split(terms) for cls, terms in CLASS_TERMS.items()}, "entries": entries}


def build_interactions(formulary: dict) -> dict:
    labels = {k: v for k, v in formulary["sources"].items() if k.startswith("fda-label:")}
    entries, sources = [], {}
    for a, b, sev, effect, mgmt, src in INTERACTIONS:
        for s in src:
            sources[s] = labels.get(s) or COMMON_SOURCES[s]
        entries.append({"a": a, "b": b, "severity": sev, "effect": effect, "management": mgmt, "source": src})
    return {"pack": "interactions", "version": VERSION,
            "description": "Drug-drug interactions by drug or class (class:NAME refers to formulary classes): severity, effect, management.",
            "sources": sources, "entries": entries}


def build_allergy(formulary: dict) -> dict:
    labels = {k: v for k, v in formulary["sources"].items() if k.startswith("fda-label:")}
    entries, sources = [], {}
    for c in ALLERGY_CLASSES:
        for s in c["source"]:
            sources[s] = labels.get(s) or COMMON_SOURCES[s]
        entries.append({"id": c["id"], "label": c["label"], "names": c["names"], "member_classes": c["member_classes"],
                        "cross_reactive": [{"drug_class": k, "level": lvl, "severity": sev, "note": n} for k, lvl, sev, n in c["cross"]],
                        "source": c["source"]})
    return {"pack": "allergy_classes", "version": VERSION,
            "description": "Drug-allergy classes: names a patient allergy may use, member drug classes, and cross-reactive classes with a level.",
            "sources": sources, "entries": entries}


def main() -> None:
    formulary = build_formulary()
    packs = {"formulary": formulary, "interactions": build_interactions(formulary), "allergy_classes": build_allergy(formulary)}
    for name, data in packs.items():
        path = PACK_DIR / f"{name}.json"
        path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {path} ({len(data['entries'])} entries)")


if __name__ == "__main__":
    main()
