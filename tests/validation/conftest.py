"""Validation-study fixtures: a real encrypted store (fast KDF), profiles, and answers linked without a model."""

from __future__ import annotations

from pathlib import Path

import pytest

from safemed_desktop.records import AnswerRecord, ModelIdentity, PatientContext
from safemed_desktop.service import SafeMedService
from safemed_desktop.store import KdfParams, Store

DATA = Path(__file__).resolve().parent / "data"
CASES12 = DATA / "cases12.jsonl"
PASSPHRASE = "correct horse battery"
FAKE_MODEL = ModelIdentity(id="scripted", sha256="ab" * 32, approved=True, demo=True, chat_format="plain")


@pytest.fixture
def service(safemed_home) -> SafeMedService:
    return SafeMedService()


PIN = "2468"


@pytest.fixture
def store(service):
    s = service.create_store(PASSPHRASE, site_id="test-site", kdf_params=KdfParams.fast_for_tests(),
                             admin_name="Site Admin", admin_pin=PIN)
    yield s
    s.close()


@pytest.fixture
def people(store) -> dict[str, str]:
    """Profiles (all with PIN ``PIN``); the store is left signed in as the lead (an attending)."""
    out = {"admin": store.profile["id"]}
    for key, name, role in (("lead", "Dr Lead", "attending"), ("r1", "Dr One", "reviewer"),
                            ("r2", "Dr Two", "reviewer"), ("resident", "Dr Res", "resident")):
        out[key] = store.add_profile(name, role, PIN)
    store.authenticate(out["lead"], PIN)
    return out


def as_(store: Store, profile_id: str) -> Store:
    """Sign ``store`` in as ``profile_id``."""
    store.authenticate(profile_id, PIN)
    return store


def link_scripted_answers(store: Store, name: str, text_for=lambda case: f"**Answer** for {case['case_id']}.") -> dict:
    """Store a scripted model answer per unanswered case and link it (what ``generate_study`` does with a model)."""
    out = {}
    for c in store.studies.cases(name):
        if c["answer_id"] is not None:
            continue
        rec = AnswerRecord(question=c["vignette"], patient=c["patient"] or PatientContext(), model=FAKE_MODEL,
                           answer=text_for(c), raw_text=text_for(c), rubric="safemed-cts@1")
        store.save_answer(rec)
        store.studies.link_answer(name, c["row_id"], rec.id)
        out[c["case_id"]] = rec.id
    return out
