"""The bulk operator with ``rate_limit_conn_id``: tasks sharing one budget through Redis against
the emulator, the fallback when Redis is away, and the checks made before anything is sent."""

from __future__ import annotations

import json
import logging
import socket
import sys
import threading
import time
from typing import Any

import fakeredis
import pytest

from airflow_provider_moveworks.exceptions import MoveworksValidationError
from tests.bulk.conftest import state
from tests.conftest import API_KEY, ASSISTANT

pytestmark = pytest.mark.integration


@pytest.fixture
def redis_server(mocker, monkeypatch) -> fakeredis.FakeServer:
    """A Redis connection ``budget_redis`` whose client is a fakeredis on one shared server."""
    server = fakeredis.FakeServer()
    monkeypatch.setenv("AIRFLOW_CONN_BUDGET_REDIS", "redis://127.0.0.1:1/0")
    mocker.patch(
        "airflow.providers.redis.hooks.redis.RedisHook.get_conn",
        side_effect=lambda: fakeredis.FakeRedis(server=server),
    )
    return server


def archive_all(ids: list[str]) -> list[dict[str, Any]]:
    return [{"conversation_id": c, "archived": True} for c in ids]


def test_two_tasks_sharing_a_budget_stay_within_it_together(
    make_operator, add_conversations, emulator, redis_server
):
    ids = add_conversations(160)
    # The account allows 40/s with a burst of 40: two tasks each allowed 40/s alone would go over.
    emulator.configure(rate_limit=40)
    operators = [
        make_operator(
            task_id=f"shard_{n}",
            updates=archive_all(ids[n::2]),
            rate_limit_requests_per_second=40,
            max_concurrency=4,
            rate_limit_conn_id="budget_redis",
        )
        for n in range(2)
    ]
    summaries: list[dict[str, Any]] = []
    started = time.monotonic()
    # execute itself: Airflow 2.11's guard around it keeps its state per thread, set on the main one.
    execute = getattr(type(operators[0]).execute, "__wrapped__", type(operators[0]).execute)
    threads = [threading.Thread(target=lambda o=o: summaries.append(execute(o, {}))) for o in operators]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    elapsed = time.monotonic() - started

    assert [s["updated"] for s in summaries] == [80, 80]
    assert emulator.request_count(method="PATCH", status=429) == 0
    assert emulator.request_count(method="PATCH") == 160
    # 160 permits at 40/s from one schedule: 3.95 s at least, less the 50 ms burst allowance.
    assert elapsed >= 3.9
    assert all(archived for _, archived in state(emulator).values())
    host = emulator.base_url.split("//")[1].split("/")[0]
    keys = fakeredis.FakeRedis(server=redis_server).keys("*")
    assert keys == [f"moveworks:rate-budget:{host}/{ASSISTANT}@40.0/s".encode()]
    stored = fakeredis.FakeRedis(server=redis_server).hgetall(keys[0])
    assert API_KEY.encode() not in b"".join(keys + list(stored.values()))


def test_a_redis_that_refuses_connections_slows_nothing_and_fails_nothing(
    make_operator, add_conversations, emulator, monkeypatch, caplog, capfd
):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there
    monkeypatch.setenv("AIRFLOW_CONN_BUDGET_REDIS", f"redis://127.0.0.1:{port}/0")
    ids = add_conversations(30)

    with caplog.at_level(logging.INFO):
        summary = make_operator(
            updates=archive_all(ids),
            rate_limit_requests_per_second=400,
            fallback_requests_per_second=100,
            rate_limit_conn_id="budget_redis",
        ).execute({})

    assert (summary["updated"], summary["failed"]) == (30, 0)
    # Airflow 2 logs through the logging module (caplog); Airflow 3 through structlog to stdout.
    text = caplog.text if "Redis did not answer" in caplog.text else capfd.readouterr().out
    fell = [line for line in text.splitlines() if "Redis did not answer" in line]
    assert len(fell) == 1
    assert "paces itself alone at 100 requests/s" in fell[0]
    assert "fell back to this task's own limiter 1 times" in text


def test_a_key_holding_the_api_key_is_refused_before_anything_is_sent(
    make_operator, add_conversations, emulator, redis_server
):
    ids = add_conversations(2)
    operator = make_operator(
        updates=archive_all(ids),
        rate_limit_requests_per_second=10,
        rate_limit_conn_id="budget_redis",
        rate_limit_key=f"budget-{API_KEY}",
    )

    with pytest.raises(MoveworksValidationError) as raised:
        operator.execute({})

    assert str(raised.value) == "Invalid rate_limit_key: holds the connection's credential"
    assert API_KEY not in str(raised.value)
    assert emulator.request_count() == 0


def test_without_the_redis_provider_the_task_says_what_to_install(
    make_operator, add_conversations, monkeypatch
):
    ids = add_conversations(1)
    monkeypatch.setitem(sys.modules, "airflow.providers.redis.hooks.redis", None)
    operator = make_operator(
        updates=archive_all(ids), rate_limit_requests_per_second=10, rate_limit_conn_id="r"
    )

    with pytest.raises(MoveworksValidationError, match=r"pip install 'airflow-provider-moveworks\[redis\]'"):
        operator.execute({})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rate_limit_conn_id": "r"}, "rate_limit_conn_id needs rate_limit_requests_per_second"),
        ({"rate_limit_conn_id": "r", "max_requests_per_second": 5}, "needs rate_limit_requests_per_second"),
        ({"rate_limit_conn_id": " ", "rate_limit_requests_per_second": 5}, "must name a connection"),
        ({"rate_limit_key": "k"}, "need rate_limit_conn_id"),
        ({"fallback_requests_per_second": 5}, "need rate_limit_conn_id"),
        ({"rate_limit_requests_per_second": 5}, "need rate_limit_conn_id"),
        (
            {
                "rate_limit_conn_id": "r",
                "rate_limit_requests_per_second": 5,
                "fallback_requests_per_second": 0,
            },
            "fallback_requests_per_second must be a number from 0.01",
        ),
        (
            {"rate_limit_conn_id": "r", "rate_limit_requests_per_second": float("nan")},
            "rate_limit_requests_per_second must be a number from 0.01",
        ),
    ],
)
def test_rate_budget_arguments_are_checked_when_the_dag_is_parsed(kwargs, message):
    from airflow_provider_moveworks.operators.bulk import MoveworksBulkUpdateConversationsOperator

    with pytest.raises(ValueError, match=message):
        MoveworksBulkUpdateConversationsOperator(task_id="t", updates=[], **kwargs)


def test_the_fallback_never_exceeds_the_budget():
    from airflow_provider_moveworks.operators.bulk import MoveworksBulkUpdateConversationsOperator

    operator = MoveworksBulkUpdateConversationsOperator(
        task_id="t",
        updates=[],
        rate_limit_conn_id="r",
        rate_limit_requests_per_second=50,
        fallback_requests_per_second=80,
    )
    assert operator.fallback_requests_per_second == 50
    assert json.dumps(operator.template_fields).count("rate_limit_key") == 1


@pytest.mark.parametrize(
    ("kwargs", "fallback"),
    [
        ({}, 25.0),  # a quarter of the budget
        ({"max_requests_per_second": 10}, 10.0),  # never above the task's own cap
        ({"fallback_requests_per_second": 40}, 40.0),
    ],
)
def test_the_fallback_defaults_to_a_quarter_of_the_budget_within_the_task_s_cap(kwargs, fallback):
    from airflow_provider_moveworks.operators.bulk import MoveworksBulkUpdateConversationsOperator

    operator = MoveworksBulkUpdateConversationsOperator(
        task_id="t", updates=[], rate_limit_conn_id="r", rate_limit_requests_per_second=100, **kwargs
    )
    assert operator.fallback_requests_per_second == fallback


def test_a_named_key_never_touches_another_application_s_keys(
    make_operator, add_conversations, emulator, redis_server
):
    ids = add_conversations(3)
    other = fakeredis.FakeRedis(server=redis_server)
    other.rpush("default", "a queued Celery message")  # the broker's default queue, say

    make_operator(
        updates=archive_all(ids),
        rate_limit_requests_per_second=10,
        rate_limit_conn_id="budget_redis",
        rate_limit_key="default",
    ).execute({})

    assert other.lrange("default", 0, -1) == [b"a queued Celery message"]
    assert other.exists("moveworks:rate-budget:default@10.0/s") == 1


@pytest.mark.parametrize("key", ["x" * 201, "two\nlines", ""])
def test_an_unusable_key_is_refused_before_anything_is_sent(
    make_operator, add_conversations, emulator, redis_server, key
):
    ids = add_conversations(1)
    operator = make_operator(
        updates=archive_all(ids),
        rate_limit_requests_per_second=10,
        rate_limit_conn_id="budget_redis",
        rate_limit_key=key,
    )

    with pytest.raises(MoveworksValidationError, match="must be printable text of 1 to 200 characters"):
        operator.execute({})
    assert emulator.request_count() == 0


def test_a_redis_cluster_connection_is_refused_before_anything_is_sent(
    make_operator, add_conversations, emulator, monkeypatch
):
    monkeypatch.setenv(
        "AIRFLOW_CONN_BUDGET_CLUSTER",
        json.dumps({"conn_type": "redis", "host": "127.0.0.1", "port": 1, "extra": {"cluster": True}}),
    )
    ids = add_conversations(1)
    operator = make_operator(
        updates=archive_all(ids), rate_limit_requests_per_second=10, rate_limit_conn_id="budget_cluster"
    )

    with pytest.raises(MoveworksValidationError, match="is a Redis Cluster; the budget is one key"):
        operator.execute({})
    assert emulator.request_count() == 0
