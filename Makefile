# Canal: `make run` (set up and serve) and `make test` (set up and run every test).
#   make run         venv + pinned packages, translations, migrations, demo data, then serve
#                    http://127.0.0.1:5000 with the Huey worker (scripts/run_local.py)
#   make test        every test except the browser ones (SQLite; TEST_DATABASE_URL for PostgreSQL)
#   make e2e         browser tests in headless Chromium (/usr/bin/chromium)
#   make bench       benchmarks (bench/*.py), printing the figures
#   make lint        ruff + import-linter layer contract
#   make messages    re-extract msgids and update the catalogs (then translate, `make translations`)
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := app
STAMP := $(VENV)/.installed
CATALOGS := $(wildcard translations/*/LC_MESSAGES/messages.po)

.PHONY: run test setup install translations messages migrate seed serve bench lint e2e ci clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

# Compiles the catalogs that exist; a missing catalog is not an error (English msgids show).
translations: install
	@if [ -n "$(CATALOGS)" ]; then $(BIN)/pybabel -q compile -f -d translations; \
	else echo "no translation catalogs yet: skipping compile"; fi

messages: install
	$(BIN)/python scripts/i18n.py update
	$(BIN)/python scripts/i18n.py missing

setup: install translations
	mkdir -p instance

migrate: setup
	$(BIN)/flask db upgrade

seed: migrate
	$(BIN)/flask seed-demo

run: seed
	$(BIN)/python scripts/run_local.py

# Serve without re-seeding (after a first `make run`).
serve: setup
	$(BIN)/python scripts/run_local.py

test: setup
	$(BIN)/python -m pytest -p no:randomly $(PYTEST_ARGS) tests --ignore=tests/e2e; rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

e2e: setup
	$(BIN)/python -m pytest -p no:randomly tests/e2e $(PYTEST_ARGS); rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports

bench: setup
	@found=0; for f in bench/*.py; do [ -e "$$f" ] || continue; case "$$f" in */_*) continue;; esac; \
	found=1; echo "== $$f"; $(BIN)/python $$f || exit 1; done; \
	[ $$found -eq 1 ] || echo "no benchmarks yet (bench/*.py)"

ci:
	./.ci/run

clean:
	rm -rf $(VENV) instance/*.db instance/huey.db* tests/e2e/screenshots
