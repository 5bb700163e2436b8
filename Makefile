# tokex developer commands. `make help` lists them.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# jspurefix, the third-party FIX engine the FIX tests drive as the client (pinned in the lock file)
FIX_CLIENT := tests/integration/gateway/fix
FIX_STAMP  := $(FIX_CLIENT)/node_modules/.installed

.DEFAULT_GOAL := help
.PHONY: help install fix-client run test lint unit bench bench-micro clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## create .venv and install tokex with its dev extras

$(FIX_STAMP): $(FIX_CLIENT)/package.json $(FIX_CLIENT)/package-lock.json
	cd $(FIX_CLIENT) && npm ci --ignore-scripts --no-audit --no-fund
	touch $(FIX_STAMP)

fix-client: $(FIX_STAMP) ## install jspurefix 5.11.4 from npm for the FIX tests (needs node and npm)

run: $(STAMP) ## start the exchange on the built-in demo config (data in ./data; Ctrl-C stops)
	$(VENV)/bin/tokex serve --data data

lint: $(STAMP) ## ruff check, ruff format --check, mypy --strict
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

unit: $(STAMP) $(FIX_STAMP) ## pytest only (unit, property, integration)
	$(VENV)/bin/pytest

test: lint unit ## the whole suite: lint, types, unit + property + integration tests

bench: $(STAMP) ## engine benchmarks on every workload and the peers; writes bench/results/
	$(PY) -m bench all

bench-micro: $(STAMP) ## pytest-benchmark micro-benchmarks of the hot functions
	$(VENV)/bin/pytest bench/micro -q -p no:cacheprovider

clean: ## remove the venv and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .hypothesis build *.egg-info $(FIX_CLIENT)/node_modules
