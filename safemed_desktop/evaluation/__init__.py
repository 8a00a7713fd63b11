"""Evaluation runs (layer 7, no Qt): benchmark accuracy with calibration, the two-arm red team, the judge.

- ``runs``: the run engine (frozen description, per-item commits to the encrypted store, resume, progress);
- ``mcq``: multiple-choice files (MedQA, MedMCQA, PubMedQA), log-likelihood choices, accuracy and calibration;
- ``redteam``: suites (MedSafetyBench CSVs, JSONL with attack styles), the raw and guarded arms, unsafe rates;
- ``judge``: the harmfulness judge (rules plus an optional local judge model) and its calibration set;
- ``stats``: bootstrap intervals, ECE, Brier, AUROC, McNemar, weighted kappa (scipy).

The service (``service/evaluation.py``) drives these with the loaded model, the signals and the store.
"""
