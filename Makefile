# The one task runner. `make chat` and `make test` work on a fresh machine: they create
# .venv once, install what the project needs, and are fast when run again.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup browser llm chat test lint typecheck pytest conformance bench clean chartjs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-install only when the dependency list changes. llama-cpp-python builds from source
# the first time (3-5 minutes on 2 cores); pip keeps the wheel in its cache, so later
# installs take seconds. Its build log is shown as one line of progress with the elapsed
# time (tools/build_progress.py), and kept whole in .venv/llama-cpp-build.log.
$(STAMP): pyproject.toml | $(BIN)/python
	@if ! $(BIN)/python -c 'import llama_cpp' 2>/dev/null; then \
	  echo "Building llama-cpp-python 0.3.36 for the embedded model (once; 3-5 minutes on 2 cores)..."; \
	  $(BIN)/python -m pip install -v 'llama-cpp-python==0.3.36' 2>&1 \
	    | $(BIN)/python tools/build_progress.py --log $(VENV)/llama-cpp-build.log || true; \
	fi
	$(BIN)/python -m pip install --quiet -e '.[dev,local,server,postgres,encrypt]'
	touch $@

setup: $(STAMP)

chat: setup
	$(BIN)/memchat chat

lint: setup
	$(BIN)/ruff check src tests bench conformance tools
	$(BIN)/ruff format --check src tests bench conformance tools

typecheck: setup
	$(BIN)/mypy

# Debian's Chromium, for the web chat's browser test (which skips, saying why, without it).
# Installed only where apt-get can (as root); elsewhere this says how and moves on.
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing Debian's chromium for the browser test (once)..."; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
	    >/tmp/memchat-chromium-install.log 2>&1 \
	    || echo "could not install chromium (see /tmp/memchat-chromium-install.log)"; \
	else echo "no /usr/bin/chromium: the browser test will skip (apt-get install chromium)"; fi

# simonw/llm, for the test that points it at `memchat serve` (tests/test_server_llm_cli.py),
# in a virtualenv of its own, since its dependencies are its own; the test skips without it.
$(VENV)/llm-cli/bin/llm: | $(BIN)/python
	$(PYTHON) -m venv $(VENV)/llm-cli
	$(VENV)/llm-cli/bin/python -m pip install --quiet 'llm==0.36' \
	  || echo "could not install llm: its test will skip"

llm: $(VENV)/llm-cli/bin/llm

pytest: setup browser llm
	$(BIN)/pytest

test: lint typecheck pytest

# The Agents SDK's own session tests against memchat sessions (conformance/run.py): the
# installed openai-agents version's source distribution from PyPI (pip's cache keeps it),
# unpacked into .venv/conformance; fails on a failure not in conformance/expected.toml.
conformance: setup
	$(BIN)/python conformance/run.py --cache $(VENV)/conformance

# The web page's chart library, committed as released (static/chart.umd.min.js, see NOTICE):
# this fetches the same file from the npm registry again and checks it, to verify or update.
CHARTJS_VERSION := 4.6.1
CHARTJS_SHA256 := 87364cc2b2a76a6684929e7d6b80b18a897794db38400caff1fcf1791c6925d2
chartjs:
	@tmp=$$(mktemp -d) && cd $$tmp && npm pack --silent chart.js@$(CHARTJS_VERSION) >/dev/null \
	  && tar xzf chart.js-$(CHARTJS_VERSION).tgz package/dist/chart.umd.min.js \
	  && echo "$(CHARTJS_SHA256)  package/dist/chart.umd.min.js" | sha256sum --check --quiet \
	  && cp package/dist/chart.umd.min.js $(CURDIR)/src/memchat/server/static/chart.umd.min.js \
	  && rm -rf $$tmp && echo "chart.js $(CHARTJS_VERSION): checked and in place"

# Each benchmark exits non-zero when it misses a goal; the leading "-" runs the rest anyway.
bench: setup
	-$(BIN)/python bench/store.py
	-$(BIN)/python bench/server.py
	-$(BIN)/python bench/local_model.py
	-$(BIN)/python bench/hostile.py
	-$(BIN)/python bench/startup.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
