"""Sync fixtures: real workstation stores, real site keys, a real collection on SQLite and on PostgreSQL.

The PostgreSQL server is started once per session in a temporary directory (``pgserver.PgServer``);
every test gets a fresh database. Without PostgreSQL the PostgreSQL half is skipped, except in CI
(``CI`` set), where it fails: CI installs Debian's ``postgresql`` package (``.ci/run``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from safemed_desktop.records.answer import AnswerRecord, ModelIdentity
from safemed_desktop.records.events import Timings
from safemed_desktop.records.patient import PatientContext
from safemed_desktop.records.signal import Signal
from safemed_desktop.rubric import load_rubric
from safemed_desktop.store import KdfParams, Store
from safemed_desktop.sync import WorkstationSync
from safemed_desktop.sync import site as site_ops
from safemed_desktop.sync.collection import Collection
from safemed_desktop.sync.keys import SiteKeys

from .pgserver import PgServer, find_bin

PASSPHRASE = "workstation passphrase"
SITE_PASSPHRASE = "site passphrase 1"
PIN = "pin-1234-5678"
MODEL = ModelIdentity(id="demo-a", sha256="a" * 64, approved=True, demo=True, chat_format="think-answer")
SECRET = "Mrs Example, 72, on warfarin"  # clinical text that must never appear in clear at the site


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def pg_server():
    if find_bin("initdb") is None:
        if in_ci():
            pytest.fail("PostgreSQL (initdb) is not installed in CI: .ci/run installs Debian's postgresql package")
        pytest.skip("PostgreSQL is not installed (skipped outside CI only)")
    server = PgServer().start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request) -> str | None:
    """None (SITE/collection.db) or the URL of a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("pg_server").new_database()


@pytest.fixture
def another_db(request, db_url):
    """A factory of further empty collections on the same backend as ``db_url``."""
    def make() -> str | None:
        return None if db_url is None else request.getfixturevalue("pg_server").new_database()
    return make


def make_answer(i: int = 0, category: str = "general") -> AnswerRecord:
    return AnswerRecord(
        question=f"{SECRET}: what is the max daily dose of paracetamol? #{i}",
        patient=PatientContext(age=72, sex="female", weight_kg=60, egfr=25, allergies=("penicillin",),
                               medications=("warfarin",)),
        model=MODEL, reasoning_steps=["step one", "step two"], answer=f"4 g per day. #{i}",
        raw_text="<think>step one step two</think><answer>4 g per day.</answer>",
        timings=Timings(ttft_ms=120.5, total_ms=900.25, prompt_tokens=40, completion_tokens=30, tokens_per_s=38.4),
        token_logprobs_summary={"mean": -0.42},
        signals=[Signal("confidence", "ok", "model was confident", "model-logprobs", 0.8)],
        prompt_template_hash="t" * 64, pack_versions={"formulary": "2026.11.0"}, rubric="safemed-cts@1",
        category=category)


class Workstation:
    """A real encrypted store with a signed-in site admin, and its sync state."""

    def __init__(self, root: Path, site_id: str = "site-a"):
        self.root = root
        self.store = Store.create(root / "data" / "safemed.db", PASSPHRASE, site_id,
                                  kdf_params=KdfParams.fast_for_tests())
        self.profile = self.store.add_profile("Dr Sync Admin", "site_admin", PIN)
        self.store.authenticate(self.profile, PIN)
        self.sync = WorkstationSync(root / "data" / "sync", self.store)
        self.rubric = load_rubric()
        self.n = 0

    @property
    def id(self) -> str:
        return self.store.store_uuid

    def add(self, n: int = 1, feedback: bool = True, category: str = "general") -> list[str]:
        ids = []
        for _ in range(n):
            rec = make_answer(self.n, category)
            self.n += 1
            self.store.save_answer(rec)
            if feedback:
                self.store.add_feedback(rec.id, self.profile, self.rubric,
                                        {"medical_correctness": 1 + self.n % 5, "medication_safety": 4,
                                         "clinical_utility": 3}, comment=f"{SECRET} comment {self.n}")
            ids.append(rec.id)
        return ids

    def card_file(self) -> Path:
        import json

        path = self.root / "card.json"
        path.write_text(json.dumps(self.sync.card()))
        return path

    def export(self, name: str = "bundle.smb") -> Path:
        out = self.root / name
        self.sync.export(out)
        return out

    def close(self) -> None:
        self.store.close()


class Site:
    def __init__(self, root: Path, db_url: str | None, site_id: str = "site-a"):
        self.dir = root
        self.db_url = db_url
        site_ops.init_site(root, site_id, SITE_PASSPHRASE, KdfParams.fast_for_tests())
        self.card = root / "site-card.json"

    @classmethod
    def clone(cls, other: "Site", root: Path, db_url: str | None) -> "Site":
        """The same site (same keys and card) over another, empty collection."""
        import shutil

        site = cls.__new__(cls)
        root.mkdir(mode=0o700, parents=True)
        for name in ("site-keys.json", "site-card.json"):
            shutil.copy2(other.dir / name, root / name)
        site.dir, site.db_url, site.card = root, db_url, root / "site-card.json"
        return site

    def accept(self, ws: Workstation) -> None:
        site_ops.accept(self.dir, ws.card_file(), self.db_url)

    def enroll(self, ws: Workstation) -> None:
        ws.sync.enroll(self.card)
        site_ops.accept(self.dir, ws.card_file(), self.db_url)

    def import_(self, *files: Path) -> list[dict]:
        return site_ops.import_bundles(self.dir, files, SITE_PASSPHRASE, self.db_url)

    def collection(self) -> Collection:
        return site_ops.open_collection(self.dir, self.db_url)

    def keys(self) -> SiteKeys:
        return SiteKeys.unlock(self.dir, SITE_PASSPHRASE)

    def digest(self) -> str:
        with self.collection() as c:
            return c.content_digest()

    def snapshot(self) -> tuple:
        """Everything observable of the collection: content digest, counts, imports and packs logged."""
        with self.collection() as c:
            st = c.stats()
            for w in st["workstations"].values():
                w.pop("last_import_at")
            return c.content_digest(), st, c.db.query("SELECT bundle_id FROM imports ORDER BY bundle_id")


@pytest.fixture
def workstation(tmp_path):
    ws = Workstation(tmp_path / "ws1")
    yield ws
    ws.close()


@pytest.fixture
def workstation2(tmp_path):
    ws = Workstation(tmp_path / "ws2")
    yield ws
    ws.close()


@pytest.fixture
def site(tmp_path, db_url) -> Site:
    return Site(tmp_path / "site", db_url)


@pytest.fixture
def enrolled(site, workstation) -> tuple[Site, Workstation]:
    site.enroll(workstation)
    return site, workstation
