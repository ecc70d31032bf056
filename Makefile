# The README's commands. Each target installs what it needs into a project venv first.
#   make demo            the emulator + the example DAGs on a real Airflow 3.3
#   make test            lint, types and the whole suite on Airflow 3.3
#   make test-airflow2   the whole suite on Airflow 2.11
#   make test-compat     the unit tests on Airflow 3.0, 3.1 and 3.2
#   make test-ui         the connection form in Airflow 3.3's web UI, in a headless Chromium
#   make test-package    build sdist + wheel, twine check, install into a clean venv, run a DAG
#   make bench           the performance figures
#   make test-deploy     the sharded DAG on PostgreSQL, Redis, two Celery workers (Airflow 3.3); rate budgets
#   make mutation        plant bugs in the hook, client, bulk, validation, connection, lineage; list survivors

PYTHON ?= python3
AIRFLOW ?= 3.3

# One venv per Airflow version; 3.3 (the primary) lives in .venv.
ifeq ($(AIRFLOW),3.3)
VENV ?= .venv
else
VENV ?= .venv-airflow$(AIRFLOW)
endif

CONSTRAINTS := constraints/airflow-$(AIRFLOW).txt
# The OpenLineage provider is tested on 3.3 and 2.11 (pinned in their constraints).
ifneq ($(filter $(AIRFLOW),3.3 2.11),)
EXTRAS ?= test,lint,openlineage
else
EXTRAS ?= test,lint
endif
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(AIRFLOW)

.PHONY: install lint typecheck test test-airflow2 test-compat test-unit test-ui test-package test-deploy demo bench mutation clean

$(STAMP): pyproject.toml $(CONSTRAINTS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "pip==26.3"
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e ".[$(EXTRAS)]"
	@touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/python -m pytest

test-unit: install
	$(BIN)/python -m pytest tests/unit

test-airflow2:
	$(MAKE) --no-print-directory AIRFLOW=2.11 VENV=.venv-airflow2 install
	.venv-airflow2/bin/python -m pytest

test-compat:
	$(MAKE) --no-print-directory AIRFLOW=3.0 test-unit
	$(MAKE) --no-print-directory AIRFLOW=3.1 test-unit
	$(MAKE) --no-print-directory AIRFLOW=3.2 test-unit

test-ui: install
	scripts/test_ui.sh

test-package: install
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c $(CONSTRAINTS) -e ".[release]"
	MOVEWORKS_PACKAGE_TESTS=1 $(BIN)/python -m pytest tests/packaging -q

# Its own venv (.venv-deploy): the Celery and PostgreSQL packages stay out of the test venvs.
test-deploy:
	bash scripts/deploy/install-services.sh
	$(MAKE) --no-print-directory AIRFLOW=3.3 VENV=.venv-deploy EXTRAS=deploy install
	.venv-deploy/bin/python scripts/deploy/run.py

demo: install
	$(BIN)/python scripts/demo.py

bench: install
	$(BIN)/python benchmarks/run_all.py

# Not in .ci/run: a long run on 2 cores. Arguments: make mutation MUTATION_ARGS="--only client/"
mutation: install
	$(BIN)/python scripts/mutation.py $(MUTATION_ARGS)

clean:
	rm -rf .venv .venv-airflow* .venv-deploy .demo build dist *.egg-info ui-screenshots
