"""Use cases of the governance report and the training-data export.

The report reads the store once (``reporting.assemble``: every section as plain data), analyses every
unblinded validation study, includes the store's evaluation runs, and writes ``index.html`` (plus a PDF
where Chromium is installed). The export turns clinician audits into SFT or DPO JSONL; the patient
context stays out unless the site's config allows it (``export_patient_context``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..store import Store


class ReportingService:
    """The governance report and training-data export (mixed into ``SafeMedService``)."""

    def report_data(self, store: "Store", *, now: float | None = None) -> dict[str, Any]:
        """Every section of the governance report as plain data (a lead role: site_admin or attending)."""
        from ..reporting import assemble

        return assemble(store, self.load_rubric(), service=self, now=now)

    def collection_report_data(self, site_dir: str | os.PathLike, db_url: str | None = None, *,
                               now: float | None = None) -> dict[str, Any]:
        """The report's data for the site's collection (``--site SITE [--db URL]``): clear columns only."""
        from ..reporting import build, collection_inputs
        from ..sync import site

        with site.open_collection(site_dir, db_url) as coll:
            return build(collection_inputs(coll), self.load_rubric(), now=now)

    def write_report(self, store: "Store | None", out_dir: str | os.PathLike, *, pdf: bool = True,
                     now: float | None = None, site_dir: str | os.PathLike | None = None,
                     db_url: str | None = None) -> dict[str, Any]:
        """Write the report of a store, or of the site's collection when ``site_dir`` is given; returns
        ``{"index": path, "pdf": path or None, "data": the plain data}``."""
        from ..reporting import write_report

        if site_dir is not None:
            data = self.collection_report_data(site_dir, db_url, now=now)
        else:
            data = self.report_data(store, now=now)
        written = write_report(data, out_dir, pdf=pdf)
        return {**written, "data": data}

    def site_allows_patient_export(self) -> bool:
        return self.config.export_patient_context

    def export_training(self, store: "Store | None", fmt: str, out: str | os.PathLike, *, threshold: int = 4,
                        include_patient: bool | None = None, site_dir: str | os.PathLike | None = None,
                        db_url: str | None = None, site_passphrase: str | None = None) -> dict[str, Any]:
        """Write the training examples of ``fmt`` (sft|dpo) to ``out`` (JSONL, 0600): from the store (site
        administrators only), or from the site's collection when ``site_dir`` is given (the site passphrase
        unseals the text).

        ``include_patient``: None follows the site config; True is refused unless the site allows it."""
        from ..errors import InputError
        from ..reporting import training_examples, write_jsonl
        from ..reporting.export import collection_training_records

        allowed = self.site_allows_patient_export()
        if include_patient and not allowed:
            raise InputError("the site config does not allow patient context in training exports",
                             hint="a site administrator sets export_patient_context = true in the site config")
        if site_dir is not None:
            from ..sync import site
            from ..sync.keys import SiteKeys

            keys = SiteKeys.unlock(site_dir, site_passphrase or "")
            try:
                with site.open_collection(site_dir, db_url) as coll:
                    records = collection_training_records(coll, keys)
            finally:
                keys.close()
        else:
            records = store.studies.training_records()
        examples = training_examples(records, fmt, threshold=threshold,
                                     include_patient=allowed if include_patient is None else include_patient)
        n = write_jsonl(out, examples)
        return {"format": fmt, "out": os.fspath(out), "n": n, "threshold": threshold,
                "patient_context": bool(allowed if include_patient is None else include_patient)}
