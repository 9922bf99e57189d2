# Two commands matter: `make dev` (the whole backend locally, with demo data) and `make test`
# (every suite, the CDK synth with cdk-nag and cfn-lint). Both set up what they need first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_VERSION_CHECK := true
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: dev test static checks suites suites-a suites-b lint typecheck unit contract integration stacks synth cfn-lint bench clean help

help:
	@echo "make dev   - set up and start the whole backend locally (moto, both regions, demo data)"
	@echo "make test  - set up and run every test suite, synthesize and check the CDK app"
	@echo "make bench - run the benchmarks (not a gate; results in bench/results/)"

# A new package under functions/ is found only once the editable install is made again.
$(STAMP): pyproject.toml $(wildcard functions/*/__init__.py)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

dev: $(STAMP) $(NODE_STAMP)
	$(BIN)/ddgui dev

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy layers/core/python/gui_core functions stacks local app.py

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit -q

contract: $(STAMP)
	$(BIN)/python -m pytest tests/contract -q

integration: $(STAMP)
	$(BIN)/python -m pytest tests/integration -q

stacks: $(STAMP) $(NODE_STAMP)
	$(BIN)/python -m pytest tests/stacks -q

# The CDK CLI synthesizes both regions with cdk-nag on (the validator stays on in this step).
synth: $(STAMP) $(NODE_STAMP)
	npx --no-install cdk synth --quiet
	$(BIN)/cfn-lint cdk.out/*.template.json

# Three lanes side by side, each one's output printed whole when it ends: the static checks and
# then the CDK synth; and the suites in two processes, balanced by their run times (each suite
# directory's servers are stopped when its last test ends: package-scoped fixtures). The suites
# mostly wait on their local servers, so two of them and the checks share the two cores well.
SUITES_A := tests/security tests/browser tests/stacks tests/search
SUITES_B := tests/unit tests/contract tests/integration tests/streaming

test: $(STAMP) $(NODE_STAMP)
	$(MAKE) --no-print-directory -j3 --output-sync=target static suites-a suites-b

static: $(STAMP) $(NODE_STAMP)
	$(MAKE) --no-print-directory checks && $(MAKE) --no-print-directory synth

checks: lint typecheck

# Every suite in one process (what `pytest` alone runs).
suites: $(STAMP)
	$(BIN)/python -m pytest -q

suites-a: $(STAMP) $(NODE_STAMP)
	$(BIN)/python -m pytest -q $(SUITES_A)

suites-b: $(STAMP)
	$(BIN)/python -m pytest -q $(SUITES_B)

# Benchmarks: not a CI gate. Each prints its table and compares with a baseline of the same run.
# Every bench once, within 15 minutes on the 2-core machine (issue 17): the long ones in their quick
# form here (the figures in docs/performance.md name the commands that made them, often longer).
bench: $(STAMP)
	@started=$$(date +%s); \
	for script in bench/[!_]*.py; do \
		case $$script in \
			bench/cold_start.py) args="--runs 3";; \
			bench/dashboard_load.py|bench/live_fanout.py|bench/notification_stream.py) args="--quick";; \
			bench/migrate.py) args="--items 1000";; \
			bench/scale.py) args="--sizes 200,2000 --repeat 1";; \
			*) args="";; \
		esac; \
		echo "== $$script $$args"; begun=$$(date +%s); \
		$(BIN)/python $$script $$args || exit 1; \
		echo "== $$script: $$(( $$(date +%s) - begun )) s"; \
	done; \
	echo "== make bench: every bench in $$(( $$(date +%s) - started )) s"

clean:
	rm -rf cdk.out .build .pytest_cache .mypy_cache .ruff_cache
