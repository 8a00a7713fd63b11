"""Evaluation fixtures: one real demo model and one encrypted store per module (the model is loaded once)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"
PASSPHRASE = "correct horse battery staple"
ADMIN_PIN = "admin-pin-1357"


def eval_env(home: Path) -> dict[str, str]:
    """The environment of a CLI subprocess acting on the store in ``home`` as its site administrator."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFEMED_")}
    env.update(SAFEMED_HOME=str(home), SAFEMED_PASSPHRASE=PASSPHRASE, SAFEMED_PROFILE="admin",
               SAFEMED_PROFILE_PIN=ADMIN_PIN, SAFEMED_THREADS="2", SAFEMED_NETGUARD="1")
    return env


def make_service(home: Path):
    """A service on a fresh SAFEMED_HOME with its store created (signed in as its site administrator)."""
    from safemed_desktop.config import load_config
    from safemed_desktop.service import SafeMedService
    from safemed_desktop.store import KdfParams

    home.mkdir(parents=True, exist_ok=True)
    svc = SafeMedService(load_config(environ={"SAFEMED_HOME": str(home), "SAFEMED_THREADS": "2"}))
    store = svc.create_store(PASSPHRASE, kdf_params=KdfParams.fast_for_tests(), admin_pin=ADMIN_PIN)
    return svc, store


@pytest.fixture(scope="module")
def eval_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("eval_home")


@pytest.fixture(scope="module")
def loaded_service(eval_home, demo_model_path):
    """The service with the demo model loaded and its store open: shared by a module's real-model tests."""
    svc, store = make_service(eval_home)
    svc.load_model()
    yield svc, store
    store.close()
    svc.unload_model()
