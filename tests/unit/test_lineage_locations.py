"""OpenLineage names an ``updates_file`` given as a path object as it names the same path or URI
given as a string: ``pathlib.Path``, any ``os.PathLike``, Airflow's ``ObjectStoragePath``."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest

from airflow_provider_moveworks.version_compat import ObjectStoragePath


class _Fspath:
    def __init__(self, path: str) -> None:
        self._path = path

    def __fspath__(self) -> str:
        return self._path


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        pytest.param(
            lambda: pathlib.Path("/data/exports/a.csv"), ("file", "/data/exports/a.csv"), id="pathlib"
        ),
        pytest.param(
            lambda: _Fspath("/data/exports/a.csv"), ("file", "/data/exports/a.csv"), id="os-pathlike"
        ),
        pytest.param(
            lambda: ObjectStoragePath("file:///data/exports/a.csv"),
            ("file", "/data/exports/a.csv"),
            id="file-uri",
        ),
        pytest.param(
            lambda: ObjectStoragePath("s3://aws_prod@hr-bot/exports/a.csv"),
            ("s3://hr-bot", "exports/a.csv"),
            id="s3-with-connection",
        ),
        pytest.param(
            lambda: ObjectStoragePath("s3://hr-bot/exports/a.csv", conn_id="aws_prod"),
            ("s3://hr-bot", "exports/a.csv"),
            id="s3-conn-id-argument",
        ),
    ],
)
def test_a_path_object_is_named_as_its_path_or_uri(make: Any, expected: tuple[str, str]) -> None:
    lineage = pytest.importorskip("airflow_provider_moveworks.lineage", exc_type=ImportError)

    dataset = lineage.file_dataset(make())

    assert (dataset.namespace, dataset.name) == expected


def test_a_relative_path_object_is_named_by_its_absolute_path(tmp_path, monkeypatch) -> None:
    lineage = pytest.importorskip("airflow_provider_moveworks.lineage", exc_type=ImportError)
    monkeypatch.chdir(tmp_path)

    dataset = lineage.file_dataset(pathlib.Path("updates.csv"))

    assert (dataset.namespace, dataset.name) == ("file", str(tmp_path / "updates.csv"))


def test_the_bulk_operators_lineage_takes_a_path_object(tmp_path) -> None:
    pytest.importorskip("airflow_provider_moveworks.lineage", exc_type=ImportError)
    from airflow_provider_moveworks.operators.bulk import MoveworksBulkUpdateConversationsOperator

    operator = MoveworksBulkUpdateConversationsOperator(
        task_id="bulk", updates_file=tmp_path / "updates.jsonl", moveworks_conn_id="absent"
    )

    lineage = operator.get_openlineage_facets_on_complete(None)

    assert [(d.namespace, d.name) for d in lineage.inputs] == [("file", str(tmp_path / "updates.jsonl"))]


def test_an_updates_file_that_is_no_path_gives_no_input_and_never_fails(tmp_path) -> None:
    lineage = pytest.importorskip("airflow_provider_moveworks.lineage", exc_type=ImportError)

    result = lineage.operator_lineage(
        moveworks_conn_id="absent", assistant_name=None, updates_file=12, counts=None
    )

    assert result.inputs == []
