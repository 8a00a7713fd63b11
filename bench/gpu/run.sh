#!/usr/bin/env bash
# Run THERE, on the GPU machine, from the repository root: bash bench/gpu/run.sh [all|build|measure]
# Needs .whl and .gpu-src carried (bench/gpu/prepare.sh made them here). Installs the wheels,
# builds llama-cpp-python 0.3.36 with CUDA from .gpu-src (build tree kept in .gpu-build, so a
# second call on the still-warm machine skips the build), builds llama-bench from the same
# tree, then runs python -m bench.gpu.measure. Everything it prints goes to $OUT/run.log too.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PHASE=${1:-all}
OUT=${OUT:-$ROOT/gpu-out}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/run.log") 2>&1
PY=${PYTHON:-python3}
SITE=${SITE:-/tmp/site}
BUILD=${GPU_BUILD_DIR:-$ROOT/.gpu-build}
JOBS=${JOBS:-$(nproc)}
T0=$(date +%s)
say() { echo "[run.sh +$(( $(date +%s) - T0 ))s] $*"; }
die() { say "FAILED: $*"; echo "{\"error\": \"run.sh: $*\"}" > "$OUT/gpu_results.json"; exit 1; }

say "python $("$PY" -V 2>&1), $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>&1 | head -1)"
"$PY" -m pip install -q --no-index --no-deps --no-compile --upgrade --target "$SITE" .whl/*.whl \
  || die "installing the carried wheels"
export PYTHONPATH="$SITE:$ROOT${PYTHONPATH:+:$PYTHONPATH}" PATH="$SITE/bin:$PATH" PYTHONUNBUFFERED=1
"$PY" -c "import numpy, jinja2, markupsafe, yaml, typing_extensions, gguf, diskcache, platformdirs, tomli_w" \
  || die "a run-time module is missing (carry its wheel: bench/gpu/README.md)"

# --- CUDA pieces the build needs: nvcc, cuBLAS (toolkit or the image's nvidia-cublas wheel), libcuda
first() { for p in "$@"; do [ -e "$p" ] && { echo "$p"; return; }; done; }
NVCC=$(first "${CUDA_HOME:-/nonexistent}/bin/nvcc" /usr/local/cuda/bin/nvcc "$(command -v nvcc)")
[ -n "$NVCC" ] || die "no nvcc"
CUDA_ROOT=$(dirname "$(dirname "$(readlink -f "$NVCC")")")
SEARCH="$CUDA_ROOT/lib64 $CUDA_ROOT/targets/x86_64-linux/lib $CUDA_ROOT/include /usr/lib/x86_64-linux-gnu /usr/local/nvidia/lib64 $("$PY" -c 'import site; print(" ".join(p + "/nvidia" for p in site.getsitepackages()))')"
findf() { for d in $SEARCH; do [ -d "$d" ] && find -L "$d" -maxdepth 4 -name "$1" 2>/dev/null; done | sort | head -1; }
CUBLAS=$(findf 'libcublas.so*'); CUBLASLT=$(findf 'libcublasLt.so*'); CUBLAS_H=$(findf cublas_v2.h)
LIBCUDA=$( (ldconfig -p 2>/dev/null | awk '/libcuda\.so/ {print $NF}'; findf 'libcuda.so*') | head -1)
say "nvcc $NVCC; cublas ${CUBLAS:-MISSING}; header ${CUBLAS_H:-MISSING}; libcuda ${LIBCUDA:-MISSING}"
[ -n "$CUBLAS" ] && [ -n "$CUBLAS_H" ] || die "cuBLAS library or header not found (searched: $SEARCH)"
BLAS_DIR=$(dirname "$CUBLAS"); H_DIR=$(dirname "$CUBLAS_H")
export LD_LIBRARY_PATH="$BLAS_DIR${LIBCUDA:+:$(dirname "$LIBCUDA")}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export LIBRARY_PATH="$BLAS_DIR${LIBRARY_PATH:+:$LIBRARY_PATH}" CUDACXX="$NVCC"
ARGS="-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=90 -DLLAVA_BUILD=OFF -DCMAKE_CUDA_COMPILER=$NVCC"
ARGS="$ARGS -DCUDA_cublas_LIBRARY=$CUBLAS -DCUDA_cublasLt_LIBRARY=${CUBLASLT:-$CUBLAS}"
ARGS="$ARGS -DCMAKE_CUDA_FLAGS=-I$H_DIR -DCMAKE_CXX_FLAGS=-I$H_DIR"
ARGS="$ARGS -DCMAKE_EXE_LINKER_FLAGS=-Wl,-rpath-link,$BLAS_DIR -DCMAKE_SHARED_LINKER_FLAGS=-Wl,-rpath-link,$BLAS_DIR"
if [ -n "$LIBCUDA" ]; then ARGS="$ARGS -DCUDA_cuda_driver_LIBRARY=$LIBCUDA"; else ARGS="$ARGS -DGGML_CUDA_NO_VMM=ON"; fi
export CMAKE_ARGS="$ARGS ${GPU_CMAKE_EXTRA:-}" CMAKE_BUILD_PARALLEL_LEVEL=$JOBS

built() { "$PY" -c "import llama_cpp, sys; sys.exit(not llama_cpp.llama_supports_gpu_offload())" 2>/dev/null \
  && [ -n "$(find "$BUILD" -name llama-bench -type f -perm -u+x 2>/dev/null | head -1)" ]; }
if [ "$PHASE" != measure ] && ! built; then
  say "building llama-cpp-python with CUDA ($JOBS jobs): CMAKE_ARGS=$CMAKE_ARGS"
  "$PY" -m pip install --no-index --no-deps --no-build-isolation --no-compile --upgrade --target "$SITE" \
    -C build-dir="$BUILD/py" ./.gpu-src > "$BUILD.pip.log" 2>&1 || { tail -60 "$BUILD.pip.log"; die "pip build"; }
  say "llama-cpp-python built; llama-bench from the same tree"
  cmake -S .gpu-src -B "$BUILD/py" -DLLAMA_BUILD_TOOLS=ON > /dev/null || die "cmake reconfigure"
  cmake --build "$BUILD/py" --target llama-bench llama-quantize -j "$JOBS" > "$BUILD.bench.log" 2>&1 \
    || { tail -40 "$BUILD.bench.log"; die "llama-bench build"; }
fi
built || die "no CUDA llama_cpp / llama-bench after the build"
export LLAMA_BENCH=$(find "$BUILD" -name llama-bench -type f -perm -u+x | head -1)
say "build ready: $LLAMA_BENCH"
[ "$PHASE" = build ] && exit 0
cd "$ROOT" && "$PY" -m bench.gpu.measure --out "$OUT" --deadline-s "${DEADLINE_S:-420}" ${MEASURE_ARGS:-}
say "done (exit $?)"
