"""Build the SafeMed folder bundle and its archive (``make package``).

    python packaging/build.py [--with-demo-model] [--clean] [--no-archive]

Produces:
- ``dist/SafeMed/``: ``safemed-desktop`` (GUI), ``safemed`` (CLI), one shared ``_internal/``,
  ``BUILDINFO.json`` (version, commit, build time, component versions) and ``SHA256SUMS``
  (every file in the folder, for IT who receive the folder rather than the archive);
- ``dist/SafeMed-<version>-<os>-<arch>[-demo].tar.gz`` (top directory ``SafeMed/``);
- ``dist/SHA256SUMS`` for the archives in ``dist/`` (``sha256sum -c SHA256SUMS``).

The PyInstaller work directory ``build/pyinstaller`` is kept between runs, so a rebuild
only redoes what changed; ``--clean`` starts afresh.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "packaging" / "safemed.spec"
WORK = ROOT / "build" / "pyinstaller"
DIST = ROOT / "dist"
APP_DIR_NAME = "SafeMed"
INNER_SUMS = "SHA256SUMS"
BUILDINFO = "BUILDINFO.json"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def project_version() -> str:
    text = (ROOT / "safemed_desktop" / "__init__.py").read_text(encoding="utf-8")
    for line in text.splitlines():
        if line.startswith("__version__"):
            return line.split("=", 1)[1].strip().strip("\"'")
    raise SystemExit("build: no __version__ in safemed_desktop/__init__.py")


def platform_tag() -> str:
    system = {"linux": "linux", "win32": "windows", "darwin": "macos"}.get(sys.platform, sys.platform)
    return f"{system}-{platform.machine().lower()}"


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _dist_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def run_pyinstaller(*, with_demo_model: bool, clean: bool) -> None:
    cmd = [
        sys.executable, "-m", "PyInstaller", str(SPEC),
        "--noconfirm", "--log-level", "WARN",
        "--workpath", str(WORK), "--distpath", str(DIST),
    ]
    if clean:
        cmd.append("--clean")
    spec_args = ["--with-demo-model"] if with_demo_model else []
    if spec_args:
        cmd += ["--", *spec_args]
    print("build: " + " ".join(cmd), flush=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    subprocess.run(cmd, cwd=ROOT, env=env, check=True)


def strip_python_runtime(app_dir: Path) -> int:
    """Linux: remove debug info from libpython and the stdlib extension modules; bytes saved.

    Only the interpreter's own files: wheels' vendored libraries (``*.libs/``, patched by
    auditwheel) break when stripped, so PyInstaller's global ``strip`` stays off.
    """
    if not sys.platform.startswith("linux") or shutil.which("strip") is None:
        return 0
    internal = app_dir / "_internal"
    targets = [p for p in internal.glob("libpython3*.so*") if p.is_file() and not p.is_symlink()]
    targets += [p for p in internal.glob("python3*/lib-dynload/*.so") if p.is_file() and not p.is_symlink()]
    saved = 0
    for path in targets:
        before = path.stat().st_size
        subprocess.run(["strip", "--strip-debug", str(path)], check=True)
        saved += before - path.stat().st_size
    return saved


def llama_cpu_baseline(app_dir: Path) -> str | None:
    """The x86 vector level llama.cpp's CPU backend was compiled for: "AVX-512", "AVX2" or "SSE".

    llama-cpp-python built from source defaults to GGML_NATIVE=ON (-march=native): on an
    AVX-512 build host the bundle then dies with SIGILL on CPUs without AVX-512. Judged by the
    registers the code uses (zmm = AVX-512, ymm = AVX/AVX2). None when it cannot be told.
    """
    if shutil.which("objdump") is None or platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    libs = sorted((app_dir / "_internal" / "llama_cpp" / "lib").glob("libggml-cpu*.so*"))
    if not libs:
        return None
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(libs[0])],
                         capture_output=True, text=True).stdout
    if "%zmm" in out:
        return "AVX-512"
    if "%ymm" in out:
        return "AVX2"
    return "SSE"


def write_buildinfo(app_dir: Path, *, version: str, with_demo_model: bool) -> dict:
    commit = _git("rev-parse", "HEAD")
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    info = {
        "name": "SafeMed Desktop",
        "version": version,
        "commit": commit,
        "dirty": dirty,
        "built_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "platform": platform_tag(),
        "python": platform.python_version(),
        "demo_model": with_demo_model,
        "llama_cpu_baseline": llama_cpu_baseline(app_dir),
        "components": {
            name: _dist_version(name)
            for name in ("llama_cpp_python", "PySide6_Essentials", "cryptography", "sqlite-utils", "pyinstaller")
        },
    }
    (app_dir / BUILDINFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return info


def bundle_files(app_dir: Path) -> list[Path]:
    """Regular files of the bundle (symlinks are listed by their targets), sorted by relative path."""
    files = [p for p in app_dir.rglob("*") if p.is_file() and not p.is_symlink()]
    return sorted(files, key=lambda p: p.relative_to(app_dir).as_posix())


def write_inner_sums(app_dir: Path) -> int:
    lines = []
    for path in bundle_files(app_dir):
        rel = path.relative_to(app_dir).as_posix()
        if rel == INNER_SUMS:
            continue
        lines.append(f"{sha256_file(path)}  {rel}\n")
    (app_dir / INNER_SUMS).write_text("".join(lines), encoding="utf-8")
    return len(lines)


def make_archive(app_dir: Path, archive: Path) -> None:
    """A tar.gz with top directory ``SafeMed/``; owner root, mode kept, one fixed mtime."""
    mtime = int(os.environ.get("SOURCE_DATE_EPOCH", time.time()))

    def normalise(ti: tarfile.TarInfo) -> tarfile.TarInfo:
        ti.uid = ti.gid = 0
        ti.uname = ti.gname = ""
        ti.mtime = mtime
        return ti

    tmp = archive.with_suffix(archive.suffix + ".part")
    with tarfile.open(tmp, "w:gz", compresslevel=6) as tar:
        entries = sorted(app_dir.rglob("*"), key=lambda p: p.relative_to(app_dir).as_posix())
        tar.add(app_dir, arcname=APP_DIR_NAME, recursive=False, filter=normalise)
        for path in entries:
            arcname = f"{APP_DIR_NAME}/{path.relative_to(app_dir).as_posix()}"
            tar.add(path, arcname=arcname, recursive=False, filter=normalise)
    tmp.replace(archive)


def write_outer_sums() -> list[str]:
    lines = [f"{sha256_file(p)}  {p.name}\n" for p in sorted(DIST.glob(f"{APP_DIR_NAME}-*.tar.gz"))]
    (DIST / INNER_SUMS).write_text("".join(lines), encoding="utf-8")
    return lines


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--with-demo-model", action="store_true",
                        help="bundle the demo GGUF (SmolLM2-135M, not clinically validated) into _internal/models/")
    parser.add_argument("--clean", action="store_true", help="discard PyInstaller's cache and build from scratch")
    parser.add_argument("--no-archive", action="store_true", help="build the folder only")
    parser.add_argument("--release", action="store_true",
                        help="refuse a llama.cpp built for AVX-512 (GGML_NATIVE on an AVX-512 host): "
                             "release bundles must run on any AVX2 CPU")
    args = parser.parse_args(argv)

    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        print("build: PyInstaller is not installed: run  .venv/bin/pip install -e '.[build]'", file=sys.stderr)
        return 2

    version = project_version()
    t0 = time.monotonic()
    run_pyinstaller(with_demo_model=args.with_demo_model, clean=args.clean)
    t_build = time.monotonic() - t0
    app_dir = DIST / APP_DIR_NAME
    saved = strip_python_runtime(app_dir)
    if saved:
        print(f"build: stripped debug info from the Python runtime: {saved / 1e6:.1f} MB saved")
    info = write_buildinfo(app_dir, version=version, with_demo_model=args.with_demo_model)
    if info["llama_cpu_baseline"] == "AVX-512":
        print("build: WARNING: llama.cpp in this bundle uses AVX-512 instructions (llama-cpp-python was built with"
              " GGML_NATIVE on an AVX-512 machine); it will crash (SIGILL) on CPUs without AVX-512. For a release,"
              " rebuild llama-cpp-python with CMAKE_ARGS=\"-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON"
              " -DGGML_F16C=ON\" (docs/it-install.md).", file=sys.stderr)
        if args.release:
            return 3
    n_files = write_inner_sums(app_dir)
    size = dir_size(app_dir)
    print(f"build: {app_dir.relative_to(ROOT)}: {n_files} files, {size / 1e6:.1f} MB, PyInstaller {t_build:.0f} s")

    if not args.no_archive:
        t1 = time.monotonic()
        suffix = "-demo" if args.with_demo_model else ""
        archive = DIST / f"{APP_DIR_NAME}-{version}-{platform_tag()}{suffix}.tar.gz"
        make_archive(app_dir, archive)
        sums = write_outer_sums()
        print(f"build: {archive.relative_to(ROOT)}: {archive.stat().st_size / 1e6:.1f} MB"
              f" ({time.monotonic() - t1:.0f} s); {DIST.relative_to(ROOT)}/SHA256SUMS:")
        for line in sums:
            print("  " + line.rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
