# Universal Accounting — the two front-door commands are `make demo` and `make test`.
# Everything they need is installed by these targets on a fresh Debian machine (root).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml api/requirements-boto3.txt | cksum | cut -d' ' -f1)
# The local cluster the e2e tests start; the name tests/e2e/conftest.py uses.
E2E_CLUSTER ?= ua-e2e
export E2E_CLUSTER

.PHONY: help install services-up services-down migrate lint test test-unit test-integration \
        bench-reports bench-reads bench-ledger-version bench-backup bench-failover test-e2e k8s-tools cluster-up cluster-down kind-up kind-down demo bench-api bench-api-floor bench-auth bench-signin-flood bench-billing bench-operator soak fuzz clean

help:
	@echo "make demo        the API (local PostgreSQL + Redis, demo organization) and the operator on a local cluster"
	@echo "make test        install what is missing, start services, lint, run every test, stop services"
	@echo "make bench-api   measure API posting throughput against asyncpg directly"
	@echo "make bench-api-floor  the API's own layers' CPU per request, against bare Starlette doing the same SQL"
	@echo "make bench-auth  the security checks' cost: authenticated GET and token endpoint, on vs off"
	@echo "make bench-signin-flood  write latency during a flood of wrong sign-ins (FLOOD_OF=sign-ups: of sign-ups), against a quiet API"
	@echo "make bench-reports  trial balance (1M postings) and AR aging (1M sub-ledger rows) against plain sums"
	@echo "make bench-reads    the primary's CPU per read, alone and with two streaming replicas"
	@echo "make bench-billing  invoice create+finalize+pay throughput and the trial balance"
	@echo "make bench-ledger-version  posting throughput with the report cache's version bump on/off"
	@echo "make bench-backup  backup and restore test (1M postings, 100 organizations) against plain pg_dump/pg_restore"
	@echo "make bench-failover  kill -9 drills and a switchover under API load: RTO, lost writes (none)"
	@echo "make soak        a mixed API load at half the sustained rate for 10 minutes: p99 and memory, first vs last minute"
	@echo "make fuzz        Schemathesis over every operation of /openapi.json (20,000+ requests)"
	@echo "make lint        ruff, mypy --strict, import-linter contracts"
	@echo "make cluster-up  local Kubernetes control plane (kwok, built from source); prints the kubeconfig path"
	@echo "make kind-up     a kind cluster instead (needs Docker); prints the kubeconfig path"

$(STAMP): pyproject.toml api/requirements-boto3.txt
	hack/services.sh install
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -r api/requirements-boto3.txt
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

services-up: install
	hack/services.sh start

services-down:
	hack/services.sh stop

migrate: services-up
	eval "$$(hack/services.sh env)" && $(BIN)/accounting-api migrate

lint: install
	$(BIN)/ruff check api operator tests bench
	$(BIN)/ruff format --check api operator tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

# Services are stopped whatever the outcome, so a failed run leaves nothing behind.
# The e2e tests' session fixture starts the local Kubernetes cluster ($(E2E_CLUSTER)) and
# deletes it; deleting it here again only matters if pytest died before its teardown.
test: install k8s-tools
	hack/services.sh start && eval "$$(hack/services.sh env)" && { \
	  $(MAKE) --no-print-directory lint && $(BIN)/pytest -q -p no:cacheprovider; } ; \
	  status=$$?; hack/services.sh stop; \
	  UA_K8S_CLUSTER=$(E2E_CLUSTER) hack/k8s/cluster-down.sh || status=1; exit $$status

test-unit: install k8s-tools
	$(BIN)/pytest -q tests/unit

test-integration: services-up
	eval "$$(hack/services.sh env)" && $(BIN)/pytest -q tests/integration

# On the local control plane (started and deleted by the tests), or on the cluster that
# KUBECONFIG names with E2E_USE_EXISTING_CLUSTER=1 (e.g. after `make kind-up`).
test-e2e: install k8s-tools
	$(BIN)/pytest -q -p no:cacheprovider tests/e2e

# Kubernetes binaries built from pinned Go modules, and promtool unpacked from Debian's
# prometheus package (rule checks and rule unit tests), cached in ~/.cache/universal-accounting.
k8s-tools:
	hack/k8s/build.sh >/dev/null
	hack/promtool.sh >/dev/null

# The last line printed is the kubeconfig path.
cluster-up:
	@hack/k8s/cluster-up.sh

cluster-down:
	@hack/k8s/cluster-down.sh

kind-up:
	@hack/k8s/kind.sh up

kind-down:
	@hack/k8s/kind.sh down

# The API, then the operator on a local control plane (ua-demo); Ctrl-C stops both and the
# cluster (DEMO_EXIT=1: right after the walkthrough).
demo: services-up k8s-tools
	hack/demo.sh

bench-reports: services-up
	eval "$$(hack/services.sh env)" && $(BIN)/python bench/reports_bench.py

bench-ledger-version: services-up
	eval "$$(hack/services.sh env)" && $(BIN)/python -m bench.ledger_version_bench

bench-backup: services-up
	eval "$$(hack/services.sh env)" && $(BIN)/python -m bench.backup_bench

# On the local `accounting` database, brought to the current schema first (/ready says
# not ready until it is).
bench-api: migrate
	command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
	eval "$$(hack/services.sh env)" && $(BIN)/python -m bench.api_bench

# One API worker against the same entry's SQL on bare Starlette (bench/floor_app.py).
bench-api-floor: migrate
	command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
	eval "$$(hack/services.sh env)" && $(BIN)/python -m bench.api_floor

# The security checks' cost: an authenticated GET and the token endpoint, checks on vs off.
bench-auth: migrate
	command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
	eval "$$(hack/services.sh env)" && $(BIN)/python -m bench.auth_bench

# A mixed load (entries, invoices, payments, reports, lists) open-loop for SOAK_SECONDS
# (600) on the local `accounting` database, brought to the current schema first.
soak: migrate
	eval "$$(hack/services.sh env)" && $(BIN)/python -m bench.soak

# Every operation of /openapi.json fuzzed by Schemathesis (bench/contract_fuzz.py) on a
# scratch database; the last line printed is the JSON summary.
fuzz: services-up
	eval "$$(hack/services.sh env)" && $(BIN)/python -m bench.contract_fuzz

bench-billing: services-up
	eval "$$(hack/services.sh env)" && $(BIN)/python -m bench.billing_bench

# The same mixed load (writes, reports, lists) with every read on the primary, then with
# the two replicas of the local replica set (started here if it is not running).
bench-reads: services-up
	hack/services.sh replset-start
	eval "$$(hack/services.sh env)" && eval "$$(hack/services.sh replset-env)" && \
	  $(BIN)/python -m bench.reads_bench

# Writes during a flood of wrong sign-ins (the write pool stays the writes').
bench-signin-flood: migrate
	eval "$$(hack/services.sh env)" && $(BIN)/python -m bench.signin_flood_bench

# kill -9 drills and a switchover against the local replica set, with the operator on its
# own local cluster (ua-bench-failover, started and deleted by the benchmark itself).
bench-failover: services-up k8s-tools
	eval "$$(hack/services.sh env)" && $(BIN)/python -m bench.failover_bench

# On its own local cluster (ua-bench), started and deleted by the benchmark itself.
bench-operator: install k8s-tools
	$(BIN)/python -m bench.operator_bench

clean: services-down
	rm -rf .run $(VENV)
