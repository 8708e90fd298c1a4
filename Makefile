# WeScan — everything a developer or CI runs goes through these targets.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
# make test: pytest-xdist workers, one test file at a time each (module fixtures stay whole).
# Three on two cores: the browser tests, live servers and PostgreSQL leave a core partly idle
# (the suite took 683 s on SQLite with two workers, 611 s with three);
# PYTEST_WORKERS=0 runs the suite in this one process.
# --no-loadscope-reorder: xdist hands out files in the order collected (longest first, by
# tests/durations.json), not re-sorted by how many tests each holds (its default since 3.6,
# which sent the one-test crawls of every page out last).
PYTEST_WORKERS ?= 3
HOST ?= 127.0.0.1
# Mailed links (invitations) point at the server that sent them.
PUBLIC_BASE_URL ?= http://$(HOST):$(PORT)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run dev cluster test-clock install install-dev migrate demo test test-durations lint format bench fuzz services clean person-names messages compile-messages

# A virtual environment with the project and its runtime dependencies, rebuilt when pyproject
# changes.
$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(BIN)/.installed-dev: $(BIN)/.installed
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# The translations (locale/<language>/LC_MESSAGES/*.po), compiled for Django whenever a
# catalogue changed; msgfmt comes with Debian's gettext.
CATALOGUES := $(wildcard locale/*/LC_MESSAGES/*.po)
COMPILED := $(CATALOGUES:.po=.mo)

$(COMPILED): %.mo: %.po $(BIN)/.installed
	scripts/system-packages.sh gettext
	$(BIN)/python manage.py compilemessages --ignore '.venv' --ignore 'node_modules' >/dev/null

compile-messages: $(COMPILED)

## make messages: extract every translatable text into the catalogues (nl, fr), for translators.
messages: install
	scripts/system-packages.sh gettext
	$(BIN)/python manage.py makemessages -l nl -l fr
	$(BIN)/python manage.py makemessages -d djangojs -l nl -l fr
	$(MAKE) compile-messages

install: $(BIN)/.installed compile-messages

install-dev: $(BIN)/.installed-dev compile-messages

migrate: install
	$(BIN)/python manage.py migrate --no-input

demo: migrate
	PUBLIC_BASE_URL=$(PUBLIC_BASE_URL) $(BIN)/python manage.py load_demo

## make run: install, migrate, load demo data and serve on http://$(HOST):$(PORT) with Daphne,
## with a scanner agent driving each demo cockpit.
run: demo
	@echo
	@echo "WeScan is starting on http://$(HOST):$(PORT)/  (Ctrl-C stops it)"
	@echo "Sign in with any demo login above; the password is 'wescan-demo'."
	@echo "Then the second factor: a code from '$(BIN)/python manage.py demo_totp' (or an app holding the demo secret above)."
	@echo "Passkeys work on http://localhost:$(PORT)/ (browsers refuse them on an IP address)."
	@echo "Live cockpits: sign in as an operator or local staff listed above, then open Cockpits."
	@echo
	PUBLIC_BASE_URL=$(PUBLIC_BASE_URL) HOST=$(HOST) PORT=$(PORT) scripts/run.sh

## make dev: as `make run`, with DEBUG on (tracebacks in the browser) for developers.
dev: demo
	@echo
	@echo "WeScan (DEBUG on) is starting on http://$(HOST):$(PORT)/  (Ctrl-C stops it)"
	PUBLIC_BASE_URL=$(PUBLIC_BASE_URL) HOST=$(HOST) PORT=$(PORT) DJANGO_DEBUG=1 scripts/run.sh

## make cluster: the production settings on this machine, in the foreground like `make run`:
## PostgreSQL and Redis of its own (data kept in $(CLUSTER_WORKDIR)), migrated, with the demo
## data; CLUSTER_DAPHNES Daphne processes behind HAProxy on http://$(HOST):$(PORT) (Daphne i on
## PORT+i); a Celery worker and beat; the scanner agents. Ctrl-C stops everything. Your own
## servers instead: CLUSTER_DATABASE_URL, CLUSTER_REDIS_URL (see README).
CLUSTER_DAPHNES ?= 2
CLUSTER_WORKDIR ?= .cluster
CLUSTER_POSTGRES_PORT ?= 5440
CLUSTER_REDIS_PORT ?= 6380
CLUSTER_DATABASE_URL ?=
CLUSTER_REDIS_URL ?=
cluster: install
	scripts/system-packages.sh haproxy redis-server postgresql-15
	$(BIN)/python -m wescan.cluster --daphnes $(CLUSTER_DAPHNES) --port $(PORT) \
		--workdir $(CLUSTER_WORKDIR) --postgres-port $(CLUSTER_POSTGRES_PORT) \
		--redis-port $(CLUSTER_REDIS_PORT) \
		$(if $(CLUSTER_DATABASE_URL),--database-url $(CLUSTER_DATABASE_URL)) \
		$(if $(CLUSTER_REDIS_URL),--redis-url $(CLUSTER_REDIS_URL))

## make test: install what the tests need (dev extras, Debian's chromium, and HAProxy for the
## cluster tests of the PostgreSQL + Redis leg) and run the whole suite.
test: install-dev
	scripts/system-packages.sh chromium haproxy
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

## make test-durations: `make test`, recording each file's time in tests/durations.json (the
## larger of this run's and the file's), from which the suite hands out its longest files first.
## Run it on both legs of CI (see .ci/run) when files were added or grew, and commit the file.
test-durations:
	WESCAN_RECORD_DURATIONS=tests/durations.json $(MAKE) test

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports --no-cache

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## make bench: the benchmarks under bench/, each printing `bench: <name> = <value> <unit> (target …)`.
bench: install-dev
	@set -e; for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script; done

## make test-clock: the whole suite at 03:30 and at 23:45 Brussels time (libfaketime), the hours
## at which tests that read the wall clock used to fail.
test-clock: install-dev
	scripts/system-packages.sh chromium
	scripts/test-at.sh 03:30 $(PYTEST_ARGS)
	scripts/test-at.sh 23:45 $(PYTEST_ARGS)

## make fuzz: schemathesis (all checks, stateful links) against a live Daphne serving the demo
## data in a throwaway SQLite file, as anonymous, a manager, a technologist and local staff.
## FUZZ_EXAMPLES (examples per operation) and FUZZ_SEED tune it; FUZZ_KEEP=1 keeps the reports.
fuzz: install-dev
	$(BIN)/python scripts/fuzz.py

## make person-names: rebuild core/data/person_names.txt.gz (the names core.names looks for) from
## the pinned names-dataset package and Debian's hunspell dictionaries; commit the result.
person-names: install-dev
	scripts/system-packages.sh hunspell hunspell-nl hunspell-fr hunspell-en-gb hunspell-de-de
	$(BIN)/pip install --quiet -e '.[person-names]'
	$(BIN)/python scripts/person_names.py

## make services: PostgreSQL 15 and Redis on this machine (what .ci/run uses).
services:
	scripts/services.sh start

clean:
	rm -rf $(VENV) locale/*/LC_MESSAGES/*.mo db.sqlite3 db.sqlite3-* .cluster staticfiles .pytest_cache .mypy_cache .ruff_cache
