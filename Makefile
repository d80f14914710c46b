# Canal: `make run` (set up and serve) and `make test` (set up and run every test).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := app
STAMP := $(VENV)/.installed

.PHONY: run test setup install translations migrate seed serve bench lint e2e clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

translations: install
	$(BIN)/pybabel compile -f -q -d translations

setup: install translations
	mkdir -p instance

migrate: setup
	$(BIN)/flask db upgrade

seed: migrate
	$(BIN)/flask seed-demo

run: seed
	$(BIN)/python scripts/run_local.py

test: setup
	$(BIN)/python -m pytest -p no:randomly $(PYTEST_ARGS) tests --ignore=tests/e2e; rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

e2e: setup
	$(BIN)/python -m pytest tests/e2e $(PYTEST_ARGS); rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports

bench: setup
	@for f in bench/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) instance/*.db instance/huey.db*
