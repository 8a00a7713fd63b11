"""Trim rules for the carried llama-cpp-python source (``.gpu-src``), as pure functions.

The 0.3.36 sdist is about 77 MB compressed (217 MB unpacked), far over the 64 MiB that may
travel to the GPU machine. What the CUDA build of the Python extension and ``llama-bench`` /
``llama-quantize`` need is much smaller: the package's own CMake project, ``llama_cpp/``,
and from the vendored llama.cpp the ``ggml`` core with its CPU and CUDA backends, ``src``,
``include``, ``common``, ``vendor``, ``cmake`` and two tools. ``keep(relpath)`` says whether a
path (relative to the unpacked sdist root, '/'-separated) is carried; ``REWRITES`` replaces
``vendor/llama.cpp/tools/CMakeLists.txt`` so that only the two kept tools are configured
(the build sets ``LLAVA_BUILD=OFF``, so ``tools/mtmd`` is not needed either).

``python -m bench.gpu.trim SRC DST`` copies the kept files and applies the rewrites.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path, PurePosixPath

LLAMA = "vendor/llama.cpp"

# Top-level entries of the sdist that are carried (everything else is dropped).
TOP_KEEP = {"CMakeLists.txt", "pyproject.toml", "README.md", "LICENSE.md", "PKG-INFO", "llama_cpp", "vendor"}

# Top-level entries of vendor/llama.cpp that the build needs.
LLAMA_KEEP = {"CMakeLists.txt", "LICENSE", "cmake", "common", "ggml", "include", "src", "tools", "vendor",
              "licenses"}

# ggml backends carried: CPU (always built) and CUDA. The others are only added when their
# GGML_<NAME> option is on (ggml/src/CMakeLists.txt: ggml_add_backend), so dropping them is safe.
GGML_BACKENDS_KEEP = {"ggml-cpu", "ggml-cuda"}

# tools carried: the benchmark and the quantizer (a fallback for writing Q4_0 there).
TOOLS_KEEP = {"llama-bench", "quantize"}

# Anywhere in the tree: never carry models, notebooks, media or git metadata.
DROP_SUFFIXES = (".gguf", ".ipynb", ".png", ".jpg", ".jpeg", ".gif", ".mp4", ".wav", ".pdf")
DROP_NAMES = {".git", ".github", ".gitmodules", "__pycache__", ".DS_Store"}

REWRITES = {
    f"{LLAMA}/tools/CMakeLists.txt": (
        "# Trimmed for the SafeMed GPU benchmark (bench/gpu/trim.py): only the tools it builds.\n"
        "find_package(Threads REQUIRED)\n"
        "llama_add_compile_flags()\n"
        + "".join(f"add_subdirectory({t})\n" for t in sorted(TOOLS_KEEP))
    ),
}


def keep(relpath: str) -> bool:
    """Whether the file or folder at ``relpath`` (relative to the sdist root) is carried."""
    p = PurePosixPath(relpath)
    parts = p.parts
    if not parts:
        return True
    if any(part in DROP_NAMES for part in parts):
        return False
    if p.suffix.lower() in DROP_SUFFIXES:
        return False
    if parts[0] not in TOP_KEEP:
        return False
    if parts[0] == "vendor":
        if len(parts) < 2:
            return True
        if parts[1] != "llama.cpp":
            return False
        if len(parts) < 3:
            return True
        top = parts[2]
        if top not in LLAMA_KEEP:
            return False
        rest = parts[3:]
        if top == "tools" and rest:
            return rest[0] == "CMakeLists.txt" or rest[0] in TOOLS_KEEP
        if top == "ggml" and rest:
            if rest[0] in ("docs", "examples", "tests"):
                return False
            if rest[0] == "src" and len(rest) > 1 and rest[1].startswith("ggml-") and "." not in rest[1]:
                return rest[1] in GGML_BACKENDS_KEEP
    return True


def plan(src: Path) -> list[str]:
    """Every kept file under ``src`` (relative, '/'-separated, sorted)."""
    out = []
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src).as_posix()
        if path.is_file() and all(keep("/".join(rel.split("/")[: i + 1])) for i in range(rel.count("/") + 1)):
            out.append(rel)
    return out


def copy_trimmed(src: Path, dst: Path) -> int:
    """Copy the kept files of ``src`` into ``dst`` (emptied first); apply REWRITES. Returns bytes."""
    if dst.exists():
        shutil.rmtree(dst)
    total = 0
    for rel in plan(src):
        target = dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / rel, target)
    for rel, text in REWRITES.items():
        target = dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    for f in dst.rglob("*"):
        if f.is_file():
            total += f.stat().st_size
    return total


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m bench.gpu.trim SDIST_DIR DEST_DIR", file=sys.stderr)
        return 2
    total = copy_trimmed(Path(argv[0]), Path(argv[1]))
    print(f"{argv[1]}: {total / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
