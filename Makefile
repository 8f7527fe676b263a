# Quick start: `make run` (the standalone server with the CoreBusiness sandbox and demo data)
# and `make test` (the whole suite). Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
DB ?= sqlite:///assistant_crm.sqlite3

.PHONY: run test setup lint format bench browser-deps clean

# First run: a minute or two of pip output (one line per package), then the server.
$(STAMP): requirements.txt requirements-dev.txt setup.py pyproject.toml
	@echo "==> [1/3] creating the virtual environment in $(VENV)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "==> [2/3] installing the dependencies (requirements-dev.txt)"
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -r requirements-dev.txt
	@echo "==> [3/3] installing assistant_crm (editable)"
	$(BIN)/pip install --no-deps -e .
	touch $(STAMP)
	@echo "==> ready"

setup: $(STAMP)

# The app on :8000 and the sandbox (every outside service, the phone simulator) on :8701. Ctrl+C stops both.
run: $(STAMP)
	@echo "==> starting (the intent classifier trains first, a few seconds)"
	$(BIN)/assistant-crm serve --host $(HOST) --port $(PORT) --db $(DB) --with-sandbox

# Chromium for the browser tests comes from Debian's packages (never a downloaded browser).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || test -x /usr/bin/chromium || \
	  ( command -v apt-get >/dev/null 2>&1 && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) ) || \
	  echo "chromium not installed: browser tests will skip"

test: $(STAMP) browser-deps
	$(BIN)/ruff check .
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache test-artefacts *.egg-info
