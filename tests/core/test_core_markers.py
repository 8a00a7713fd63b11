"""Every test that needs the real demo model is marked ``model``, so ``pytest -m "not model"`` runs
without it. Checked with pytest's own collection of the whole suite (collect-only, no test runs)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
REPO = TESTS.parent

# Loaded into the child pytest. Before pytest's -m deselection: which MODEL_TESTS entries of the root
# conftest still name a collected test. After selection: every selected test that needs the demo model
# (the demo_model_path fixture in its closure, or a MODEL_TESTS entry).
PLUGIN = textwrap.dedent('''
    import pytest

    _seen = set()

    def _root_conftest(config):
        return next(p for p in config.pluginmanager.get_plugins()
                    if hasattr(p, "MODEL_TESTS") and hasattr(p, "needs_demo_model"))

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_collection_modifyitems(config, items):
        root = _root_conftest(config)
        _seen.update(e for e in map(root.model_tests_entry, items) if e)
        yield

    def pytest_collection_finish(session):
        root = _root_conftest(session.config)
        print("CHECKED-SELECTED", len(session.items))
        for entry in sorted(root.MODEL_TESTS - _seen):
            print("STALE-MODEL-TESTS-ENTRY", entry)
        for item in session.items:
            if "demo_model_path" in getattr(item, "fixturenames", ()) or root.needs_demo_model(item):
                print("UNMARKED-MODEL-TEST", item.nodeid)
''')


def test_not_model_selection_contains_no_test_needing_the_demo_model(tmp_path):
    (tmp_path / "markers_check_plugin.py").write_text(PLUGIN, encoding="utf-8")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen",
               PYTHONPATH=os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "-p", "markers_check_plugin", "-m", "not model", str(TESTS)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "CHECKED-SELECTED" in out, out[-4000:]  # the check really ran
    stale = re.findall(r"^STALE-MODEL-TESTS-ENTRY (.+)$", out, flags=re.M)
    assert stale == [], "MODEL_TESTS entries in tests/conftest.py that match no test: " + ", ".join(stale)
    unmarked = re.findall(r"^UNMARKED-MODEL-TEST (.+)$", out, flags=re.M)
    assert unmarked == [], "tests that need the demo model but are not marked 'model':\n" + "\n".join(unmarked)
    # the model tests were seen and deselected (not silently missing from the collection)
    m = re.search(r"(\d+) deselected", out)
    assert m and int(m.group(1)) > 0, out[-2000:]
