# Égide — the two set-up commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: run test checks pytest test-db system-deps clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

## run: the console, the worker and the demo practice on SQLite in ./data
run: $(STAMP)
	EGIDE_DATA_DIR=$(CURDIR)/data EGIDE_KEY_DIR=$(CURDIR)/data-keys EGIDE_HTTPS=0 $(BIN)/egide demo
	EGIDE_DATA_DIR=$(CURDIR)/data EGIDE_KEY_DIR=$(CURDIR)/data-keys EGIDE_HTTPS=0 $(BIN)/egide serve --host 127.0.0.1 --port 8000

## test: every check (lint, format, types, import contracts) and every test
test: $(STAMP) system-deps checks pytest

system-deps:
	bash scripts/system-deps

checks: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports
	$(BIN)/mypy src tests bench

export EGIDE_TEST_DATA := $(CURDIR)/.test-data
pytest: $(STAMP)
	rm -rf $(EGIDE_TEST_DATA) $(EGIDE_TEST_DATA)-keys && mkdir -p $(EGIDE_TEST_DATA)
	EGIDE_DATA_DIR=$(EGIDE_TEST_DATA) EGIDE_KEY_DIR=$(EGIDE_TEST_DATA)-keys EGIDE_HTTPS=0 $(BIN)/pytest $(PYTEST_ARGS)

## test-db: the database-backed tests again, on the database named by EGIDE_DATABASE_URL
test-db: $(STAMP)
	rm -rf $(EGIDE_TEST_DATA) $(EGIDE_TEST_DATA)-keys && mkdir -p $(EGIDE_TEST_DATA)
	EGIDE_DATA_DIR=$(EGIDE_TEST_DATA) EGIDE_KEY_DIR=$(EGIDE_TEST_DATA)-keys EGIDE_HTTPS=0 $(BIN)/pytest -m django_db $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .test-data .mypy_cache .ruff_cache .pytest_cache

## messages: refresh the English catalogue after changing French UI strings (needs gettext)
messages: $(STAMP)
	cd src/egide/console && EGIDE_DATA_DIR=$(CURDIR)/.test-data ../../../$(BIN)/django-admin makemessages -l en --ignore '*/migrations/*' --settings egide.console.settings
	cd src/egide/console && ../../../$(BIN)/django-admin compilemessages --settings egide.console.settings
