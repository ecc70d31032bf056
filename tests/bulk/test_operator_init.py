"""The operator's constructor: choices checked at once, no connection or network, cheap import."""

from __future__ import annotations

import subprocess
import sys

import pytest

from airflow_provider_moveworks.operators.bulk import MoveworksBulkUpdateConversationsOperator


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"if_not_found": "skip"}, "if_not_found"),
        ({"on_invalid": "ignore"}, "on_invalid"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"max_concurrency": 65}, "max_concurrency"),
        ({"max_concurrency": True}, "max_concurrency"),
        ({"retry_passes": -1}, "retry_passes"),
        ({"max_requests_per_second": 0}, "max_requests_per_second"),
        ({"max_requests_per_second": "10"}, "max_requests_per_second"),
        # An endless ceiling is no ceiling, but the limiter would then cut inf on a 429 and
        # never slow down: None is how to say "no limit".
        ({"max_requests_per_second": float("inf")}, "max_requests_per_second .*None for no limit"),
        ({"max_requests_per_second": float("nan")}, "max_requests_per_second"),
        # One request a century: its wait overflowed the clock deep inside the run.
        ({"max_requests_per_second": 1e-10}, "max_requests_per_second must be a number from 0.01"),
        ({"max_requests_per_second": 10**400}, "max_requests_per_second"),  # no float holds it
        ({"updates_file": "x.csv"}, "exactly one of updates and updates_file"),
    ],
)
def test_bad_choices_raise_a_value_error_naming_the_argument(kwargs, argument):
    kwargs = {"updates": [], **kwargs}
    with pytest.raises(ValueError, match=argument):
        MoveworksBulkUpdateConversationsOperator(task_id="bulk", **kwargs)


def test_no_input_at_all_is_rejected():
    with pytest.raises(ValueError, match="exactly one of updates and updates_file"):
        MoveworksBulkUpdateConversationsOperator(task_id="bulk")


def test_construction_needs_no_connection():
    operator = MoveworksBulkUpdateConversationsOperator(
        task_id="bulk", updates_file="{{ params.file }}", moveworks_conn_id="not_defined_anywhere"
    )

    assert operator.template_fields == (
        "updates",
        "updates_file",
        "report_file",
        "moveworks_conn_id",
        "assistant_name",
        "dry_run",
        "rate_limit_key",
    )


# What every DAG file has loaded already (Airflow 2 itself imports requests); the probe then
# lists the modules that importing the given module added.
PROBE = (
    "import sys; from airflow_provider_moveworks.version_compat import BaseOperator; "
    "before = set(sys.modules); import {module}; "
    "print(sorted(m for m in ('requests', 'airflow_provider_moveworks.hooks.moveworks', "
    "'airflow_provider_moveworks.bulk.runner') if m in set(sys.modules) - before))"
)


def test_importing_the_operator_loads_neither_requests_nor_the_hook_nor_the_engine():
    probe = PROBE.format(module="airflow_provider_moveworks.operators.bulk")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout

    assert out.strip() == "[]"


@pytest.mark.parametrize("module", ["rows", "plan", "ratelimit", "summary", "storage", "runner"])
def test_the_engine_modules_do_not_import_requests(module):
    probe = PROBE.format(module=f"airflow_provider_moveworks.bulk.{module}")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout

    assert "requests" not in out
