# The README's commands. Each target installs what it needs into a project venv first.
#   make demo   the emulator + the example DAGs on a real Airflow 3.3
#   make test   lint, types and the whole suite on Airflow 3.3
#   make test-airflow2   the whole suite on Airflow 2.11
#   make bench  the performance figures

PYTHON ?= python3
AIRFLOW ?= 3.3
VENV ?= .venv

ifeq ($(AIRFLOW),2.11)
VENV := .venv-airflow2
endif

CONSTRAINTS := constraints/airflow-$(AIRFLOW).txt
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(AIRFLOW)

.PHONY: install lint typecheck test test-airflow2 demo bench clean

$(STAMP): pyproject.toml $(CONSTRAINTS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "pip==26.3"
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e ".[test,lint]"
	@touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/python -m pytest

test-airflow2:
	$(MAKE) --no-print-directory AIRFLOW=2.11 install
	.venv-airflow2/bin/python -m pytest

demo: install
	$(BIN)/python scripts/demo.py

bench: install
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf .venv .venv-airflow2 .demo build *.egg-info
