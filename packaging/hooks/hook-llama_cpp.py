"""PyInstaller hook for llama-cpp-python.

llama_cpp opens its shared libraries with ctypes (``llama_cpp/lib/libllama.so``,
``libggml.so``, ``libmtmd.so``), so PyInstaller's import analysis never sees them.
This hook collects them, at the same relative place (``llama_cpp/lib``) the package
looks in, plus the package's data files.

On Linux the wheel ships every library three times (``libllama.so``, ``libllama.so.0``,
``libllama.so.0.5.0``: copies, not links). ctypes needs the unversioned ``lib*.so`` names;
the dynamic linker needs the SONAME files those name in DT_NEEDED (``libggml.so.0``...).
We keep exactly those (followed transitively) and drop the fully versioned copies.
A CUDA build's libggml-cuda.so is picked up the same way; the CUDA runtime itself
(libcudart, libcublas, libcublasLt) is NOT bundled: it must be installed on the target.
"""

from __future__ import annotations

from pathlib import Path

from PyInstaller import compat
from PyInstaller.depend import bindepend
from PyInstaller.utils.hooks import collect_data_files, collect_dynamic_libs


def _needed_linux_libs(libs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    by_name = {Path(src).name: (src, dest) for src, dest in libs}
    keep = {name for name in by_name if name.endswith(".so")}
    todo = list(keep)
    while todo:
        src = by_name[todo.pop()][0]
        for ref, _resolved in bindepend.get_imports(src):
            ref = Path(ref).name
            if ref in by_name and ref not in keep:
                keep.add(ref)
                todo.append(ref)
    return [by_name[name] for name in sorted(keep)]


# The default patterns miss versioned names (libggml.so.0), so list them all and select.
_libs = collect_dynamic_libs("llama_cpp", search_patterns=["*.so", "*.so.*", "*.dll", "*.dylib"])
if not _libs:
    raise SystemExit("hook-llama_cpp: no shared libraries found in llama_cpp/lib: is llama-cpp-python installed?")
binaries = _needed_linux_libs(_libs) if compat.is_linux else _libs
# Data files only (py.typed...): the libraries are binaries above, the server is left out.
datas = collect_data_files("llama_cpp", excludes=["lib", "lib/**", "server", "server/**", "**/*.so*"])
# The OpenAI-compatible HTTP server (fastapi, uvicorn) must never ship: SafeMed opens no sockets.
excludedimports = ["llama_cpp.server"]
