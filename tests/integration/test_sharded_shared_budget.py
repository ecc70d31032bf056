"""The sharded-archive example with a rate budget shared through Redis
(``MOVEWORKS_RATE_LIMIT_CONN_ID``), and its static split without one."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import fakeredis
import pytest

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).parents[2] / "example_dags" / "example_moveworks_sharded_archive.py"


def split_task(monkeypatch: pytest.MonkeyPatch, conn_id: str | None) -> Any:
    """The example's split_export, its file parsed with the deployment setting given."""
    if conn_id is None:
        monkeypatch.delenv("MOVEWORKS_RATE_LIMIT_CONN_ID", raising=False)
    else:
        monkeypatch.setenv("MOVEWORKS_RATE_LIMIT_CONN_ID", conn_id)
    monkeypatch.setenv("MOVEWORKS_ACCOUNT_REQUESTS_PER_SECOND", "200")
    monkeypatch.setenv("MOVEWORKS_POOL_SLOTS", "4")
    spec = importlib.util.spec_from_file_location("sharded_example_budget", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


def split(dag: Any, tmp_path: Path, **params: Any) -> list[dict[str, Any]]:
    export = tmp_path / "export.jsonl"
    export.write_text(json.dumps({"conversation_id": "conv_a", "archived": True}) + "\n")
    params = {"export": export.as_uri(), "work_dir": (tmp_path / "work").as_uri(), "shards": 2, **params}
    shards: list[dict[str, Any]] = dag.get_task("split_export").python_callable(params=params, run_id="r")
    return shards


def pacing(shard: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in shard.items() if key not in ("updates_file", "report_file")}


def test_with_a_redis_connection_the_shards_share_the_whole_limit(monkeypatch, tmp_path):
    dag = split_task(monkeypatch, "budget_redis")

    assert dag.params["shared_budget"] is True
    shards = split(dag, tmp_path, shared_budget=True)
    assert [pacing(shard) for shard in shards] == [
        {
            "rate_limit_conn_id": "budget_redis",
            "rate_limit_requests_per_second": 200.0,
            "fallback_requests_per_second": 50.0,
        }
    ] * 2


def test_the_param_turns_the_shared_budget_off_for_one_run(monkeypatch, tmp_path):
    dag = split_task(monkeypatch, "budget_redis")

    shards = split(dag, tmp_path, shared_budget=False)
    assert [pacing(shard) for shard in shards] == [{"max_requests_per_second": 50.0}] * 2


def test_without_a_redis_connection_the_static_split_stays(monkeypatch, tmp_path):
    dag = split_task(monkeypatch, None)

    assert dag.params["shared_budget"] is False
    assert [pacing(shard) for shard in split(dag, tmp_path)] == [{"max_requests_per_second": 50.0}] * 2
    with pytest.raises(Exception, match="MOVEWORKS_RATE_LIMIT_CONN_ID names no Redis connection") as raised:
        split(dag, tmp_path, shared_budget=True)
    assert type(raised.value).__name__ == "AirflowFailException"


def test_shards_of_a_dag_run_take_their_permits_from_one_budget(
    load_dag, monkeypatch, mocker, tmp_path, emulator_connection
):
    emu = emulator_connection
    server = fakeredis.FakeServer()
    monkeypatch.setenv("AIRFLOW_CONN_BUDGET_REDIS", "redis://127.0.0.1:1/0")
    mocker.patch(
        "airflow.providers.redis.hooks.redis.RedisHook.get_conn",
        side_effect=lambda: fakeredis.FakeRedis(server=server),
    )
    from airflow_provider_moveworks.version_compat import DagBag

    split_task(monkeypatch, "budget_redis")  # sets the deployment settings
    bag = DagBag(dag_folder=str(EXAMPLE))  # parsed as the scheduler would, with them
    dag = bag.get_dag("example_moveworks_sharded_archive")
    ids = [emu.add_conversation(title=f"Old {n}")["conversation_id"] for n in range(20)]
    export = tmp_path / "export.jsonl"
    export.write_text("".join(json.dumps({"conversation_id": c, "archived": True}) + "\n" for c in ids))

    run = dag.test(
        run_conf={"export": export.as_uri(), "work_dir": (tmp_path / "work").as_uri(), "shards": 2}
    )

    assert str(run.state) == "success"
    (folder,) = (tmp_path / "work").iterdir()
    assert json.loads((folder / "summary.json").read_text())["updated"] == 20
    assert all(conversation["archived"] for conversation in emu.conversations().values())
    budget = fakeredis.FakeRedis(server=server)
    (key,) = budget.keys("moveworks:rate-budget:*")
    assert float(budget.hget(key, "rate")) == 200.0
