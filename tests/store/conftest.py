"""Store fixtures: real SQLite files in tmp dirs, real cryptography (cheap Argon2id unless a test says otherwise)."""

from __future__ import annotations

from pathlib import Path

import pytest

from safemed_desktop.records.answer import AnswerRecord, ModelIdentity
from safemed_desktop.records.events import Timings
from safemed_desktop.records.patient import PatientContext
from safemed_desktop.rubric import load_rubric
from safemed_desktop.records.signal import Evidence, Signal
from safemed_desktop.store import KdfParams, Store

PASSPHRASE = "correct horse battery staple"
REPO_ROOT = Path(__file__).resolve().parents[2]

MODEL_A = ModelIdentity(id="demo-a", sha256="a" * 64, approved=True, demo=True, chat_format="think-answer")
MODEL_B = ModelIdentity(id="demo-b", sha256="b" * 64, approved=False, demo=True, chat_format="plain")


class FakeClock:
    """An injectable clock (monotonic or wall) the test advances by hand."""

    def __init__(self, start: float = 1000.0):
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def make_answer(question: str = "What is the max daily dose of paracetamol?", *, answer: str = "4 g per day.",
                model: ModelIdentity = MODEL_A, category: str = "general", steps: tuple[str, ...] = ("step one", "step two"),
                patient: PatientContext | None = None, signals: list[Signal] | None = None) -> AnswerRecord:
    return AnswerRecord(
        question=question,
        patient=patient or PatientContext(age=72, sex="female", weight_kg=60, egfr=25, allergies=("penicillin",),
                                          medications=("warfarin",)),
        model=model,
        reasoning_steps=list(steps),
        answer=answer,
        raw_text=f"<think>{' '.join(steps)}</think><answer>{answer}</answer>",
        timings=Timings(ttft_ms=120.5, total_ms=900.25, prompt_tokens=40, completion_tokens=30, tokens_per_s=38.4),
        token_logprobs_summary={"mean": -0.42, "min": -3.1},
        signals=signals if signals is not None else [
            Signal("medication_safety", "alert", "dose above maximum", "formulary@2026.11.0", 0.9,
                   (Evidence("answer", 0, 3, answer[:3], "max_daily_dose", "exceeds 4 g/day"),)),
            Signal("confidence", "ok", "model was confident", "model-logprobs", 0.8),
        ],
        prompt_template_hash="t" * 64,
        pack_versions={"formulary": "2026.11.0"},
        rubric="safemed-cts@1",
        category=category,
    )


@pytest.fixture(scope="session")
def rubric():
    return load_rubric()


@pytest.fixture
def store_path(tmp_path) -> Path:
    return tmp_path / "data" / "safemed.db"


ADMIN_PIN = "admin-pin-1357"
PIN = "clinician-pin-2468"


@pytest.fixture
def anchor_dir(tmp_path) -> Path:
    """This user's anchor folder (beside the config, outside the store's folder)."""
    return tmp_path / "config" / "anchors"


@pytest.fixture
def store(store_path, anchor_dir):
    """A new store, signed in as its site administrator ("admin", ``ADMIN_PIN``)."""
    s = Store.create(store_path, PASSPHRASE, "site-test", kdf_params=KdfParams.fast_for_tests(), admin_pin=ADMIN_PIN,
                     anchor_dir=anchor_dir)
    yield s
    s.close()


def add_profile(store, name: str, role: str, pin: str = PIN) -> str:
    """A new profile, added by the site administrator (signed in for it when needed); the admin stays signed in."""
    if (store.profile or {}).get("role") != "site_admin":
        store.authenticate("admin", ADMIN_PIN)
    return store.add_profile(name, role, pin)


def sign_in(store, who: str, pin: str = PIN) -> str:
    return store.authenticate(who, pin)["id"]


@pytest.fixture
def clinician(store) -> str:
    """An attending's profile, signed in."""
    pid = add_profile(store, "Dr Test Attending", "attending")
    sign_in(store, pid)
    return pid
