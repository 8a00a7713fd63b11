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

package: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[demo,test,build]'
	$(BIN)/python packaging/build.py

package-test: package
	$(BIN)/python packaging/smoke_test.py

clean:
	rm -rf build dist $(VENV)
