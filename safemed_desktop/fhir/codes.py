"""Code systems and the codes the import reads (LOINC, SNOMED CT, ICD-10, RxNorm, UCUM)."""

from __future__ import annotations

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
ICD10 = ("http://hl7.org/fhir/sid/icd-10", "http://hl7.org/fhir/sid/icd-10-cm")

SYSTEM_LABEL = {LOINC: "LOINC", SNOMED: "SNOMED", RXNORM: "RxNorm", UCUM: "UCUM",
                ICD10[0]: "ICD-10", ICD10[1]: "ICD-10-CM"}

#: Body weight (measured / stated).
WEIGHT_LOINC = frozenset({"29463-7", "3141-9"})
#: eGFR per 1.73 m2: MDRD, CKD-EPI (2009, by race, and the 2021 race-free equation), cystatin C.
EGFR_LOINC = frozenset({"33914-3", "48642-3", "48643-1", "62238-1", "98979-8", "98980-6", "50044-7",
                        "69405-9", "77147-7", "88293-6", "88294-4"})
#: Serum/plasma/blood creatinine, mass or substance concentration.
CREATININE_LOINC = frozenset({"2160-0", "38483-4", "14682-9", "59826-8"})
#: Pregnancy status, and qualitative hCG pregnancy tests (urine, serum).
PREGNANCY_LOINC = frozenset({"82810-3", "11449-6", "2106-3", "2118-8"})
OBSERVATION_LOINC = WEIGHT_LOINC | EGFR_LOINC | CREATININE_LOINC | PREGNANCY_LOINC

#: Observation answers: pregnant / positive vs not pregnant / negative (SNOMED and LOINC answer codes).
PREGNANT_ANSWERS = frozenset({"77386006", "LA15173-0", "10828004", "LA6576-8"})
NOT_PREGNANT_ANSWERS = frozenset({"60001007", "LA26683-5", "260385009", "LA6577-6"})

#: Conditions that mean a current pregnancy (SNOMED; ICD-10 Z33.1, Z34.*, O09.* by prefix).
PREGNANCY_SNOMED = frozenset({"77386006", "72892002", "47200007", "237238006"})
PREGNANCY_ICD10_PREFIXES = ("Z33.1", "Z34", "O09")

#: Ingredient-level codes whose name the import uses when a coding carries no display or text.
#: (The formulary packs carry no RxNorm codes: drugs are matched by ingredient name, from the code's
#: display or the resource's text; these few codes cover codings sent without any name.)
CODE_NAMES: dict[tuple[str, str], str] = {
    (RXNORM, "161"): "acetaminophen", (RXNORM, "723"): "amoxicillin", (RXNORM, "733"): "ampicillin",
    (RXNORM, "1191"): "aspirin", (RXNORM, "2551"): "ciprofloxacin", (RXNORM, "2670"): "codeine",
    (RXNORM, "5640"): "ibuprofen", (RXNORM, "6809"): "metformin", (RXNORM, "7052"): "morphine",
    (RXNORM, "7258"): "naproxen", (RXNORM, "7980"): "penicillin G", (RXNORM, "7984"): "penicillin V",
    (RXNORM, "10180"): "sulfamethoxazole", (RXNORM, "11289"): "warfarin", (RXNORM, "18631"): "azithromycin",
    (SNOMED, "91936005"): "penicillin", (SNOMED, "764146007"): "penicillin", (SNOMED, "373270004"): "penicillin",
    (SNOMED, "372687004"): "amoxicillin", (SNOMED, "387458008"): "aspirin", (SNOMED, "387207008"): "ibuprofen",
    (SNOMED, "387406002"): "sulfonamide",
}
