"""Manifests, resolution of ids and paths, the hash cache, approval and site policy."""

from __future__ import annotations

import json
import os

import pytest

from safemed_desktop.config import load_config, write_config_file
from safemed_desktop.errors import (ModelError, ModelFileError, ModelHashMismatchError, ModelLoadError,
                                    ModelNotFoundError, UnapprovedModelError)
from safemed_desktop.model_registry import (DEMO_PACKAGE, ModelFileStatus, add_model, check_manifest, file_sha256,
                                            identity, list_manifests, load_manifest, resolve_model,
                                            search_dirs, status_of, verify_models)
from safemed_desktop.paths import builtin_models_dir

from .conftest import tiny_llama_metadata, tiny_llama_tensors, write_gguf

DEMO_ID = "smollm2-135m-instruct-q4_1"
DEMO_SHA = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
PROD_ID = "safemed-r1-32b-q4_k_m"
PROD_FILE = "SafeMed-R1-32B.Q4_K_M.gguf"


def forbid_unapproved(home):
    write_config_file(home / "site" / "site.toml", {"allow_unapproved_models": False})


def test_builtin_manifests(safemed_home):
    ms = {m.id: m for m in list_manifests(load_config())}
    demo, prod = ms[DEMO_ID], ms[PROD_ID]
    assert demo.sha256 == DEMO_SHA and demo.size_bytes == 98362432 and demo.demo
    assert demo.chat_format == "plain" and demo.quantization == "Q4_1" and demo.license == "Apache-2.0"
    assert not demo.clinically_validated and "not clinically validated" in demo.notes
    assert prod.sha256 is None and prod.chat_format == "think-answer" and prod.quantization == "Q4_K_M"
    assert demo.builtin and demo.manifest_path.parent == builtin_models_dir()


def test_demo_resolves_from_the_package_with_hash_cache(safemed_home, demo_model_path):
    cfg = load_config()
    seen = []
    r = resolve_model(cfg, progress=lambda done, total: seen.append((done, total)))
    assert r.approved and r.label == DEMO_ID and r.sha256 == DEMO_SHA and r.demo
    assert r.path == demo_model_path and r.gguf.n_layers == 30
    assert seen[-1] == (98362432, 98362432)
    cache = json.loads((safemed_home / "cache" / "model_hashes.json").read_text())
    (key, value), = cache.items()
    st = demo_model_path.stat()
    assert value == DEMO_SHA and key.endswith(f"|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}")
    seen.clear()
    assert resolve_model(cfg, progress=lambda d, t: seen.append(d)).sha256 == DEMO_SHA
    assert seen == []  # second time: from the cache, not re-hashed
    ident = identity(r)
    assert (ident.id, ident.sha256, ident.approved, ident.demo, ident.chat_format) == (DEMO_ID, DEMO_SHA, True,
                                                                                         True, "plain")


def test_hash_cache_invalidated_by_mtime(safemed_home, tmp_path):
    cfg = load_config()
    p = write_gguf(tmp_path / "a.gguf", tiny_llama_metadata(), tiny_llama_tensors())
    first = file_sha256(cfg, p)
    with open(p, "r+b") as fh:  # same size, different content, new mtime
        fh.seek(-1, os.SEEK_END)
        fh.write(b"\x01")
    os.utime(p, ns=(p.stat().st_atime_ns, p.stat().st_mtime_ns + 1_000_000))
    assert file_sha256(cfg, p) != first


def test_search_order_site_dir_shadows_package(safemed_home, damaged_models):
    """A tampered file placed in a searched folder is refused, not silently skipped."""
    cfg = load_config()
    dirs = search_dirs(cfg)
    assert dirs[0] == cfg.paths.site_models_dir and dirs[1] == cfg.paths.data_dir / "models"
    assert any(d.name == DEMO_PACKAGE for d in dirs)
    site = cfg.paths.data_dir / "models"
    site.mkdir(parents=True)
    (site / damaged_models["flipped"].name).symlink_to(damaged_models["flipped"])
    with pytest.raises(ModelHashMismatchError, match=f"manifest '{DEMO_ID}' pins b179c9523d0e6a0f"):
        resolve_model(cfg)
    assert dict((m.id, s) for m, s in verify_models(cfg))[DEMO_ID] == "mismatch"


def test_path_with_flipped_byte_is_refused(safemed_home, damaged_models):
    with pytest.raises(ModelHashMismatchError, match="named like 'smollm2-135m-instruct-q4_1' but its sha256"):
        resolve_model(load_config(), str(damaged_models["flipped"]))


def test_approved_file_at_another_path(safemed_home, demo_model_path, tmp_path):
    link = tmp_path / "renamed.gguf"
    link.symlink_to(demo_model_path)
    r = resolve_model(load_config(), str(link))
    assert r.approved and r.label == DEMO_ID


def test_unapproved_model_policy(safemed_home, tmp_path):
    p = write_gguf(tmp_path / "other.gguf", tiny_llama_metadata(template="<think>{{x}}</think>"), tiny_llama_tensors())
    r = resolve_model(load_config(), str(p))
    assert not r.approved and r.label == "unapproved:other.gguf" and r.manifest is None
    assert r.chat_format == "think-answer" and len(r.sha256) == 64
    assert identity(r).approved is False
    forbid_unapproved(safemed_home)
    with pytest.raises(UnapprovedModelError, match="other.gguf is not approved .* site policy forbids"):
        resolve_model(load_config(), str(p))


def test_missing_unknown_and_not_imported(safemed_home, tmp_path):
    cfg = load_config()
    with pytest.raises(ModelFileError, match="model file not found"):
        resolve_model(cfg, str(tmp_path / "gone.gguf"))
    with pytest.raises(ModelNotFoundError, match="unknown model 'nope'.*known: safemed-r1"):
        resolve_model(cfg, "nope")
    with pytest.raises(ModelNotFoundError, match=f"'{PROD_ID}' is not imported"):
        resolve_model(cfg, PROD_ID)
    st = {c.manifest.id: c.status for c in (check_manifest(cfg, m) for m in list_manifests(cfg))}
    assert st == {DEMO_ID: "ok", PROD_ID: "not imported"}


def test_truncated_and_not_gguf(safemed_home, damaged_models):
    cfg = load_config()
    with pytest.raises(ModelFileError, match="truncated: tensor"):
        resolve_model(cfg, str(damaged_models["truncated"]))
    with pytest.raises(ModelFileError, match="not a GGUF model file"):
        resolve_model(cfg, str(damaged_models["not_gguf"]))


def test_add_completes_the_production_manifest(safemed_home, tmp_path):
    """IT imports the production file: the built-in entry with no sha256 gets pinned under its id."""
    p = write_gguf(tmp_path / PROD_FILE, tiny_llama_metadata(arch="qwen3", template="<think></think>"),
                   tiny_llama_tensors())
    cfg = load_config()
    m = add_model(cfg, p)
    assert m.id == PROD_ID and m.chat_format == "think-answer" and len(m.sha256) == 64
    assert m.manifest_path == cfg.paths.site_models_dir / f"{PROD_ID}.toml"
    assert m.extra["architecture"] == "qwen3" and m.extra["n_layers"] == 2 and m.quantization == "Q4_K_M"
    r = resolve_model(cfg, PROD_ID)
    assert r.approved and r.path == p.resolve() and r.chat_format == "think-answer" and not r.demo
    # now the file changes: refused
    with open(p, "r+b") as fh:
        fh.seek(-1, os.SEEK_END)
        fh.write(b"\x07")
    with pytest.raises(ModelHashMismatchError):
        resolve_model(cfg, PROD_ID)
    # and re-adding a different file under the pinned id is refused too
    with pytest.raises(ModelHashMismatchError, match="already pins sha256"):
        add_model(cfg, p, model_id=PROD_ID)


def test_add_new_model_then_it_is_approved(safemed_home, tmp_path):
    p = write_gguf(tmp_path / "Site-Model.Q4_K_M.gguf", tiny_llama_metadata(), tiny_llama_tensors())
    forbid_unapproved(safemed_home)
    cfg = load_config()
    with pytest.raises(UnapprovedModelError):
        resolve_model(cfg, str(p))
    m = add_model(cfg, p)
    assert m.id == "site-model.q4_k_m" and m.chat_format == "plain" and not m.demo
    assert resolve_model(cfg, str(p)).label == m.id
    assert resolve_model(cfg, m.id).approved


def test_bad_manifest_is_a_clear_error(safemed_home, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('id = "x"\nfile = "a.gguf"\nsha256 = "abc"\n', encoding="utf-8")
    with pytest.raises(ModelError, match="sha256 must be 64 hex digits"):
        load_manifest(bad)
    bad.write_text('id = "x"\n', encoding="utf-8")
    with pytest.raises(ModelError, match="missing required field 'file'"):
        load_manifest(bad)
    bad.write_text('id = "x"\nfile = "a.gguf"\nchat_format = "chatml"\n', encoding="utf-8")
    with pytest.raises(ModelError, match="chat_format 'chatml'"):
        load_manifest(bad)


def _status_raised(cfg, ref) -> ModelFileStatus:
    with pytest.raises(ModelError) as info:
        resolve_model(cfg, ref)
    return status_of(info.value)


def test_status_of_every_model_error(safemed_home, tmp_path, damaged_models):
    """status_of gives exactly the strings `safemed doctor` printed; the status is a declared attribute."""
    cfg = load_config()
    p = write_gguf(tmp_path / "other.gguf", tiny_llama_metadata(), tiny_llama_tensors())
    cases = {
        str(tmp_path / "gone.gguf"): "missing",
        "nope": "unknown",
        PROD_ID: "not imported",
        str(damaged_models["flipped"]): "mismatch",
        str(damaged_models["truncated"]): "corrupt",
        str(damaged_models["not_gguf"]): "corrupt",
    }
    for ref, expected in cases.items():
        st = _status_raised(cfg, ref)
        assert type(st) is ModelFileStatus and st == expected and st.value == expected, ref
        assert str(st) == f"{st}" == json.loads(json.dumps(st)) == expected  # prints as the plain string
    forbid_unapproved(safemed_home)
    assert _status_raised(load_config(), str(p)) == "unapproved (forbidden by site policy)"
    # errors raised without a status map by class; an explicit status wins
    assert ModelError("x").status is None
    assert status_of(ModelHashMismatchError("x")) is ModelFileStatus.MISMATCH
    assert status_of(UnapprovedModelError("x")) is ModelFileStatus.UNAPPROVED_FORBIDDEN
    assert status_of(ModelFileError("x")) is ModelFileStatus.CORRUPT
    assert status_of(ModelLoadError("x")) is ModelFileStatus.ERROR
    assert status_of(ModelError("x")) is ModelFileStatus.ERROR
    tagged = ModelFileError("x", hint="h", status=ModelFileStatus.MISSING)
    assert status_of(tagged) is ModelFileStatus.MISSING and str(tagged) == "x (h)"
    assert "status" in vars(ModelNotFoundError("x", status=ModelFileStatus.UNKNOWN))


def test_verify_statuses_are_the_enum(safemed_home):
    cfg = load_config()
    checks = [check_manifest(cfg, m) for m in list_manifests(cfg)]
    assert {type(c.status) for c in checks} == {ModelFileStatus}
    assert {c.manifest.id: f"{c.status}" for c in checks} == {DEMO_ID: "ok", PROD_ID: "not imported"}
