# Two commands a newcomer needs: `make run` and `make test`. Both create and reuse .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench package package-test install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip wheel

# llama-cpp-python is built from source once per set of build flags and kept in a wheel cache outside the
# checkout, so fresh clones reuse it. On x86-64 the build is portable (AVX2/FMA/F16C, not -march=native):
# the same kernels on Intel and AMD, and no AMX path, whose matrix multiply crashes llama.cpp's embeddings
# on Sapphire Rapids CPUs (ggml-org/llama.cpp#20824). Override LLAMA_CMAKE_ARGS for a GPU build.
LLAMA_VERSION := 0.3.36
ifeq ($(shell uname -m),x86_64)
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
endif
WHEEL_CACHE ?= $(HOME)/.cache/safemed-desktop/wheels
LLAMA_WHEEL_DIR := $(WHEEL_CACHE)/llama-cpp-python-$(LLAMA_VERSION)-$(shell printf '%s' '$(LLAMA_CMAKE_ARGS)' | sha256sum | cut -c1-12)

$(VENV)/.llama-$(LLAMA_VERSION): $(BIN)/python
	@if ! ls $(LLAMA_WHEEL_DIR)/llama_cpp_python-*.whl >/dev/null 2>&1; then \
	  echo "building llama-cpp-python $(LLAMA_VERSION) once (about 10 minutes on 2 cores; cached in $(LLAMA_WHEEL_DIR))"; \
	  CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip wheel -q --no-deps --no-cache-dir \
	    -w $(LLAMA_WHEEL_DIR) llama-cpp-python==$(LLAMA_VERSION); fi
	$(BIN)/python -m pip install -q --no-deps --force-reinstall $(LLAMA_WHEEL_DIR)/llama_cpp_python-*.whl
	touch $@

$(STAMP): $(VENV)/.llama-$(LLAMA_VERSION) pyproject.toml
	$(BIN)/python -m pip install -q -e '.[demo,test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	@if [ "$$(uname)" = Linux ] && [ -z "$$DISPLAY$$WAYLAND_DISPLAY" ] && [ -z "$$QT_QPA_PLATFORM" ]; then \
	  echo "make run: no display (DISPLAY and WAYLAND_DISPLAY are unset); start it from a desktop session, or use the CLI: $(BIN)/safemed --help"; exit 1; fi
	$(BIN)/safemed-desktop

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -p no:cacheprovider tests

bench: $(STAMP)
	$(BIN)/python -m bench

# PyInstaller (the 'build' extra) is installed once, beside the app's own dependencies.
$(VENV)/.installed-build: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[demo,test,build]'
	touch $@

# dist/SafeMed/ (safemed-desktop + safemed) + dist/SafeMed-<version>-<os>-<arch>.tar.gz + dist/SHA256SUMS.
# No model inside: IT imports the approved one (docs/it-install.md). PACKAGE_FLAGS=--with-demo-model adds the demo.
package: $(VENV)/.installed-build
	$(BIN)/python packaging/build.py $(PACKAGE_FLAGS)

# Build with the demo model, unpack the archive elsewhere and run both executables (no network allowed).
package-test: $(VENV)/.installed-build
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -p no:cacheprovider tests/bundle/test_packaging_spec.py
	$(BIN)/python packaging/build.py --with-demo-model
	$(BIN)/python packaging/smoke_test.py

clean:
	rm -rf build dist $(VENV)
