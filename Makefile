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

.PHONY: dev test checks suites lint typecheck unit contract integration stacks synth cfn-lint bench clean help

help:
	@echo "make dev   - set up and start the whole backend locally (moto, both regions, demo data)"
	@echo "make test  - set up and run every test suite, synthesize and check the CDK app"
	@echo "make bench - run the benchmarks (not a gate; results in bench/results/)"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

dev: $(STAMP)
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

# The static checks run beside the test suites (which mostly wait on local servers, leaving a core
# free), each one's output printed whole when it ends; then the CDK synth.
test: $(STAMP) $(NODE_STAMP)
	$(MAKE) --no-print-directory -j2 --output-sync=target checks suites
	$(MAKE) --no-print-directory synth

checks: lint typecheck

suites: $(STAMP)
	$(BIN)/python -m pytest -q

# Benchmarks: not a CI gate. Each prints its table and compares with a baseline of the same run.
bench: $(STAMP)
	@for script in bench/[!_]*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf cdk.out .build .pytest_cache .mypy_cache .ruff_cache
