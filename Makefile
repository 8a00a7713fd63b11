# Two commands a newcomer needs: `make run` and `make test`. Both create and reuse .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench package package-test install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip wheel

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[demo,test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
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
