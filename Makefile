# Greenrail: `make demo` and `make test` are all a new machine needs.
SHELL := /bin/bash
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

# Lambda runs python3.12: use it when this machine has it, else python3 (the code runs on 3.11 too).
PYTHON ?= $(shell PYENV_VERSION=3.12.1 python3.12 -c 'import sys; print(sys.executable)' 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# aws-sam-cli pins its own boto3 and pydantic: it lives in a venv of its own.
SAM_VENV := .venv-sam
SAM_BIN := $(SAM_VENV)/bin
STAMP := $(VENV)/.installed
SAM_STAMP := $(SAM_VENV)/.installed
# Cloud Custodian (bench only) pins its own boto3: it lives in a venv of its own too.
C7N_VENV := .venv-c7n
C7N_STAMP := $(C7N_VENV)/.installed

.PHONY: demo test unit integration e2e lint validate bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $@

$(SAM_STAMP): requirements-sam.txt
	test -x $(SAM_BIN)/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_BIN)/python -m pip install -q -r requirements-sam.txt
	touch $@

$(C7N_STAMP): requirements-c7n.txt
	test -x $(C7N_VENV)/bin/python || $(PYTHON) -m venv $(C7N_VENV)
	$(C7N_VENV)/bin/python -m pip install -q -r requirements-c7n.txt
	touch $@

demo: $(STAMP)
	$(BIN)/greenrail demo

test:
	$(MAKE) -j2 $(STAMP) $(SAM_STAMP)  # the two venvs install side by side
	$(MAKE) lint validate
	$(BIN)/python -m pytest

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

integration: $(STAMP)
	$(BIN)/python -m pytest tests/integration

e2e: $(STAMP)
	$(BIN)/python -m pytest tests/e2e

lint: $(STAMP)
	$(BIN)/ruff check layers cli functions tests bench
	$(BIN)/mypy layers/greenrail/greenrail cli/greenrail_cli

validate: $(STAMP) $(SAM_STAMP)
	$(SAM_BIN)/sam validate --lint --template template.yaml --region $(AWS_DEFAULT_REGION)
	$(BIN)/cfn-lint template.yaml org/member-account.yaml
	for f in statemachines/*.asl.json; do $(BIN)/statelint $$f || exit 1; done

bench: $(STAMP) $(C7N_STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam
