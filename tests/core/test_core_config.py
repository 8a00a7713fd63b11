"""Configuration layering, sources, site-only policy keys and bad values."""

from __future__ import annotations

import inspect
import json
import typing

import pytest

from safemed_desktop.cli import main
from safemed_desktop import config as config_module
from safemed_desktop.config import SETTINGS, Config, env_variables, load_config, write_config_file
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


def test_every_setting_has_a_typed_read_only_property(safemed_home):
    """Adding a setting to SETTINGS without a typed accessor on Config fails here."""
    cfg = load_config()
    for s in SETTINGS:
        prop = inspect.getattr_static(Config, s.key, None)
        assert isinstance(prop, property), f"Config has no property for setting {s.key!r}"
        assert prop.fset is None, f"Config.{s.key} must be read-only"
        ret = typing.get_type_hints(prop.fget, localns=vars(config_module)).get("return")
        assert ret is not None and ret is not typing.Any, f"Config.{s.key} has no return type"
        assert getattr(cfg, s.key) == s.default and getattr(cfg, s.key) is cfg.values[s.key]
        with pytest.raises(AttributeError):
            setattr(cfg, s.key, s.default)
    # no dynamic fallback: a name that is not a setting is an error, not a lookup in values
    cfg.values["not_a_setting"] = 1
    with pytest.raises(AttributeError):
        cfg.not_a_setting  # noqa: B018
    over = cfg.with_overrides({"context_size": "4096", "temperature": 0.5, "gpu_layers": "3"})
    assert (over.context_size, over.temperature, over.gpu_layers) == (4096, 0.5, 3)
    assert cfg.context_size == 2048  # with_overrides returns a new Config


def test_env_variables_are_the_ones_load_config_reads(safemed_home, monkeypatch):
    names = env_variables()
    assert names == tuple(f"SAFEMED_{s.key.upper()}" for s in SETTINGS if not s.site_only)
    assert "SAFEMED_MODEL" in names and "SAFEMED_GPU_LAYERS" in names and "SAFEMED_SITE_ID" not in names
    raw = {"model": "x-model", "gpu_layers": "0", "context_size": "1024", "threads": "3", "temperature": "0.7",
           "max_tokens": "64", "idle_lock_minutes": "5", "self_consistency_k": "2", "strike_window_days": "7"}
    assert {f"SAFEMED_{k.upper()}" for k in raw} == set(names)  # update raw when a setting is added
    for key, value in raw.items():
        monkeypatch.setenv(f"SAFEMED_{key.upper()}", value)
    cfg = load_config()
    for name in names:
        key = name.removeprefix("SAFEMED_").lower()
        assert cfg.sources[key] == f"env:{name}"
    for name in names:
        monkeypatch.delenv(name)
    assert all(src == "default" for src in load_config().sources.values())
    monkeypatch.setenv("SAFEMED_SITE_ID", "from-env")  # site policy: not read from the environment
    assert load_config().site_id == "unconfigured-site"
