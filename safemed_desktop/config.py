"""Site and user configuration (TOML), with the source of every effective value.

Layers, lowest to highest: built-in defaults < site file (IT) < user file < environment
(``SAFEMED_<KEY>``) < explicit overrides (CLI flags, settings dialog). Site policy keys
(``allow_unapproved_models``, ``guard``, ``site_id``, ``judge_model``, ...: ``Setting.site_only``) are IT's:
a user file cannot set them.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import tomli_w

from .errors import ConfigError
from .jsonio import decode_utf8
from .paths import Paths, resolve_paths, ui_dir, write_file_atomic  # noqa: F401  (ui_dir: the views' one way to their assets)
from .records.guard import GUARD_ACTIONS
from .records.signal import SIGNAL_NAMES

GUARD_SIGNALS = SIGNAL_NAMES
DEFAULT_GUARD = {name: ("block" if name == "adversarial_input" else "warn") for name in GUARD_SIGNALS}


def _gpu_layers(value: Any) -> str | int:
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"gpu_layers must be 'auto' or a whole number >= 0, got {value!r}") from None
    if n < 0:
        raise ConfigError(f"gpu_layers must be 'auto' or a whole number >= 0, got {value!r}")
    return n


def _int_range(lo: int, hi: int) -> Callable[[Any], int]:
    def conv(value: Any) -> int:
        try:
            n = int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"expected a whole number between {lo} and {hi}, got {value!r}") from None
        if not lo <= n <= hi:
            raise ConfigError(f"expected a whole number between {lo} and {hi}, got {n}")
        return n

    return conv


def _float_range(lo: float, hi: float) -> Callable[[Any], float]:
    def conv(value: Any) -> float:
        try:
            x = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"expected a number between {lo} and {hi}, got {value!r}") from None
        if not lo <= x <= hi:
            raise ConfigError(f"expected a number between {lo} and {hi}, got {x}")
        return x

    return conv


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"expected true or false, got {value!r}")


def _str(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"expected a non-empty string, got {value!r}")
    return value.strip()


def _guard(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ConfigError(f"guard must be a table of signal = 'warn'|'block', got {value!r}")
    out = dict(DEFAULT_GUARD)
    for name, action in value.items():
        if name not in GUARD_SIGNALS:
            raise ConfigError(f"guard: unknown signal {name!r} (known: {', '.join(GUARD_SIGNALS)})")
        if action not in GUARD_ACTIONS:
            raise ConfigError(f"guard.{name} must be 'warn' or 'block', got {action!r}")
        out[name] = action
    return out


@dataclass(frozen=True)
class Setting:
    key: str
    default: Any
    convert: Callable[[Any], Any]
    help: str
    site_only: bool = False


SETTINGS: tuple[Setting, ...] = (
    Setting("model", "smollm2-135m-instruct-q4_1", _str, "model id from a manifest, or a path to a .gguf file"),
    Setting("gpu_layers", "auto", _gpu_layers, "layers offloaded to the GPU: 'auto' or a number (0 = CPU only)"),
    Setting("context_size", 2048, _int_range(256, 262144), "context window in tokens"),
    Setting("threads", 0, _int_range(0, 512), "CPU threads for inference (0 = all physical cores)"),
    Setting("temperature", 0.2, _float_range(0.0, 2.0), "sampling temperature"),
    Setting("max_tokens", 512, _int_range(1, 32768), "maximum tokens per answer"),
    Setting("idle_lock_minutes", 10, _int_range(1, 1440), "lock the store after this many idle minutes"),
    Setting("self_consistency_k", 0, _int_range(0, 16), "extra samples for the confidence signal (0 = off)"),
    Setting("strike_window_days", 30, _int_range(1, 3650), "window for the five-strike rule, in days"),
    Setting("site_id", "unconfigured-site", _str, "pilot site identifier", site_only=True),
    Setting("allow_unapproved_models", True, _bool, "allow model files that no manifest names", site_only=True),
    Setting("guard", dict(DEFAULT_GUARD), _guard, "per-signal guard policy: warn or block", site_only=True),
    Setting("fhir_stale_days", 90, _int_range(1, 3650),
            "FHIR import: an observation older than this many days is flagged as stale", site_only=True),
    Setting("export_patient_context", False, _bool,
            "training-data export: keep the patient context in exported examples (off: removed)", site_only=True),
    Setting("judge_model", None, _str,
            "eval judge / eval redteam: the local judge model (id or .gguf path) when --judge-model is not given; "
            "unset: the rules judge", site_only=True),
)
SETTINGS_BY_KEY = {s.key: s for s in SETTINGS}


@dataclass
class Config:
    values: dict[str, Any]
    sources: dict[str, str]
    paths: Paths = field(default_factory=resolve_paths)
    #: Model manifests (dicts) approved by the applied site pack, with the pack they came from ("site pack v3"):
    #: listed after the built-in manifests and before the site folder's (``model_registry.list_manifests``).
    pack_manifests: tuple[dict[str, Any], ...] = ()
    pack_origin: str = ""

    # Typed, read-only views of ``values``: one per entry of SETTINGS (tests/core/test_core_config.py
    # fails when a setting is added without one). Change a value with ``with_overrides``.
    @property
    def model(self) -> str:
        return self.values["model"]

    @property
    def gpu_layers(self) -> str | int:
        return self.values["gpu_layers"]

    @property
    def context_size(self) -> int:
        return self.values["context_size"]

    @property
    def threads(self) -> int:
        return self.values["threads"]

    @property
    def temperature(self) -> float:
        return self.values["temperature"]

    @property
    def max_tokens(self) -> int:
        return self.values["max_tokens"]

    @property
    def idle_lock_minutes(self) -> int:
        return self.values["idle_lock_minutes"]

    @property
    def self_consistency_k(self) -> int:
        return self.values["self_consistency_k"]

    @property
    def strike_window_days(self) -> int:
        return self.values["strike_window_days"]

    @property
    def site_id(self) -> str:
        return self.values["site_id"]

    @property
    def allow_unapproved_models(self) -> bool:
        return self.values["allow_unapproved_models"]

    @property
    def guard(self) -> dict[str, str]:
        return self.values["guard"]

    @property
    def fhir_stale_days(self) -> int:
        return self.values["fhir_stale_days"]

    @property
    def export_patient_context(self) -> bool:
        return self.values["export_patient_context"]

    @property
    def judge_model(self) -> str | None:
        return self.values["judge_model"]

    def with_overrides(self, overrides: dict[str, Any], source: str = "override") -> "Config":
        values = dict(self.values)
        sources = dict(self.sources)
        for key, raw in overrides.items():
            if raw is None:
                continue
            setting = SETTINGS_BY_KEY.get(key)
            if setting is None:
                raise ConfigError(f"unknown setting {key!r}")
            try:
                values[key] = setting.convert(raw)
            except ConfigError as exc:
                raise ConfigError(f"{key} ({source}): {exc.message}") from None
            sources[key] = source
        return Config(values=values, sources=sources, paths=self.paths, pack_manifests=self.pack_manifests,
                      pack_origin=self.pack_origin)

    def guard_action(self, signal: str) -> str:
        return self.values["guard"].get(signal, "warn")


def env_variable(key: str) -> str:
    """The environment variable that sets ``key`` (``SAFEMED_<KEY>``)."""
    return f"SAFEMED_{key.upper()}"


def env_variables() -> tuple[str, ...]:
    """Every ``SAFEMED_*`` variable ``load_config`` reads: one per setting that is not site policy."""
    return tuple(env_variable(s.key) for s in SETTINGS if not s.site_only)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    text = decode_utf8(raw, f"config file {path}", ConfigError)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc


def load_config(paths: Paths | None = None, environ: dict[str, str] | None = None) -> Config:
    env = os.environ if environ is None else environ
    paths = paths or resolve_paths(env)
    values = {s.key: s.default for s in SETTINGS}
    sources = {s.key: "default" for s in SETTINGS}

    def apply(data: dict[str, Any], source: str, user: bool) -> None:
        for key, raw in data.items():
            setting = SETTINGS_BY_KEY.get(key)
            if setting is None:
                raise ConfigError(f"{source}: unknown setting {key!r}")
            if user and setting.site_only:
                raise ConfigError(f"{source}: {key!r} is site policy and can only be set in {paths.site_config_file}")
            try:
                values[key] = setting.convert(raw)
            except ConfigError as exc:
                raise ConfigError(f"{source}: {key}: {exc.message}") from None
            sources[key] = source

    apply(_read_toml(paths.site_config_file), f"site:{paths.site_config_file}", user=False)
    apply(_read_toml(paths.user_config_file), f"user:{paths.user_config_file}", user=True)
    for setting in SETTINGS:
        if setting.site_only:
            continue
        name = env_variable(setting.key)
        if name in env:
            try:
                values[setting.key] = setting.convert(env[name])
            except ConfigError as exc:
                raise ConfigError(f"env {name}: {exc.message}") from None
            sources[setting.key] = f"env:{name}"
    return Config(values=values, sources=sources, paths=paths)


def write_config_file(path: Path, data: dict[str, Any]) -> None:
    """Write a TOML config file atomically (used by the settings dialog and tests): 0600, new folders 0700."""
    write_file_atomic(path, tomli_w.dumps(data))
