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

.PHONY: demo test unit integration e2e lint validate bench clean chromium

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

# Debian's Chromium, for the report's browser test (tests/e2e/test_report_browser.py drives
# /usr/bin/chromium with Playwright: no browser is downloaded). There it must not be skipped.
chromium:
	command -v chromium >/dev/null || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium)
test e2e: export GREENRAIL_REQUIRE_CHROMIUM := 1

demo: $(STAMP)
	$(BIN)/greenrail demo

test:
	$(MAKE) -j2 $(STAMP) $(SAM_STAMP) chromium  # the two venvs (and Chromium) install side by side
	$(MAKE) -j2 lint validate
	$(BIN)/python -m pytest -n 2 --dist loadfile  # two workers, one per core; a file's tests stay together

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

integration: $(STAMP)
	$(BIN)/python -m pytest tests/integration

e2e: $(STAMP) chromium
	$(BIN)/python -m pytest tests/e2e

lint: $(STAMP)
	$(BIN)/ruff check layers cli functions tests bench
	$(BIN)/mypy layers/greenrail/greenrail cli/greenrail_cli

validate: $(STAMP) $(SAM_STAMP)
	$(SAM_BIN)/sam validate --lint --template template.yaml --region $(AWS_DEFAULT_REGION)
	$(BIN)/cfn-lint template.yaml org/member-account.yaml
	$(BIN)/python scripts/statelint.py statemachines/*.asl.json  # statelint, less its ReaderConfig gap

bench: $(STAMP) $(C7N_STAMP)
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[bench]'  # pyarrow: Parquet inventories
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam
