# Two commands on a fresh machine: `make run` and `make test`. Python 3.11+ required.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
FLASK := $(BIN)/flask --app wsgi
# axe-core, for the browser tests' accessibility checks (tests/browser/test_accessibility.py).
AXE_CORE_VERSION := 4.14.1
AXE_JS := node_modules/axe-core/axe.min.js

.PHONY: install install-dev axe run test lint format bench messages catalogues clean

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: requirements.txt | $(VENV)/bin/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $(VENV)/.installed $@

install: $(VENV)/.installed          ## create .venv and install the app's dependencies

install-dev: $(VENV)/.installed-dev axe  ## the same, with the test dependencies

axe:                                 ## axe-core from npm into node_modules/ (without npm its tests skip)
	@if head -c 40 $(AXE_JS) 2>/dev/null | grep -q 'axe v$(AXE_CORE_VERSION)$$'; then :; \
	elif command -v npm >/dev/null 2>&1; then \
	  npm install --no-save --no-package-lock --no-audit --no-fund --prefix . axe-core@$(AXE_CORE_VERSION) \
	  || echo "axe-core could not be fetched: the accessibility tests will be skipped"; \
	else echo "npm not found: the accessibility tests will be skipped (install Node.js and npm)"; fi

# The translators' catalogues (translations/<lang>/LC_MESSAGES/messages.po) compiled for the app;
# a .mo is rebuilt when its .po changes and never committed (docs/translation.md).
CATALOGUES := $(patsubst %.po,%.mo,$(wildcard translations/*/LC_MESSAGES/messages.po))

translations/%/LC_MESSAGES/messages.mo: translations/%/LC_MESSAGES/messages.po | $(VENV)/.installed
	$(BIN)/pybabel compile -l $* -i $< -o $@

catalogues: $(CATALOGUES)            ## compile the translations (run and test do it first)

run: install catalogues              ## set up the database, seed the demo clinic, serve with the worker
	$(FLASK) db upgrade
	$(FLASK) recovery demo --if-empty
	@echo "Recovery is starting on http://$(HOST):$(PORT)/  (Ctrl-C stops it)"
	@echo "The worker sends reminders; without SMTP_URL or SMS_URL it prints them here."
	@NOTIFY_CONSOLE=1 PUBLIC_BASE_URL=$${PUBLIC_BASE_URL:-http://$(HOST):$(PORT)} \
	  $(FLASK) recovery worker --interval 60 & worker=$$!; \
	  trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT INT TERM; \
	  $(FLASK) run --host $(HOST) --port $(PORT)

test: install-dev catalogues         ## lint, check the layers, then every test (PostgreSQL too with TEST_DATABASE_URL)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install-dev                   ## measure speed and size (docs/benchmarks.md), then load over HTTP (docs/performance.md)
	$(BIN)/python -m benchmarks.run

messages: install-dev                ## extract the text into translations/messages.pot, update each language's .po
	$(BIN)/pybabel extract -F babel.cfg -k _l -k N_ -o translations/messages.pot .
	$(BIN)/pybabel update -i translations/messages.pot -d translations

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache node_modules
