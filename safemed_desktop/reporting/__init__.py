"""The governance report and the training-data export (no Qt; layer 7).

- ``data``: every section of the report as plain data, assembled in one function (``assemble``) from a
  store (answers' clear metadata, feedback scores, five-strike reviews, evaluation runs, validation studies,
  audit verification);
- ``plots``: matplotlib (Agg) figures as PNG data URIs;
- ``html``: the self-contained ``index.html`` (and a PDF where Chromium is installed);
- ``export``: clinician audits as SFT / DPO JSONL.
"""

from __future__ import annotations

from .data import assemble, auroc, build, collection_inputs, signal_auroc, score_distributions, store_inputs
from .export import training_examples, write_jsonl
from .html import render_html, write_report

__all__ = ["assemble", "build", "store_inputs", "collection_inputs", "auroc", "signal_auroc", "score_distributions", "training_examples", "write_jsonl",
           "render_html", "write_report"]
