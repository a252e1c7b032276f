# The one task runner. `make chat` and `make test` work on a fresh machine: they create
# .venv once, install what the project needs, and are fast when run again.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup chat test lint typecheck pytest bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-install only when the dependency list changes. llama-cpp-python builds from source
# the first time (3-5 minutes on 2 cores); pip keeps the wheel in its cache, so later
# installs take seconds. Its build log is filtered down to cmake's progress lines.
$(STAMP): pyproject.toml | $(BIN)/python
	@if ! $(BIN)/python -c 'import llama_cpp' 2>/dev/null; then \
	  echo "Building llama-cpp-python 0.3.36 for the embedded model (once; 3-5 minutes on 2 cores)..."; \
	  $(BIN)/python -m pip install -v 'llama-cpp-python==0.3.36' 2>&1 \
	    | grep --line-buffered -E '^ *\[ *[0-9]+%\]|Successfully|Using cached|ERROR|error:' || true; \
	fi
	$(BIN)/python -m pip install --quiet -e '.[dev,local]'
	touch $@

setup: $(STAMP)

chat: setup
	$(BIN)/memchat chat

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: setup
	$(BIN)/mypy

pytest: setup
	$(BIN)/pytest

test: lint typecheck pytest

bench: setup
	$(BIN)/python bench/store.py
	$(BIN)/python bench/local_model.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
