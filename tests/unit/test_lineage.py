"""OpenLineage naming: files and object storage as OpenLineage names them, the conversations as one
dataset per assistant and API host; and none of it loaded by a DAG parse."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ASSISTANT

PROBE = """
import sys
from airflow_provider_moveworks.version_compat import BaseOperator
before = set(sys.modules)
import airflow_provider_moveworks.operators.moveworks
import airflow_provider_moveworks.operators.bulk
added = set(sys.modules) - before
print(sorted(m for m in added if "lineage" in m))
"""


def test_importing_the_operators_loads_no_lineage_code() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("/data/exports/archive.csv", ("file", "/data/exports/archive.csv")),
        ("file:///data/exports/archive.csv", ("file", "/data/exports/archive.csv")),
        ("file://fileserver/exports/a.jsonl", ("file://fileserver", "/exports/a.jsonl")),
        ("file://localhost/data/exports/archive.csv", ("file", "/data/exports/archive.csv")),
        ("s3://hr-bot/exports/2026-01-01/archive.csv", ("s3://hr-bot", "exports/2026-01-01/archive.csv")),
        ("s3://aws_prod@hr-bot/exports/a.csv", ("s3://hr-bot", "exports/a.csv")),
        ("gcs://hr-bot/exports/a.csv", ("gs://hr-bot", "exports/a.csv")),
        ("gs://hr-bot/a.csv", ("gs://hr-bot", "a.csv")),
    ],
)
def test_files_are_named_as_openlineage_names_them(location: str, expected: tuple[str, str]) -> None:
    lineage = pytest.importorskip("airflow_provider_moveworks.lineage", exc_type=ImportError)

    dataset = lineage.file_dataset(location)

    assert (dataset.namespace, dataset.name) == expected


def test_a_relative_path_is_named_by_its_absolute_path(tmp_path, monkeypatch) -> None:
    lineage = pytest.importorskip("airflow_provider_moveworks.lineage", exc_type=ImportError)
    monkeypatch.chdir(tmp_path)

    dataset = lineage.file_dataset("updates.csv")

    assert (dataset.namespace, dataset.name) == ("file", str(tmp_path / "updates.csv"))


@pytest.mark.parametrize(
    ("base_url", "namespace"),
    [
        ("https://api.moveworks.ai/rest/v1beta1", "moveworks://api.moveworks.ai"),
        ("http://127.0.0.1:8080/rest/v1beta1", "moveworks://127.0.0.1:8080"),
    ],
)
def test_the_conversations_are_one_dataset_per_api_host_and_assistant(base_url: str, namespace: str) -> None:
    lineage = pytest.importorskip("airflow_provider_moveworks.lineage", exc_type=ImportError)

    dataset = lineage.conversations_dataset(base_url, "HR Bot")

    assert (dataset.namespace, dataset.name) == (namespace, "HR Bot")


def test_an_unreadable_connection_drops_only_the_output(set_connection) -> None:
    lineage = pytest.importorskip("airflow_provider_moveworks.lineage", exc_type=ImportError)

    result = lineage.operator_lineage(
        moveworks_conn_id="missing_connection",
        assistant_name=None,
        updates_file="s3://bucket/a.csv",
        counts={"updated": 2, "not_found": 0, "failed": 1, "invalid": 0, "duplicates": 3, "total": 6},
    )

    assert [(d.namespace, d.name) for d in result.inputs] == [("s3://bucket", "a.csv")]
    assert result.outputs == []
    facet = result.run_facets["moveworks"]
    assert (facet.updated, facet.not_found, facet.failed, facet.invalid) == (2, 0, 1, 0)


def test_rows_resumed_from_an_earlier_try_are_counted_apart_from_this_try_s_updates() -> None:
    lineage = pytest.importorskip("airflow_provider_moveworks.lineage", exc_type=ImportError)

    result = lineage.operator_lineage(
        moveworks_conn_id="missing_connection",
        assistant_name=None,
        updates_file=None,
        counts={"updated": 5, "resumed": 3, "not_found": 1, "failed": 0, "invalid": 0, "total": 6},
    )

    facet = result.run_facets["moveworks"]
    assert (facet.updated, facet.resumed, facet.not_found, facet.failed, facet.invalid) == (2, 3, 1, 0, 0)


@pytest.mark.parametrize(
    "base_url",
    [
        "https://api.moveworks.ai/rest/v1beta1",
        "HTTPS://API.Moveworks.AI/rest/v1beta1",
        "https://api.moveworks.ai:443/rest/v1beta1",
        "https://API.moveworks.ai./rest/v1beta1",
    ],
)
def test_one_api_host_spelled_differently_is_one_namespace(base_url: str) -> None:
    lineage = pytest.importorskip("airflow_provider_moveworks.lineage", exc_type=ImportError)

    assert lineage.conversations_dataset(base_url, "HR Bot").namespace == "moveworks://api.moveworks.ai"


def test_a_failed_run_does_not_report_the_outcome_of_an_earlier_run(emulator_connection) -> None:
    pytest.importorskip("airflow_provider_moveworks.lineage", exc_type=ImportError)
    from airflow_provider_moveworks.operators.moveworks import MoveworksUpdateConversationOperator

    cid = emulator_connection.add_conversation(title="Old")["conversation_id"]
    operator = MoveworksUpdateConversationOperator(task_id="t", conversation_id=cid, title="New")
    operator.execute({})
    operator.conversation_id = "not an id"  # the next run fails before sending
    with pytest.raises(Exception, match="conversation_id"):
        operator.execute({})

    facet = operator.get_openlineage_facets_on_failure(None).run_facets["moveworks"]

    assert (facet.updated, facet.not_found, facet.failed, facet.invalid) == (0, 0, 0, 1)


def test_a_bulk_run_that_fails_before_counting_reports_no_earlier_counts(
    emulator_connection, tmp_path
) -> None:
    pytest.importorskip("airflow_provider_moveworks.lineage", exc_type=ImportError)
    from airflow_provider_moveworks.operators.bulk import MoveworksBulkUpdateConversationsOperator

    cid = emulator_connection.add_conversation(title="Old")["conversation_id"]
    updates = tmp_path / "updates.jsonl"
    updates.write_text(f'{{"conversation_id": "{cid}", "title": "New"}}\n')
    operator = MoveworksBulkUpdateConversationsOperator(task_id="t", updates_file=str(updates))
    operator.execute({})
    updates.unlink()  # the next run fails before counting
    with pytest.raises(Exception, match="updates"):
        operator.execute({})

    assert operator.get_openlineage_facets_on_failure(None).run_facets == {}


def test_an_ipv6_api_host_is_bracketed_in_the_namespace() -> None:
    lineage = pytest.importorskip("airflow_provider_moveworks.lineage", exc_type=ImportError)

    assert lineage.conversations_dataset("https://[2001:db8::1]:8443/rest/v1beta1", "HR Bot").namespace == (
        "moveworks://[2001:db8::1]:8443"
    )
    assert (
        lineage.conversations_dataset("https://[::1]/rest/v1beta1", "HR Bot").namespace == "moveworks://[::1]"
    )


def test_a_readable_connection_names_the_assistant_s_conversations_as_the_output(set_connection) -> None:
    lineage = pytest.importorskip("airflow_provider_moveworks.lineage", exc_type=ImportError)
    set_connection()

    from_connection = lineage.operator_lineage(
        moveworks_conn_id="moveworks_default", assistant_name=None, updates_file=None, counts=None
    )
    from_operator = lineage.operator_lineage(
        moveworks_conn_id="moveworks_default", assistant_name="IT Bot", updates_file=None, counts=None
    )

    assert [(d.namespace, d.name) for d in from_connection.outputs] == [
        ("moveworks://moveworks.test", ASSISTANT)
    ]
    assert [(d.namespace, d.name) for d in from_operator.outputs] == [
        ("moveworks://moveworks.test", "IT Bot")
    ]
    assert from_connection.inputs == []
    assert from_connection.run_facets == {}


def test_an_empty_updates_file_reads_no_dataset(tmp_path, monkeypatch) -> None:
    lineage = pytest.importorskip("airflow_provider_moveworks.lineage", exc_type=ImportError)
    monkeypatch.chdir(tmp_path)  # "" must not become the working directory's path

    result = lineage.operator_lineage(
        moveworks_conn_id="absent", assistant_name=None, updates_file="", counts=None
    )

    assert result.inputs == []


def test_an_outcome_missing_from_the_counts_is_reported_as_zero() -> None:
    lineage = pytest.importorskip("airflow_provider_moveworks.lineage", exc_type=ImportError)

    result = lineage.operator_lineage(
        moveworks_conn_id="absent", assistant_name=None, updates_file=None, counts={"updated": 4}
    )

    facet = result.run_facets["moveworks"]
    assert (facet.updated, facet.not_found, facet.failed, facet.invalid, facet.resumed) == (4, 0, 0, 0, 0)


def test_a_single_update_failing_on_its_title_before_sending_is_counted_invalid(emulator_connection) -> None:
    pytest.importorskip("airflow_provider_moveworks.lineage", exc_type=ImportError)
    from airflow_provider_moveworks.operators.moveworks import MoveworksUpdateConversationOperator

    cid = emulator_connection.add_conversation(title="Old")["conversation_id"]
    operator = MoveworksUpdateConversationOperator(task_id="t", conversation_id=cid, title="New")
    operator.title = "Tab\there"  # a valid id, a title that fails validation: nothing is sent
    with pytest.raises(Exception, match="title"):
        operator.execute({})

    facet = operator.get_openlineage_facets_on_failure(None).run_facets["moveworks"]

    assert (facet.updated, facet.not_found, facet.failed, facet.invalid) == (0, 0, 0, 1)
    assert emulator_connection.request_count(method="PATCH") == 0
