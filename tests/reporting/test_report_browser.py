"""The governance report in a real browser: headless Chromium (offline, file:// only) renders the fixture
store's report to a screenshot, and a harness copy of the page reports that every image decoded.

Set ``REPORT_SCREENSHOT_OUT=PATH`` to keep the screenshot (the closing note's docs/report-screenshot.png)."""

from __future__ import annotations

import os
import shutil

import pytest

from safemed_desktop.reporting.html import find_chromium

from .browser import check_in_chromium

pytestmark = pytest.mark.skipif(find_chromium() is None and not os.environ.get("CI"),
                                reason="Chromium is not installed (CI installs it)")


def test_report_renders_in_headless_chromium(fixture_store, tmp_path):
    service, store, ids = fixture_store
    out = tmp_path / "report"
    done = service.write_report(store, out, pdf=True, now=1_790_000_100.0)
    assert (out / "index.html").read_text().count("<img ") >= 7
    shot = check_in_chromium(out / "index.html", tmp_path)
    # the PDF printed by the same browser
    assert done["pdf"] and (out / "report.pdf").read_bytes()[:5] == b"%PDF-"
    keep = os.environ.get("REPORT_SCREENSHOT_OUT")
    if keep:
        shutil.copyfile(shot, keep)
