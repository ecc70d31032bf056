"""The sharded-archive example DAG under ``dag.test()``: the export split by conversation, one bulk
task per shard, and one summary that counts every row of the export exactly once."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

DAG_ID = "example_moveworks_sharded_archive"


def report_rows(folder: Path) -> list[dict]:
    return [json.loads(line) for path in sorted(folder.glob("report-*.jsonl")) for line in path.open()]


def test_every_row_of_a_jsonl_export_is_applied_and_counted_once(load_dag, emulator_connection, tmp_path):
    emu = emulator_connection
    conversations = [emu.add_conversation(title=f"Old {n}") for n in range(40)]
    before = emu.conversations()
    rows = [
        {"conversation_id": c["conversation_id"], "archived": True, "title": f"New {n}"}
        for n, c in enumerate(conversations)
    ]
    rows.append(dict(rows[3]))  # the same change again: a duplicate, sent once
    rows.append({"conversation_id": "conv_doesNotExist0000000000", "archived": True})
    export = tmp_path / "export.jsonl"
    export.write_text("\n".join(json.dumps(row) for row in rows) + "\n\n")

    run = load_dag(DAG_ID).test(
        run_conf={"export": export.as_uri(), "work_dir": (tmp_path / "work").as_uri(), "shards": 3}
    )

    assert str(run.state) == "success"
    (folder,) = (tmp_path / "work").iterdir()
    summary = json.loads((folder / "summary.json").read_text())
    assert {key: summary[key] for key in ("total", "updated", "not_found", "failed", "invalid")} == {
        "total": 42,
        "updated": 40,
        "not_found": 1,
        "failed": 0,
        "invalid": 0,
    }
    assert (summary["duplicates"], summary["shards"]) == (1, 3)
    reported = report_rows(folder)
    assert len(reported) == 42
    assert sorted(row["conversation_id"] for row in reported) == sorted(
        row["conversation_id"] for row in rows
    )
    # Every shard got rows, and a conversation's rows stayed together in one shard.
    shard_ids = [
        [json.loads(line)["conversation_id"] for line in path.open()]
        for path in sorted(folder.glob("shard-*.jsonl"))
    ]
    assert all(shard_ids)
    assert (
        shard_ids[[conversations[3]["conversation_id"] in ids for ids in shard_ids].index(True)].count(
            conversations[3]["conversation_id"]
        )
        == 2
    )
    after = emu.conversations()
    titles = {c["conversation_id"]: f"New {n}" for n, c in enumerate(conversations)}
    assert after == {
        cid: {**c, "title": titles[cid], "archived": True, "updated_at": after[cid]["updated_at"]}
        for cid, c in before.items()
    }
    assert emu.request_count(method="PATCH", status=200) == 40


def test_a_csv_export_keeps_its_header_and_quoted_fields(load_dag, emulator_connection, tmp_path):
    emu = emulator_connection
    ids = [emu.add_conversation(title=f"Old {n}")["conversation_id"] for n in range(6)]
    export = tmp_path / "export.csv"
    # Columns in another order, and titles holding the delimiter and quotes.
    export.write_text(
        "archived,title,conversation_id\n"
        + "".join(f'true,"Laptop, ""urgent"" {n}",{cid}\n' for n, cid in enumerate(ids))
    )

    run = load_dag(DAG_ID).test(
        run_conf={"export": export.as_uri(), "work_dir": (tmp_path / "work").as_uri(), "shards": 2}
    )

    assert str(run.state) == "success"
    state = emu.conversations()
    assert [(state[cid]["title"], state[cid]["archived"]) for cid in ids] == [
        (f'Laptop, "urgent" {n}', True) for n in range(6)
    ]
    (folder,) = (tmp_path / "work").iterdir()
    assert json.loads((folder / "summary.json").read_text())["updated"] == 6
    shard_ids = [
        {record[2] for record in list(csv.reader(path.open(newline="")))[1:]}
        for path in sorted(folder.glob("shard-*.csv"))
    ]
    assert len(shard_ids) == 2
    assert shard_ids[0] | shard_ids[1] == set(ids)
    assert not shard_ids[0] & shard_ids[1]


@pytest.mark.parametrize(
    ("title", "state", "stored"),
    [
        # A quoted blank at the start is the title's own: written unquoted into a shard, the
        # shard's reader skipped it as the blank after a comma.
        ('" lead"', "success", " lead"),
        # Blank only: the bulk operator refuses it, but in a shard it became an empty cell,
        # which archived the row and left its title alone.
        ('"   "', "failed", "Old"),
    ],
)
def test_a_csv_title_means_through_the_shards_what_it_means_to_the_bulk_operator(
    load_dag, emulator_connection, tmp_path, title, state, stored
):
    emu = emulator_connection
    cid = emu.add_conversation(title="Old")["conversation_id"]
    export = tmp_path / "export.csv"
    export.write_text(f"conversation_id,title,archived\n{cid}, {title}, true\n")

    run = load_dag(DAG_ID).test(
        run_conf={"export": export.as_uri(), "work_dir": (tmp_path / "work").as_uri(), "shards": 1}
    )

    assert str(run.state) == state
    assert (emu.get(cid)["title"], emu.get(cid)["archived"]) == (stored, state == "success")


def test_the_run_fails_when_one_shard_fails(load_dag, emulator_connection, tmp_path):
    emu = emulator_connection
    ids = [emu.add_conversation(title=f"Old {n}")["conversation_id"] for n in range(12)]
    rows = [{"conversation_id": cid, "archived": True} for cid in ids]
    rows.append({"conversation_id": "conv_bad/../x", "archived": True})  # invalid: its shard sends nothing
    export = tmp_path / "export.jsonl"
    export.write_text("".join(json.dumps(row) + "\n" for row in rows))

    run = load_dag(DAG_ID).test(
        run_conf={"export": export.as_uri(), "work_dir": (tmp_path / "work").as_uri(), "shards": 3}
    )

    assert str(run.state) == "failed"
    states = {(ti.task_id, ti.map_index): str(ti.state) for ti in run.get_task_instances()}
    assert sorted(states.values()).count("failed") == 2  # the invalid row's shard, then combine
    assert states[("combine", -1)] == "failed"
    (folder,) = (tmp_path / "work").iterdir()
    assert not (folder / "summary.json").exists()
    # The other shards still applied their rows.
    updated = emu.request_count(method="PATCH", status=200)
    assert 0 < updated < 12


def test_a_csv_header_with_spaces_shards_by_the_conversation_id_column(
    load_dag, emulator_connection, tmp_path
):
    # The bulk operator reads " conversation_id" as conversation_id: the split must too, or it
    # shards by another column and one conversation's conflicting rows land in different shards.
    emu = emulator_connection
    cid = emu.add_conversation(title="Old")["conversation_id"]
    export = tmp_path / "export.csv"
    export.write_text(f"title, conversation_id\nAlpha,{cid}\nBeta,{cid}\n")

    run = load_dag(DAG_ID).test(
        run_conf={"export": export.as_uri(), "work_dir": (tmp_path / "work").as_uri(), "shards": 4}
    )

    assert str(run.state) == "failed"  # the conflicting rows are invalid, found in one shard
    (folder,) = (tmp_path / "work").iterdir()
    shard_rows = [len(path.read_text().splitlines()) - 1 for path in sorted(folder.glob("shard-*.csv"))]
    assert sorted(shard_rows) == [0, 0, 0, 2]
    assert emu.request_count(method="PATCH") == 0


def test_a_jsonl_export_without_extension_starting_with_a_blank_line_is_read_as_jsonl(
    load_dag, emulator_connection, tmp_path
):
    emu = emulator_connection
    ids = [emu.add_conversation(title=f"Old {n}")["conversation_id"] for n in range(5)]
    export = tmp_path / "export"
    export.write_text(
        "\n" + "".join(json.dumps({"conversation_id": cid, "archived": True}) + "\n" for cid in ids)
    )

    run = load_dag(DAG_ID).test(
        run_conf={"export": export.as_uri(), "work_dir": (tmp_path / "work").as_uri(), "shards": 2}
    )

    assert str(run.state) == "success"
    (folder,) = (tmp_path / "work").iterdir()
    summary = json.loads((folder / "summary.json").read_text())
    assert (summary["total"], summary["updated"]) == (5, 5)


def test_a_carriage_return_inside_a_jsonl_record_does_not_split_it(load_dag, emulator_connection, tmp_path):
    # A bare \r is JSON whitespace; only \n ends a JSON Lines record, as the bulk operator reads.
    emu = emulator_connection
    ids = [emu.add_conversation(title=f"Old {n}")["conversation_id"] for n in range(4)]
    export = tmp_path / "export.jsonl"
    export.write_bytes(
        "".join(f'{{"conversation_id": "{cid}",\r "archived": true}}\r\n' for cid in ids).encode()
    )

    run = load_dag(DAG_ID).test(
        run_conf={"export": export.as_uri(), "work_dir": (tmp_path / "work").as_uri(), "shards": 2}
    )

    assert str(run.state) == "success"
    (folder,) = (tmp_path / "work").iterdir()
    summary = json.loads((folder / "summary.json").read_text())
    assert (summary["total"], summary["updated"], summary["invalid"]) == (4, 4, 0)
    assert all(emu.get(cid)["archived"] is True for cid in ids)


def test_a_deeply_nested_jsonl_row_is_reported_invalid_not_a_crash(load_dag, emulator_connection, tmp_path):
    emu = emulator_connection
    cid = emu.add_conversation(title="Old")["conversation_id"]
    export = tmp_path / "export.jsonl"
    nested = '{"conversation_id": "conv_other", "title": ' + "[" * 100_000 + "]" * 100_000 + "}"
    export.write_text(json.dumps({"conversation_id": cid, "archived": True}) + "\n" + nested + "\n")

    run = load_dag(DAG_ID).test(
        run_conf={"export": export.as_uri(), "work_dir": (tmp_path / "work").as_uri(), "shards": 2}
    )

    # The bulk task of the nested row's shard rejects it; the split itself does not crash.
    states = {(ti.task_id, ti.map_index): str(ti.state) for ti in run.get_task_instances()}
    assert states[("split_export", -1)] == "success"
    (folder,) = (tmp_path / "work").iterdir()
    assert sum(len(path.read_text().splitlines()) for path in folder.glob("shard-*.jsonl")) == 2


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MOVEWORKS_POOL_SLOTS", "0"),
        ("MOVEWORKS_POOL_SLOTS", "abc"),
        ("MOVEWORKS_POOL_SLOTS", "-2"),
        ("MOVEWORKS_ACCOUNT_REQUESTS_PER_SECOND", "0"),
        ("MOVEWORKS_ACCOUNT_REQUESTS_PER_SECOND", "-1"),
        ("MOVEWORKS_ACCOUNT_REQUESTS_PER_SECOND", "x"),
        ("MOVEWORKS_ACCOUNT_REQUESTS_PER_SECOND", "nan"),
        ("MOVEWORKS_ACCOUNT_REQUESTS_PER_SECOND", "inf"),
        ("MOVEWORKS_POOL", ""),
        ("MOVEWORKS_POOL", " moveworks"),
    ],
)
def test_a_bad_deployment_setting_fails_the_run_naming_it_not_the_dag_import(
    airflow_db, monkeypatch, tmp_path, variable, value
):
    from airflow_provider_moveworks.version_compat import DagBag

    example = Path(__file__).parents[2] / "example_dags" / "example_moveworks_sharded_archive.py"
    monkeypatch.setenv(variable, value)
    bag = DagBag(dag_folder=str(example))
    assert bag.import_errors == {}
    split = bag.get_dag(DAG_ID).get_task("split_export")
    export = tmp_path / "export.jsonl"
    export.write_text("")
    params = {"export": export.as_uri(), "work_dir": (tmp_path / "work").as_uri(), "shards": 2}
    with pytest.raises(Exception, match=variable) as raised:
        split.python_callable(params=params, run_id="manual__1")
    assert type(raised.value).__name__ == "AirflowFailException"
    assert not (tmp_path / "work").exists()  # nothing written


@pytest.mark.parametrize("rows_before", [0, 2000])  # in the first line read, or far past it
def test_an_export_that_is_not_utf8_fails_the_split_saying_so(
    load_dag, emulator_connection, tmp_path, capfd, rows_before
):
    export = tmp_path / "export.csv"
    export.write_bytes(b"conversation_id,title\n" + b"conv_ok,Fine\n" * rows_before + b"conv_a1,Caf\xe9\n")

    run = load_dag(DAG_ID).test(
        run_conf={"export": export.as_uri(), "work_dir": (tmp_path / "work").as_uri(), "shards": 2}
    )

    assert str(run.state) == "failed"
    out = capfd.readouterr().out
    assert "is not UTF-8" in out
    assert "UnicodeDecodeError" not in out


def test_a_quote_left_open_fails_the_split_instead_of_swallowing_rows(
    load_dag, emulator_connection, tmp_path, capfd
):
    emu = emulator_connection
    first, second = (emu.add_conversation(title="Old")["conversation_id"] for _ in range(2))
    export = tmp_path / "export.csv"
    # The bulk operator rejects this file; split, it must not become one valid row with a long title.
    export.write_text(f'conversation_id,title\n{first},"Open quote\n{second},Other\n')

    run = load_dag(DAG_ID).test(
        run_conf={"export": export.as_uri(), "work_dir": (tmp_path / "work").as_uri(), "shards": 2}
    )

    assert str(run.state) == "failed"
    states = {(ti.task_id, ti.map_index): str(ti.state) for ti in run.get_task_instances()}
    assert states[("split_export", -1)] == "failed"
    assert "not valid CSV" in capfd.readouterr().out
    assert emu.request_count(method="PATCH") == 0


def test_the_most_shards_split_within_a_low_open_file_limit(tmp_path):
    import importlib.util
    import resource

    example = Path(__file__).parents[2] / "example_dags" / "example_moveworks_sharded_archive.py"
    spec = importlib.util.spec_from_file_location("sharded_example_under_test", example)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    split = module.dag.get_task("split_export")
    ids = [f"conv_{n:05d}" for n in range(3000)]
    export = tmp_path / "export.jsonl"
    export.write_text(
        "".join(json.dumps({"conversation_id": cid, "archived": True}) + "\n" for cid in ids * 2)
    )
    params = {"export": export.as_uri(), "work_dir": (tmp_path / "work").as_uri(), "shards": 1024}
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (512, hard))
    try:
        shards = split.python_callable(params=params, run_id="manual__1")
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    assert len(shards) == 1024
    seen: dict[str, int] = {}
    for n, shard in enumerate(shards):
        for line in Path(shard["updates_file"].removeprefix("file://")).read_text().splitlines():
            assert seen.setdefault(json.loads(line)["conversation_id"], n) == n  # one shard each
    assert sorted(seen) == ids
    assert (
        sum(len(Path(s["updates_file"].removeprefix("file://")).read_text().splitlines()) for s in shards)
        == 6000
    )
