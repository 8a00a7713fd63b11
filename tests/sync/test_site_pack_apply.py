"""A pulled site pack is put in effect: its knowledge packs feed the signals, its manifests approve models, its
guard policy tightens (never loosens) this workstation's; a bad part refuses the whole pack, and a pack altered
after the pull is not used at the next start (``safemed doctor`` says why)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from safemed_desktop.config import load_config
from safemed_desktop.errors import BundleError
from safemed_desktop.records import SignalContext
from safemed_desktop.service import SafeMedService
from safemed_desktop.signals.packs import PACK_DIR, load_pack, set_site_overlay, site_overlay
from safemed_desktop.signals.pipeline import assess_one, pack_versions
from safemed_desktop.sync import site as site_ops

from .conftest import SITE_PASSPHRASE, Site, Workstation

PHRASE = "glass-marble sign"  # only the site pack's extra red flag knows this phrase
QUESTION = f"My patient reports a {PHRASE} since this morning, what now?"
SHA = "d" * 64


def _red_flags_update(version: str = "2099.1.0", extra: dict | None = None) -> dict:
    doc = json.loads((PACK_DIR / "red_flags.json").read_text(encoding="utf-8"))
    entry = dict(doc["entries"][0])
    entry.update({"id": "site_pack_test_flag", "condition": "Site-pack test condition",
                  "symptoms": [rf"\b{PHRASE}\b"], "named": [], "requires": []})
    entry.update(extra or {})
    doc["version"] = version
    doc["entries"] = doc["entries"] + [entry]
    return doc


def _site_files(site: Site, *, red_flags: dict | None = None, manifest: dict | None = None,
                guard: dict | None = None) -> None:
    for sub in ("packs", "models"):
        (site.dir / sub).mkdir(exist_ok=True)
    if red_flags is not None:
        (site.dir / "packs" / "red_flags.json").write_text(json.dumps(red_flags))
    if manifest is not None:
        (site.dir / "models" / f"{manifest.get('id', 'm')}.json").write_text(json.dumps(manifest))
    if guard is not None:
        (site.dir / "guard-policy.json").write_text(json.dumps(guard))


def _manifest(**kw) -> dict:
    m = {"id": "site-approved-7b", "name": "Site approved 7B", "file": "site-approved-7b.gguf", "sha256": SHA,
         "license": "Apache-2.0", "quantization": "Q4_K_M", "chat_format": "think-answer"}
    m.update(kw)
    return m


@pytest.fixture
def setup(tmp_path, safemed_home):
    site = Site(tmp_path / "site", None)
    ws = Workstation(Path(safemed_home))
    ws.sync.enroll(site.card)
    site_ops.accept(site.dir, ws.card_file())
    ws.answer_ids = ws.add(1)
    site.import_(ws.export())
    yield site, ws
    ws.close()
    set_site_overlay({})  # the overlay is process-wide: leave the bundled packs for the next test


def _pack(site: Site, tmp_path: Path, name: str) -> Path:
    out = tmp_path / name
    site_ops.build_pack(site.dir, SITE_PASSPHRASE, out, [], None)
    return out


def _flags(question: str) -> str:
    return assess_one("red_flags", SignalContext(question=question, answer="Rest and fluids.")).level


def test_a_pulled_pack_feeds_signals_models_and_guard(setup, tmp_path):
    site, ws = setup
    service = SafeMedService(load_config())
    bundled = load_pack("red_flags").version
    before = _flags(QUESTION)
    assert not any(m["id"] == "site-approved-7b" for m in service.list_models())
    assert service.config.guard_action("medication_safety") == "warn"

    _site_files(site, red_flags=_red_flags_update(), manifest=_manifest(),
                guard={"medication_safety": "block", "red_flags": "warn"})
    res = service.sync_pull(ws.store, _pack(site, tmp_path, "p1.json"))
    assert res["applied"] and res["in_effect"]["knowledge_packs"] == {"red_flags": "2099.1.0"}
    assert load_pack("red_flags").version == "2099.1.0" != bundled
    assert pack_versions()["red_flags"] == "2099.1.0"  # recorded with every answer from now on
    assert before != "alert" and _flags(QUESTION) == "alert"
    assert any(m["id"] == "site-approved-7b" for m in service.list_models())
    assert service.config.guard_action("medication_safety") == "block"
    assert service.config.sources["guard"] == "site pack v1"
    assert res["in_effect"]["guard_tightened"] == ["medication_safety"]
    site_fig = service.provenance(ws.store, ws.answer_ids[0])["site"]  # what the provenance panel shows
    assert site_fig["pack_version"] == 1 and site_fig["overall"]["feedback_count"] == 1
    assert site_fig["category"]["category"] == "general" and site_fig["category"]["workstations"] == 1

    # a restart puts it in effect again, verified
    again = SafeMedService(load_config())
    assert again.site_pack_problem is None and again.site_pack_in_effect()["pack_version"] == 1
    assert again.config.guard_action("medication_safety") == "block" and _flags(QUESTION) == "alert"
    report, _ = again.diagnose()
    assert report["site_pack"]["in_effect"]["model_manifests"] == ["site-approved-7b"]


def test_a_pack_altered_after_the_pull_is_not_used(setup, tmp_path):
    site, ws = setup
    _site_files(site, red_flags=_red_flags_update(), guard={"medication_safety": "block"})
    SafeMedService(load_config()).sync_pull(ws.store, _pack(site, tmp_path, "p1.json"))
    applied = ws.sync.dir / "site-pack.json"
    doc = json.loads(applied.read_text())
    doc["guard_policy"] = {"medication_safety": "warn"}
    applied.write_text(json.dumps(doc))
    service = SafeMedService(load_config())
    assert service.site_pack_problem and "altered" in service.site_pack_problem
    assert service.site_pack_in_effect() is None and site_overlay() == {}
    assert load_pack("red_flags").version != "2099.1.0" and _flags(QUESTION) != "alert"
    assert service.config.guard_action("medication_safety") == "warn"
    assert "altered" in service.diagnose()[0]["site_pack"]["problem"]


@pytest.mark.parametrize("files, match", [
    ({"red_flags": _red_flags_update(version="2000.1.0")}, "older than the bundled"),
    ({"red_flags": _red_flags_update(extra={"symptoms": ["(unclosed"]})}, "does not load"),
    ({"manifest": _manifest(sha256="")}, "must pin the model's sha256"),
    ({"manifest": _manifest(path="/srv/models/x.gguf")}, "may not name a path"),
    ({"guard": {"medication_safety": "shrug"}}, "guard policy is invalid"),
])
def test_one_bad_part_refuses_the_whole_pack(setup, tmp_path, files, match):
    site, ws = setup
    service = SafeMedService(load_config())
    _site_files(site, **files)
    if "manifest" not in files:
        _site_files(site, manifest=_manifest())  # a good part beside the bad one is not applied either
    with pytest.raises(BundleError, match=match):
        service.sync_pull(ws.store, _pack(site, tmp_path, "bad.json"))
    assert not (ws.sync.dir / "site-pack.json").exists() and ws.sync.state().get("pack") is None
    assert site_overlay() == {} and not any(m["id"] == "site-approved-7b" for m in service.list_models())
    assert service.site_pack_in_effect() is None


def test_the_site_pack_tightens_the_guard_but_never_loosens_it(setup, tmp_path, safemed_home):
    site, ws = setup
    site_cfg = load_config().paths.site_config_file
    site_cfg.parent.mkdir(parents=True, exist_ok=True)
    site_cfg.write_text('[guard]\nadversarial_input = "block"\n')
    _site_files(site, guard={"adversarial_input": "warn", "red_flags": "block"})
    service = SafeMedService(load_config())
    service.sync_pull(ws.store, _pack(site, tmp_path, "p1.json"))
    assert service.config.guard_action("adversarial_input") == "block"  # the workstation's block stands
    assert service.config.guard_action("red_flags") == "block"  # the site's block applies
