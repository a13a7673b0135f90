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

# The whole suite on SQLite and on PostgreSQL when a server is reachable
# (QUYTRINH_REQUIRE_PG=1, as CI sets it, makes an unreachable server an error).
# The two legs run at the same time (their databases, Prefect homes, diagram
# caches and temporary folders are their own): much of a test's time is spent
# waiting on a Prefect server, a browser or a subprocess, so together they take
# little more than the longer one. The SQLite leg prints as it goes; the
# PostgreSQL leg's output is printed whole when both have ended.
# `make test-sqlite` and `make test-pg` run one leg.
test: setup
	@if $(BIN)/python scripts/pg_reachable.py "$(PG_URL)"; then \
		log=$$(mktemp -t quytrinh-test-pg.XXXXXX); \
		echo "== the suite on SQLite, and at the same time on PostgreSQL ($(PG_URL)): its output follows"; \
		QUYTRINH_TEST_DATABASE_URL="$(PG_URL)" $(BIN)/python -m pytest -m "not sqlite_only" >"$$log" 2>&1 & pg=$$!; \
		trap 'kill $$pg 2>/dev/null; rm -f "$$log"' INT TERM; \
		$(BIN)/python -m pytest; sqlite=$$?; \
		wait $$pg; postgres=$$?; \
		echo "== the suite on PostgreSQL ($(PG_URL))"; cat "$$log"; rm -f "$$log"; \
		echo "== SQLite leg: $$([ $$sqlite -eq 0 ] && echo passed || echo FAILED), PostgreSQL leg: $$([ $$postgres -eq 0 ] && echo passed || echo FAILED)"; \
		[ $$sqlite -eq 0 ] && [ $$postgres -eq 0 ]; \
	elif [ -n "$$QUYTRINH_REQUIRE_PG" ]; then \
		echo "PostgreSQL at $(PG_URL) is not reachable, and QUYTRINH_REQUIRE_PG is set" >&2; exit 1; \
	else \
		$(BIN)/python -m pytest || exit 1; \
		echo "== PostgreSQL not reachable at $(PG_URL): the PostgreSQL leg was not run"; \
	fi

test-sqlite: setup
	$(BIN)/python -m pytest

test-pg: setup
	QUYTRINH_TEST_DATABASE_URL="$(PG_URL)" $(BIN)/python -m pytest -m "not sqlite_only"

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info
