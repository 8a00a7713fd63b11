#!/usr/bin/env bash
# Run HERE (with network to PyPI), once: fetch what bench/gpu/run.sh needs on the GPU machine,
# which has no network and receives at most 64 MiB of working tree per call.
#   .whl/      the pure-Python wheels the app needs there that its image lacks (bench/gpu/README.md)
#   .gpu-src/  llama-cpp-python 0.3.36's sdist, trimmed by bench/gpu/trim.py (~20 MiB of 217)
# Both are git-ignored through .git/info/exclude and travel only when named in `carry`.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
LLAMA_VERSION=0.3.36
LIMIT_MIB=${LIMIT_MIB:-55}
# The GPU image (cuda, Python 3.12) holds numpy, jinja2, markupsafe, pyyaml, typing-extensions, tqdm,
# requests, cmake, ninja, scikit-build-core, pathspec and packaging; these are the app's run-time
# imports on the engine and `safemed doctor` paths that it lacks. Versions: those of this .venv.
WHEELS=${WHEELS:-"gguf==0.19.0 diskcache==5.6.3 platformdirs==4.14.9 tomli-w==1.2.0"}

for d in /.whl/ /.gpu-src/ /.gpu-build/; do
  grep -qxF "$d" .git/info/exclude 2>/dev/null || echo "$d" >> .git/info/exclude
done

rm -rf .whl && mkdir -p .whl
# shellcheck disable=SC2086
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .whl $WHEELS

CACHE=${CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/safemed-desktop/sdist}
mkdir -p "$CACHE"
SDIST="$CACHE/llama_cpp_python-$LLAMA_VERSION.tar.gz"
if [ ! -f "$SDIST" ]; then
  "$PY" -m pip download -q --no-deps --no-binary=:all: -d "$CACHE" "llama-cpp-python==$LLAMA_VERSION"
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
tar -xzf "$SDIST" -C "$TMP"
"$PY" -m bench.gpu.trim "$TMP/llama_cpp_python-$LLAMA_VERSION" .gpu-src

mib() { du -sb "$@" | awk '{s+=$1} END {printf "%.1f", s/1048576}'; }
TREE=$(git ls-files -z --cached --others --exclude-standard | du -cb --files0-from=- 2>/dev/null | tail -1 | awk '{printf "%.1f", $1/1048576}')
echo "sdist        $(mib "$SDIST") MiB (compressed)"
echo ".whl         $(mib .whl) MiB ($(ls .whl | wc -l) wheels)"
echo ".gpu-src     $(mib .gpu-src) MiB"
echo "tracked tree $TREE MiB"
TOTAL=$(awk -v a="$(mib .whl .gpu-src)" -v b="$TREE" 'BEGIN {printf "%.1f", a+b}')
echo "travels      $TOTAL MiB (limit 64, checked against $LIMIT_MIB)"
awk -v t="$TOTAL" -v l="$LIMIT_MIB" 'BEGIN {exit !(t <= l)}' || { echo "too large to travel" >&2; exit 1; }
