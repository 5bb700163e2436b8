# tokex developer commands. `make help` lists them.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# jspurefix, the third-party FIX engine the FIX tests drive as the client (pinned in the lock file)
FIX_CLIENT := tests/integration/gateway/fix
FIX_STAMP  := $(FIX_CLIENT)/node_modules/.installed

# The compiled core (setup.py, model/build.py): rebuilt in place when its
# sources or the Python files it stands in for change.
CORE_SOURCES := $(wildcard model/_order.p* model/_i128.* model/_slots.* model/_build_hash.pxd risk/_fast.p* engine/_core.p*) model/build.py \
	model/order.py model/commands.py risk/risk.py risk/accounts.py engine/book.py engine/engine.py engine/matching.py \
	engine/operations.py engine/phases.py engine/uncross.py \
	node/_journal.pyx node/_crc32.h node/journal.py gateway/fix/_codec.pyx gateway/fix/codec.py
CORE_STAMP := $(VENV)/.core-built
# What the pure build runs again in `make unit` (the compiled build runs everything).
PURE_TESTS := tests/property tests/golden tests/unit/engine tests/unit/risk tests/unit/model \
	tests/unit/node/test_journal.py tests/unit/gateway/fix/test_codec.py

.DEFAULT_GOAL := help
.PHONY: help install fix-client run test lint unit bench bench-micro bench-micro-baseline clean browser nats-server core

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) core ## create .venv and install tokex with its dev extras

$(CORE_STAMP): $(STAMP) $(CORE_SOURCES)
	$(PY) setup.py -q build_ext --inplace
	touch $(CORE_STAMP)

core: $(CORE_STAMP) ## compile the engine's core (Cython; needs a C compiler, Python's and zlib's headers)

$(FIX_STAMP): $(FIX_CLIENT)/package.json $(FIX_CLIENT)/package-lock.json
	cd $(FIX_CLIENT) && npm ci --ignore-scripts --no-audit --no-fund
	touch $(FIX_STAMP)

fix-client: $(FIX_STAMP) ## install jspurefix 5.11.4 from npm for the FIX tests (needs node and npm)

run: $(STAMP) ## start the exchange on the demo config (data in ./data; console on :8080; Ctrl-C stops)
	$(VENV)/bin/tokex serve --data data

lint: $(STAMP) ## ruff check, ruff format --check, mypy --strict
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# Debian's chromium and its chromedriver for the console's browser tests, pinned
# (browser and driver must be the same build). Debian's security archive keeps
# only its newest build: if this one is gone, the candidate is installed and named.
CHROMIUM_VERSION := 156.0.8078.114-1~deb12u1

browser: ## install Debian's chromium and chromium-driver if missing (the console's tests)
	@if test -x /usr/bin/chromium && test -x /usr/bin/chromedriver; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		apt-get update -q >/dev/null; \
		export DEBIAN_FRONTEND=noninteractive; \
		if apt-get install -y -q --no-install-recommends chromium=$(CHROMIUM_VERSION) \
			chromium-driver=$(CHROMIUM_VERSION) >/dev/null; then \
			echo "installed chromium $(CHROMIUM_VERSION)"; \
		else echo "chromium $(CHROMIUM_VERSION) is no longer served; installing" \
			"$$(apt-cache policy chromium | awk '/Candidate/ {print $$2}')"; \
			apt-get install -y -q --no-install-recommends chromium chromium-driver >/dev/null; fi; \
	else echo "chromium cannot be installed here (needs root and apt-get)"; exit 1; fi

# Debian's nats-server (JetStream) for the settlement tests and benchmark, pinned.
NATS_SERVER_VERSION := 2.9.10-1+b3

nats-server: ## install Debian's nats-server (the settlement queue's NATS backend) if missing
	@if command -v nats-server >/dev/null 2>&1 || test -x /usr/sbin/nats-server; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q --no-install-recommends nats-server=$(NATS_SERVER_VERSION) >/dev/null \
		&& echo "installed nats-server $(NATS_SERVER_VERSION)"; \
	else echo "nats-server cannot be installed here (needs root and apt-get):" \
		"the NATS settlement tests will be skipped"; fi

unit: $(STAMP) $(CORE_STAMP) $(FIX_STAMP) browser nats-server ## pytest only (unit, property, integration)
	$(VENV)/bin/pytest
	TOKEX_PURE=1 $(VENV)/bin/pytest $(PURE_TESTS)

test: lint unit ## the whole suite: lint, types, unit + property + integration tests

bench: $(STAMP) $(CORE_STAMP) ## every benchmark stage, several runs each: bench/results/*.json, plots, README table
	$(PY) -m bench all

MICRO_JSON := bench/results/micro/latest.json

bench-micro: $(STAMP) ## pytest-benchmark of the hot functions, against bench/micro/baseline.json
	@mkdir -p $(dir $(MICRO_JSON))
	$(VENV)/bin/pytest bench/micro -q -p no:cacheprovider --benchmark-json=$(MICRO_JSON)
	$(PY) -m bench micro-compare $(MICRO_JSON)

bench-micro-baseline: $(STAMP) ## run the micro-benchmarks and save them as the baseline
	@mkdir -p $(dir $(MICRO_JSON))
	$(VENV)/bin/pytest bench/micro -q -p no:cacheprovider --benchmark-json=$(MICRO_JSON)
	$(PY) -m bench micro-compare $(MICRO_JSON) --save

clean: ## remove the venv and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .hypothesis build *.egg-info $(FIX_CLIENT)/node_modules
	rm -f model/_order.c risk/_fast.c engine/_core.c node/_journal.c model/_build_hash.h \
		*/_*.cpython-*.so
