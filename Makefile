# quytrinh: the two commands a fresh machine needs are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PG_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: setup system-deps run test test-sqlite test-pg bench clean

setup: system-deps $(STAMP)

# Debian packages the project needs (graphviz's `dot`), installed when missing.
system-deps:
	@bash scripts/system-deps.sh

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	@touch $(STAMP)

# `make run PORT=8080 PREFECT_PORT=4300 HOST=0.0.0.0` passes them to `quytrinh run`.
run: setup
	$(BIN)/quytrinh run$(if $(HOST), --host $(HOST))$(if $(PORT), --port $(PORT))$(if $(PREFECT_PORT), --prefect-port $(PREFECT_PORT))

# The whole suite on SQLite, then again on PostgreSQL when a server is reachable
# (QUYTRINH_REQUIRE_PG=1, as CI sets it, makes an unreachable server an error).
test: setup
	$(BIN)/python -m pytest
	@if $(BIN)/python scripts/pg_reachable.py "$(PG_URL)"; then \
		echo "== the suite again on PostgreSQL ($(PG_URL))"; \
		QUYTRINH_TEST_DATABASE_URL="$(PG_URL)" $(BIN)/python -m pytest -m "not sqlite_only"; \
	elif [ -n "$$QUYTRINH_REQUIRE_PG" ]; then \
		echo "PostgreSQL at $(PG_URL) is not reachable, and QUYTRINH_REQUIRE_PG is set" >&2; exit 1; \
	else \
		echo "== PostgreSQL not reachable at $(PG_URL): the PostgreSQL leg was not run"; \
	fi

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info
