"""The shipped medication packs validate, carry sources, cover the required content; broken variants fail."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

import pytest

from safemed_desktop.errors import PackError
from safemed_desktop.signals.formulary import build_knowledge, load_knowledge
from safemed_desktop.signals.packs import PACK_DIR

ROOT = Path(__file__).resolve().parents[2]


def raw(name: str) -> dict:
    return json.loads((PACK_DIR / f"{name}.json").read_text(encoding="utf-8"))


@pytest.fixture()
def packs() -> tuple[dict, dict, dict]:
    return raw("formulary"), raw("interactions"), raw("allergy_classes")


def test_shipped_packs_validate_and_are_big_enough():
    k = load_knowledge()
    assert k.version == "2026.12.0"
    assert k.source == "formulary@2026.12.0"
    assert len(k.drugs) >= 150
    assert len(k.interactions) >= 100
    assert {a.id for a in k.allergy_classes} >= {"penicillins", "cephalosporins", "carbapenems", "sulfonamide-antibiotics",
                                                   "nsaids", "macrolides", "fluoroquinolones", "opioids"}


def test_every_entry_cites_a_defined_source(packs):
    for pack in packs:
        for e in pack["entries"]:
            refs = e["source"] if isinstance(e["source"], list) else [e["source"]]
            assert refs and all(r in pack["sources"] for r in refs), e


def test_drug_specific_label_citations():
    k = load_knowledge()
    assert "fda-label:acetaminophen" in k.drugs["acetaminophen"].source
    assert "ismp-high-alert-2024" in k.drugs["insulin glargine"].source
    assert "kdigo-2022-diabetes" in k.drugs["metformin"].source


@pytest.mark.parametrize("generic", [
    "insulin", "insulin glargine", "morphine", "hydromorphone", "fentanyl", "oxycodone", "heparin", "enoxaparin", "warfarin",
    "apixaban", "rivaroxaban", "dabigatran", "potassium chloride", "potassium phosphate", "methotrexate", "vincristine",
    "cyclophosphamide", "rocuronium", "succinylcholine", "midazolam", "propofol", "dexmedetomidine", "hypertonic saline",
    "magnesium sulfate", "norepinephrine", "alteplase", "glipizide",
])
def test_ismp_high_alert_classes_are_flagged(generic):
    assert load_knowledge().drugs[generic].high_alert_class


@pytest.mark.parametrize("brand,generic", [
    ("tylenol", "acetaminophen"), ("bactrim", "trimethoprim-sulfamethoxazole"), ("co trimoxazole", "trimethoprim-sulfamethoxazole"),
    ("advil", "ibuprofen"), ("coumadin", "warfarin"), ("lovenox", "enoxaparin"), ("eliquis", "apixaban"), ("lantus", "insulin glargine"),
    ("viagra", "sildenafil"), ("augmentin", "amoxicillin-clavulanate"), ("paracetamol", "acetaminophen"), ("norco", "hydrocodone-acetaminophen"),
])
def test_brand_and_synonym_names_map_to_generics(brand, generic):
    assert load_knowledge().names[brand] == generic


def test_key_clinical_facts():
    k = load_knowledge()
    apap = k.drugs["acetaminophen"]
    assert (apap.max_single.value, apap.max_single.unit, apap.max_daily.value) == (1000, "mg", 4000)
    assert apap.pediatric.max_single_per_kg == 15 and apap.pediatric.max_daily_per_kg == 75
    assert k.drugs["methotrexate"].schedule == "weekly"
    assert {r.route for r in k.drugs["potassium chloride"].forbidden_routes} >= {"iv_push"}
    metformin = {r.below: r.severity for r in k.drugs["metformin"].renal}
    assert metformin == {45: "moderate", 30: "contraindicated"}
    nitro = [r for r in k.drugs["nitrofurantoin"].renal]
    assert {r.below for r in nitro} == {60, 30} and all(r.basis == "CrCl" for r in nitro)
    assert k.drugs["warfarin"].pregnancy.severity == "contraindicated"
    assert k.drugs["atorvastatin"].pregnancy.severity == "moderate"  # 2021 label change, not a contraindication
    assert any(r.below == 12 and r.severity == "contraindicated" for r in k.drugs["codeine"].age)
    assert any(r.below == 2 for r in k.drugs["promethazine"].age)
    pairs = {(i.a, i.b): i.severity for i in k.interactions}
    assert pairs[("class:pde5 inhibitor", "class:nitrate")] == "contraindicated"
    assert pairs[("methotrexate", "trimethoprim")] == "contraindicated"
    assert pairs[("class:anticoagulant", "class:nsaid")] == "major"


def test_generator_reproduces_the_shipped_json():
    """The shipped packs are the generator's 2026.11.0 packs with the 2026.12.0 update applied."""
    spec = importlib.util.spec_from_file_location("gen_medication_packs", ROOT / "tools" / "gen_medication_packs.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    up_spec = importlib.util.spec_from_file_location("pack_update", ROOT / "bench" / "data" / "pack_update_2026_12.py")
    update = importlib.util.module_from_spec(up_spec)
    up_spec.loader.exec_module(update)
    f = gen.build_formulary()
    i, a = gen.build_interactions(f), gen.build_allergy(f)
    update.apply(f, i, a)
    assert f == raw("formulary")
    assert i == raw("interactions")
    assert a == raw("allergy_classes")


# --- broken variants ---------------------------------------------------------------------------------

def drug(f: dict, generic: str) -> dict:
    return next(e for e in f["entries"] if e["generic"] == generic)


def broken(packs, mutate) -> str:
    f, i, a = (copy.deepcopy(p) for p in packs)
    mutate(f, i, a)
    with pytest.raises(PackError) as exc:
        build_knowledge(f, i, a)
    return str(exc.value)


def test_duplicate_brand_across_drugs_fails(packs):
    msg = broken(packs, lambda f, i, a: drug(f, "ibuprofen")["brands"].append("Tylenol"))
    assert "'Tylenol'" in msg and "acetaminophen" in msg


def test_duplicate_generic_fails(packs):
    msg = broken(packs, lambda f, i, a: f["entries"].append(copy.deepcopy(drug(f, "warfarin"))))
    assert "warfarin" in msg


def test_unknown_unit_fails(packs):
    msg = broken(packs, lambda f, i, a: drug(f, "acetaminophen")["adult"]["max_daily"].update(unit="tablets"))
    assert "unit 'tablets'" in msg


def test_single_above_daily_fails(packs):
    msg = broken(packs, lambda f, i, a: drug(f, "acetaminophen")["adult"]["max_single"].update(value=5000))
    assert "exceeds max daily" in msg


def test_interaction_with_unknown_drug_fails(packs):
    def mutate(f, i, a):
        i["entries"][0]["a"] = "unobtainium"
    assert "unknown drug 'unobtainium'" in broken(packs, mutate)


def test_interaction_with_unknown_class_fails(packs):
    def mutate(f, i, a):
        i["entries"][0]["b"] = "class:nitrites"
    assert "unknown drug class 'nitrites'" in broken(packs, mutate)


def test_interaction_bad_severity_fails(packs):
    def mutate(f, i, a):
        i["entries"][0]["severity"] = "mild"
    assert "severity 'mild'" in broken(packs, mutate)


def test_bad_version_fails(packs):
    def mutate(f, i, a):
        f["version"] = "v1"
    assert "YYYY.MM.N" in broken(packs, mutate)


def test_version_mismatch_fails(packs):
    def mutate(f, i, a):
        a["version"] = "2027.1.0"
    assert "disagree on version" in broken(packs, mutate)


def test_missing_source_fails(packs):
    def mutate(f, i, a):
        drug(f, "warfarin")["source"] = ["fda-label:nonexistent"]
    assert "unknown or missing source" in broken(packs, mutate)


def test_allergy_unknown_member_class_fails(packs):
    def mutate(f, i, a):
        a["entries"][0]["member_classes"] = ["penicilin"]
    assert "penicilin" in broken(packs, mutate)


def test_bad_route_and_renal_fail(packs):
    assert "route 'iv push'" in broken(packs, lambda f, i, a: drug(f, "potassium chloride")["forbidden_routes"][0].update(route="iv push"))
    assert "basis" in broken(packs, lambda f, i, a: drug(f, "metformin")["renal"][0].update(basis="GFR"))


def test_class_terms_are_validated(packs):
    assert load_knowledge().names["nsaids"] == "class:nsaid"
    assert "already used by 'acetaminophen'" in broken(packs, lambda f, i, a: f["class_terms"]["nsaid"].append("Tylenol"))
    assert "unknown drug class 'nitrites'" in broken(packs, lambda f, i, a: f["class_terms"].update(nitrites=["nitrites"]))


def test_high_alert_flag_is_validated(packs):
    assert "high_alert" in broken(packs, lambda f, i, a: drug(f, "amlodipine").pop("high_alert"))
    assert "'ismp_class'" in broken(packs, lambda f, i, a: drug(f, "warfarin").pop("ismp_class"))


def test_2026_12_fields_are_validated(packs):
    def bad_product(f, i, a):
        f["products"][0]["per_unit"] = {"ibuprofen": {"value": 200, "unit": "mg"}}  # not an ingredient of acetaminophen
    assert "is not an ingredient" in broken(packs, bad_product)

    def bad_class(f, i, a):
        f["duplicate_therapy"][0]["classes"] = ["no such class"]
    assert "unknown drug class" in broken(packs, bad_class)

    def bad_source(f, i, a):
        drug(f, "zolpidem")["geriatric"][0]["source"] = "acog-eclampsia-2020"  # not among zolpidem's sources
    assert "not one of the drug's sources" in broken(packs, bad_source)

    def bad_unit(f, i, a):
        drug(f, "cholecalciferol")["adult"]["max_daily"]["unit"] = "IU"
    assert "unit 'IU' is not one of" in broken(packs, bad_unit)


def test_2026_12_limits_are_loaded():
    k = load_knowledge()
    assert k.drugs["digoxin"].geriatric[0].max_daily.value == 0.125
    assert dict(k.drugs["epinephrine"].max_single_by_route)["im"].value == 0.5
    assert k.drugs["alendronate"].schedule == "weekly" and k.drugs["alendronate"].daily_regimen_max.value == 10
    assert {p.generic for p in k.products} >= {"acetaminophen", "ibuprofen", "acetaminophen-codeine"}
    assert k.taper_required and k.duplicate_therapy
    for g, d in k.drugs.items():
        for lim in (*d.geriatric, d.hepatic, d.low_weight, d.loading):
            if lim is not None:
                assert lim.source in d.source, g
