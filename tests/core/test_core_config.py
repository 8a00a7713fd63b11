"""Configuration layering, sources, site-only policy keys and bad values."""

from __future__ import annotations

import json

import pytest

from safemed_desktop.cli import main
from safemed_desktop.config import load_config, write_config_file
from safemed_desktop.errors import ConfigError
from safemed_desktop.paths import resolve_paths


def test_defaults_and_sources(safemed_home):
    cfg = load_config()
    assert cfg.model == "smollm2-135m-instruct-q4_1"
    assert cfg.gpu_layers == "auto"
    assert cfg.sources["context_size"] == "default"
    assert cfg.guard_action("adversarial_input") == "block"
    assert cfg.guard_action("medication_safety") == "warn"
    assert cfg.paths.data_dir == (safemed_home / "data").resolve()


def test_layers_site_user_env(safemed_home, monkeypatch):
    paths = resolve_paths()
    write_config_file(paths.site_config_file, {"context_size": 4096, "threads": 4, "site_id": "pilot-7",
                                               "guard": {"medication_safety": "block"}})
    write_config_file(paths.user_config_file, {"threads": 2})
    monkeypatch.setenv("SAFEMED_GPU_LAYERS", "12")
    cfg = load_config()
    assert cfg.context_size == 4096 and cfg.sources["context_size"].startswith("site:")
    assert cfg.threads == 2 and cfg.sources["threads"].startswith("user:")
    assert cfg.gpu_layers == 12 and cfg.sources["gpu_layers"] == "env:SAFEMED_GPU_LAYERS"
    assert cfg.site_id == "pilot-7"
    assert cfg.guard_action("medication_safety") == "block"
    assert cfg.guard_action("adversarial_input") == "block"  # untouched default survives a partial table
    over = cfg.with_overrides({"model": "/tmp/x.gguf", "threads": None}, source="cli")
    assert over.model == "/tmp/x.gguf" and over.sources["model"] == "cli" and over.threads == 2


def test_user_file_cannot_set_site_policy(safemed_home):
    write_config_file(resolve_paths().user_config_file, {"allow_unapproved_models": True})
    with pytest.raises(ConfigError, match="site policy"):
        load_config()


@pytest.mark.parametrize(
    "data, message",
    [
        ({"gpu_layers": "many"}, "gpu_layers"),
        ({"gpu_layers": -1}, "gpu_layers"),
        ({"context_size": 10}, "between"),
        ({"temperature": "hot"}, "number"),
        ({"no_such_key": 1}, "unknown setting"),
        ({"guard": {"adversarial_input": "ignore"}}, "warn' or 'block"),
        ({"guard": {"nonsense": "warn"}}, "unknown signal"),
    ],
)
def test_bad_values_are_named(safemed_home, data, message):
    write_config_file(resolve_paths().site_config_file, data)
    with pytest.raises(ConfigError, match=message):
        load_config()


def test_invalid_toml_and_utf8(safemed_home):
    path = resolve_paths().site_config_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"model = \xff\xfe")
    with pytest.raises(ConfigError, match="not valid UTF-8"):
        load_config()
    path.write_text("model = [unclosed", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config()


def test_config_show_json(safemed_home, capsys):
    write_config_file(resolve_paths().site_config_file, {"site_id": "ward-3"})
    assert main(["config", "show", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["settings"]["site_id"] == {"value": "ward-3", "source": f"site:{resolve_paths().site_config_file}"}
    assert out["settings"]["model"]["source"] == "default"
    assert out["paths"]["data_dir"].startswith(str(safemed_home.resolve()))


def test_config_error_exit_code(safemed_home, capsys):
    write_config_file(resolve_paths().site_config_file, {"threads": "lots"})
    assert main(["config", "show"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("safemed: error:") and "threads" in err and len(err.strip().splitlines()) == 1
