# Universal Accounting — the two front-door commands are `make demo` and `make test`.
# Everything they need is installed by these targets on a fresh Debian machine (root).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: help install services-up services-down migrate lint test test-unit test-integration \
        demo bench-api clean

help:
	@echo "make demo        run the API on local PostgreSQL + Redis with a seeded demo organization"
	@echo "make test        install what is missing, start services, lint, run every test, stop services"
	@echo "make bench-api   measure API posting throughput against asyncpg directly"
	@echo "make lint        ruff, mypy --strict, import-linter contracts"

$(STAMP): pyproject.toml
	hack/services.sh install
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

services-up: install
	hack/services.sh start

services-down:
	hack/services.sh stop

migrate: services-up
	eval "$$(hack/services.sh env)" && $(BIN)/accounting-api migrate

lint: install
	$(BIN)/ruff check api tests bench
	$(BIN)/ruff format --check api tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

# Services are stopped whatever the outcome, so a failed run leaves nothing behind.
test: install
	hack/services.sh start
	eval "$$(hack/services.sh env)" && { $(MAKE) --no-print-directory lint && \
	  $(BIN)/pytest -q -p no:cacheprovider; } ; status=$$?; hack/services.sh stop; exit $$status

test-unit: install
	$(BIN)/pytest -q tests/unit

test-integration: services-up
	eval "$$(hack/services.sh env)" && $(BIN)/pytest -q tests/integration

demo: services-up
	hack/demo.sh

bench-api: services-up
	command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
	eval "$$(hack/services.sh env)" && $(BIN)/python bench/api_bench.py

clean: services-down
	rm -rf .run $(VENV)
