# The README's commands. `make run` needs only Python 3.11; `make test` needs PostgreSQL
# and Redis (see .ci/run, which starts them on a fresh machine).

SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

# make test: a PostgreSQL server (the test database is created and dropped by pytest)
# and Redis, unless the caller says otherwise.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/continuity
TEST_BROKER_URL ?= redis://127.0.0.1:6379/15
PYTEST_ARGS ?=

.PHONY: help install run worker beat web test check lint format migrate demo bench soak clean

help:
	@echo "make run    start web, worker and beat with demo data (SQLite, no servers needed)"
	@echo "make test   lint, migrations check and the whole test suite on PostgreSQL and Redis"
	@echo "make bench  benchmarks (see docs/benchmarks.md)"
	@echo "make soak   the money state machine for SOAK_SECONDS (default 600)"

# Installs come from the lock files only, every file checked against its hash
# (requirements/*.lock, written by `make lock` from pyproject.toml; docs/operations.md).
$(VENV)/.installed: requirements/development.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --require-hashes --no-deps --only-binary=:all: \
		-r requirements/development.lock
	touch $@

install: $(VENV)/.installed

# Rewrites both lock files from pyproject.toml: run it after changing a pin there, then
# `make install`. --upgrade-package NAME (in LOCK_ARGS) moves one unpinned dependency.
LOCK_ARGS ?=
UV_COMPILE = $(VENV)/bin/uv pip compile pyproject.toml --universal --python-version 3.11 \
	--generate-hashes --no-header --quiet $(LOCK_ARGS)
.PHONY: lock
lock: install
	$(UV_COMPILE) -o requirements/production.lock
	$(UV_COMPILE) --extra dev -o requirements/development.lock

# --- make run: everything on the embedded defaults -------------------------------------
# DEBUG on (a development key, static files from the app) unless the caller sets it.
run: export DEBUG ?= true
run: install
	$(PY) manage.py compile_translations
	$(PY) manage.py migrate --no-input
	$(PY) manage.py load_demo_data
	@echo
	@echo "  Continuity is starting on http://$(HOST):$(PORT)/  (Ctrl-C stops web, worker and beat)"
	@echo "  Logins: agent, supervisor, admin, warehouse (API only); password: continuity-demo"
	@echo
	@# When any of the three stops (or on Ctrl-C), stop the other two.
	@trap 'kill $$(jobs -p) 2>/dev/null; wait' EXIT; \
	$(VENV)/bin/celery -A config worker --loglevel=INFO --queues=default,batch,notifications --concurrency=2 & \
	$(VENV)/bin/celery -A config beat --loglevel=INFO & \
	$(PY) manage.py runserver $(HOST):$(PORT) --noreload & \
	wait -n

# The three processes one at a time (each in its own terminal), for debugging.
web: install
	$(PY) manage.py compile_translations
	$(PY) manage.py runserver $(HOST):$(PORT)
worker: install
	$(VENV)/bin/celery -A config worker --loglevel=INFO --queues=default,batch,notifications
beat: install
	$(VENV)/bin/celery -A config beat --loglevel=INFO

migrate: install
	$(PY) manage.py migrate --no-input
# The demo data is a development tool: DEBUG on unless the caller says otherwise.
demo: export DEBUG ?= true
demo: migrate
	$(PY) manage.py load_demo_data

# --- make test -------------------------------------------------------------------------
check: export DEBUG = true
check: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) manage.py spectacular --validate --fail-on-warn --file /dev/null

test: export DATABASE_URL = $(TEST_DATABASE_URL)
test: export CELERY_BROKER_URL = $(TEST_BROKER_URL)
test: export SECRET_KEY = test-only-secret-key-not-for-production-0123456789-abcdefghij
test: export SECURE_SSL_REDIRECT = false
test: export DEBUG = false
# The demo data and the generators are development tools, installed on demand.
test: export DEVDATA_ENABLED = true
test: check
	$(PY) manage.py compile_translations
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# --- make bench: benchmarks on their own PostgreSQL database (see docs/benchmarks.md) ---
# The database is created when missing and kept between runs, so that the data a
# benchmark generates (1,000,000 customers for the search) is generated once.
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/continuity_bench
BENCH_ARGS ?=

.PHONY: bench bench-search bench-batch bench-lookups bench-pages
# Each benchmark is a prerequisite of bench: add the next one to this line. The latency
# benchmarks run first: the batch one leaves PostgreSQL writing out millions of rows
# (checkpoints, autovacuum) and the load average near 3 for minutes after it ends.
bench: bench-search bench-lookups bench-pages bench-batch

bench-search: export BENCH_DATABASE_URL := $(BENCH_DATABASE_URL)
bench-search: export DEVDATA_ENABLED = true
bench-search: install
	$(PY) bench/search_bench.py $(BENCH_ARGS)

# The batch jobs with one real Celery worker: a database recreated for every measurement
# and a Redis database of their own (not 13 or 15: the tests use those).
BENCH_BATCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/continuity_bench_batch
BENCH_BATCH_BROKER_URL ?= redis://127.0.0.1:6379/11
BENCH_BATCH_ARGS ?=

bench-batch: export BENCH_BATCH_DATABASE_URL := $(BENCH_BATCH_DATABASE_URL)
bench-batch: export BENCH_BATCH_BROKER_URL := $(BENCH_BATCH_BROKER_URL)
bench-batch: export DEVDATA_ENABLED = true
bench-batch: install
	$(PY) bench/batch_bench.py $(BENCH_BATCH_ARGS)

# The type-ahead lookups on 1,000,000 customers and 100,000 parent orders: a database of
# their own (generated once, about 4 minutes), so the search's keeps its million exactly.
BENCH_LOOKUPS_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/continuity_bench_lookups
BENCH_LOOKUPS_ARGS ?=

bench-lookups: export BENCH_DATABASE_URL := $(BENCH_LOOKUPS_DATABASE_URL)
bench-lookups: export DEVDATA_ENABLED = true
bench-lookups: install
	$(PY) bench/lookup_bench.py $(BENCH_LOOKUPS_ARGS)

# The agent's pages, the seed procedure walked on the lookups' data (1,000,000 customers,
# 100,000 subscriptions: generated once for both), with a Redis database of its own for
# the batch runs it requests (no worker reads it; purged at the end).
BENCH_PAGES_DATABASE_URL ?= $(BENCH_LOOKUPS_DATABASE_URL)
BENCH_PAGES_BROKER_URL ?= redis://127.0.0.1:6379/10
BENCH_PAGES_ARGS ?=

bench-pages: export BENCH_DATABASE_URL := $(BENCH_PAGES_DATABASE_URL)
bench-pages: export BENCH_PAGES_BROKER_URL := $(BENCH_PAGES_BROKER_URL)
bench-pages: export DEVDATA_ENABLED = true
bench-pages: install
	$(PY) bench/pages_bench.py $(BENCH_PAGES_ARGS)

# --- make soak: the money state machine (tests/continuity/test_money_state_machine.py) ---
# with random seeds for SOAK_SECONDS, on its own test database and Redis database;
# prints "examples run: N, findings: M" and fails if M is not 0.
SOAK_SECONDS ?= 600
SOAK_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/continuity_soak
SOAK_BROKER_URL ?= redis://127.0.0.1:6379/12

soak: export SOAK_SECONDS := $(SOAK_SECONDS)
soak: export DATABASE_URL = $(SOAK_DATABASE_URL)
soak: export CELERY_BROKER_URL = $(SOAK_BROKER_URL)
soak: export SECRET_KEY = test-only-secret-key-not-for-production-0123456789-abcdefghij
soak: export SECURE_SSL_REDIRECT = false
soak: export DEBUG = false
soak: export DEVDATA_ENABLED = true
soak: install
	$(PY) -m pytest tests/continuity/soak_money.py::test_money_soak -q -s -p no:cacheprovider

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .ruff_cache
