"""The example DAGs: they parse cleanly without touching a connection or the network, and each
runs to success under ``dag.test()`` leaving the emulator in exactly the state it promises."""

from __future__ import annotations

import csv
import json
import socket
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from airflow_provider_moveworks.version_compat import AIRFLOW_V_3_0_PLUS, BaseHook, DagBag
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.integration

EXAMPLE_DAGS = REPO_ROOT / "example_dags"


def test_every_example_dag_parses_without_a_connection_lookup_or_network(dags_folder, mocker) -> None:
    lookup = mocker.patch.object(
        BaseHook, "get_connection", side_effect=AssertionError("connection looked up")
    )
    connect = mocker.patch.object(
        socket.socket, "connect", side_effect=AssertionError("network at parse time")
    )

    bag = DagBag(dag_folder=str(EXAMPLE_DAGS))

    assert bag.import_errors == {}
    expected = {path.stem for path in EXAMPLE_DAGS.glob("example_*.py")}
    assert set(bag.dag_ids) == expected
    lookup.assert_not_called()
    connect.assert_not_called()


def test_update_conversation_example_changes_only_the_given_fields(load_dag, emulator_connection) -> None:
    emu = emulator_connection
    target = emu.add_conversation(title="Printer jam", archived=False)
    bystander = emu.add_conversation(title="Untouched")

    run = load_dag("example_moveworks_update_conversation").test(
        run_conf={"conversation_id": target["conversation_id"], "archived": True}
    )

    assert str(run.state) == "success"
    after = emu.get(target["conversation_id"])
    assert (after["title"], after["archived"]) == ("Printer jam", True)
    assert emu.get(bystander["conversation_id"]) == bystander
    assert emu.request_count(method="PATCH") == 1


def test_retitle_from_csv_example_retitles_every_listed_conversation(
    load_dag, emulator_connection, tmp_path: Path
) -> None:
    emu = emulator_connection
    listed = [emu.add_conversation(title=f"Ticket {n}") for n in range(3)]
    other = emu.add_conversation(title="Not in the file")
    csv_path = tmp_path / "titles.csv"
    lines = ["conversation_id,title"] + [
        f"{c['conversation_id']},INC-{n} laptop" for n, c in enumerate(listed)
    ]
    lines.append("conv_doesNotExist0000000000,Gone")
    csv_path.write_text("\n".join(lines) + "\n")

    run = load_dag("example_moveworks_retitle_from_csv").test(run_conf={"csv_path": str(csv_path)})

    assert str(run.state) == "success"
    assert [emu.get(c["conversation_id"])["title"] for c in listed] == [
        "INC-0 laptop",
        "INC-1 laptop",
        "INC-2 laptop",
    ]
    assert emu.get(other["conversation_id"]) == other
    assert emu.request_count(method="PATCH", status=200) == 3
    assert emu.request_count(method="PATCH", status=404) == 1


def test_retitle_from_csv_example_reads_a_spreadsheets_utf8_export_with_its_byte_order_mark(
    load_dag, emulator_connection, tmp_path
) -> None:
    """Excel's "CSV UTF-8" starts the file with a byte-order mark; the header must still read as
    ``conversation_id``, not as every row missing its id."""
    emu = emulator_connection
    target = emu.add_conversation(title="Before")
    csv_path = tmp_path / "titles.csv"
    csv_path.write_text(f"conversation_id,title\r\n{target['conversation_id']},Café menu\r\n", "utf-8-sig")

    run = load_dag("example_moveworks_retitle_from_csv").test(run_conf={"csv_path": str(csv_path)})

    assert str(run.state) == "success"
    assert emu.get(target["conversation_id"])["title"] == "Café menu"


def test_retitle_from_csv_example_sends_template_syntax_in_a_title_as_written(
    load_dag, emulator_connection, tmp_path
) -> None:
    """Airflow renders what expand_kwargs maps as Jinja: a title in the file must not run as a
    template (it would put any connection's password into a conversation title)."""
    emu = emulator_connection
    secret, sum_ = emu.add_conversation(title="a"), emu.add_conversation(title="b")
    titles = ["{{ conn.moveworks_default.password }}", "{{ 7*7 }} {% if true %}x{% endif %}"]
    csv_path = tmp_path / "titles.csv"
    csv_path.write_text(
        "conversation_id,title\n"
        f"{secret['conversation_id']},{titles[0]}\n{sum_['conversation_id']},{titles[1]}\n"
    )

    run = load_dag("example_moveworks_retitle_from_csv").test(run_conf={"csv_path": str(csv_path)})

    assert str(run.state) == "success"
    assert [emu.get(c["conversation_id"])["title"] for c in (secret, sum_)] == titles
    assert emu.request_count(method="PATCH", status=200) == 2


def test_retitle_from_csv_example_refuses_two_titles_for_one_conversation(
    load_dag, emulator_connection, tmp_path
) -> None:
    """Two mapped updates of one conversation would race, and whichever lands last would win."""
    emu = emulator_connection
    target = emu.add_conversation(title="Before")
    other = emu.add_conversation(title="Other")
    cid = target["conversation_id"]
    csv_path = tmp_path / "titles.csv"
    csv_path.write_text(
        f"conversation_id,title\n{cid},First\n{other['conversation_id']},Fine\n{cid},Second\n"
    )

    run = load_dag("example_moveworks_retitle_from_csv").test(run_conf={"csv_path": str(csv_path)})

    assert str(run.state) == "failed"
    assert emu.get(cid)["title"] == "Before"
    assert emu.request_count() == 0


def test_retitle_from_csv_example_reports_an_empty_file(
    load_dag, emulator_connection, tmp_path, capfd
) -> None:
    """A header-only CSV maps no update; the report still runs and says so, instead of being
    skipped along with the zero mapped tasks."""
    csv_path = tmp_path / "titles.csv"
    csv_path.write_text("conversation_id,title\n")

    run = load_dag("example_moveworks_retitle_from_csv").test(run_conf={"csv_path": str(csv_path)})

    assert str(run.state) == "success"
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert states["report"] == "success"
    assert "Retitled 0 of 0 conversations (0 not found)" in capfd.readouterr().out
    assert emulator_connection.request_count() == 0


def test_retitle_from_csv_example_sends_nothing_when_a_row_is_invalid(
    load_dag, emulator_connection, tmp_path
) -> None:
    emu = emulator_connection
    good = emu.add_conversation(title="Before")
    csv_path = tmp_path / "titles.csv"
    csv_path.write_text(f"conversation_id,title\n{good['conversation_id']},After\nconv_bad/../x,Oops\n")

    run = load_dag("example_moveworks_retitle_from_csv").test(run_conf={"csv_path": str(csv_path)})

    assert str(run.state) == "failed"
    assert emu.get(good["conversation_id"])["title"] == "Before"
    assert emu.request_count() == 0


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        # An unquoted comma: the title would have been cut at it, silently.
        ("{cid},Laptop refresh, design team", "row 1 has 3 cells, the header has 2"),
        ('{cid},"Laptop refresh', "row 1, the first record after line 1, is not valid CSV"),
    ],
)
def test_retitle_from_csv_example_refuses_a_row_it_cannot_read_whole(
    load_dag, emulator_connection, tmp_path, capfd, row, problem
) -> None:
    emu = emulator_connection
    target = emu.add_conversation(title="Before")
    csv_path = tmp_path / "titles.csv"
    csv_path.write_text("conversation_id,title\n" + row.format(cid=target["conversation_id"]) + "\n")

    run = load_dag("example_moveworks_retitle_from_csv").test(run_conf={"csv_path": str(csv_path)})

    assert str(run.state) == "failed"
    assert problem in capfd.readouterr().out
    assert emu.get(target["conversation_id"])["title"] == "Before"
    assert emu.request_count() == 0


def test_archive_stale_example_archives_exactly_the_old_unarchived_ones(
    load_dag, emulator_connection, tmp_path
) -> None:
    emu = emulator_connection
    now = datetime.now(timezone.utc)
    old = [emu.add_conversation(title=f"Old {n}", updated_at=now - timedelta(days=91 + n)) for n in range(4)]
    recent = [
        emu.add_conversation(title=f"New {n}", updated_at=now - timedelta(days=89 - n)) for n in range(3)
    ]
    archived_long_ago = emu.add_conversation(
        title="Done", archived=True, updated_at=now - timedelta(days=300)
    )
    untouched = {c["conversation_id"]: c for c in [*recent, archived_long_ago]}

    run = load_dag("example_moveworks_archive_stale_conversations").test(
        run_conf={"max_age_days": 90, "work_dir": tmp_path.as_uri()}
    )

    assert str(run.state) == "success"
    state = emu.conversations()
    assert [state[c["conversation_id"]]["archived"] for c in old] == [True] * 4
    assert {cid: state[cid] for cid in untouched} == untouched
    assert emu.request_count(method="PATCH") == 4
    (audit,) = tmp_path.glob("*/audit.csv")
    rows = list(csv.DictReader(audit.open()))
    assert sorted((r["conversation_id"], r["title"], r["outcome"]) for r in rows) == sorted(
        (c["conversation_id"], c["title"], "updated") for c in old
    )


def test_archive_stale_example_previews_with_the_dry_run_param_and_changes_nothing(
    load_dag, emulator_connection, tmp_path
) -> None:
    emu = emulator_connection
    now = datetime.now(timezone.utc)
    old = [emu.add_conversation(title=f"Old {n}", updated_at=now - timedelta(days=91 + n)) for n in range(3)]
    before = emu.conversations()

    # A DAG object of its own: dag.test() writes run_conf into the Param objects of the tasks it
    # runs (in-process), and later tests run the session's shared DAG object.
    path = EXAMPLE_DAGS / "example_moveworks_archive_stale_conversations.py"
    dag = DagBag(dag_folder=str(path)).get_dag("example_moveworks_archive_stale_conversations")
    run = dag.test(run_conf={"max_age_days": 90, "work_dir": tmp_path.as_uri(), "dry_run": True})

    assert str(run.state) == "success"
    assert emu.conversations() == before
    assert emu.request_count(method="PATCH") == 0
    (audit,) = tmp_path.glob("*/audit.csv")
    rows = list(csv.DictReader(audit.open()))
    assert sorted((r["conversation_id"], r["outcome"]) for r in rows) == sorted(
        (c["conversation_id"], "would_update") for c in old
    )


@pytest.mark.skipif(not AIRFLOW_V_3_0_PLUS, reason="asset events are Airflow 3 only")
def test_the_digest_example_reads_the_counts_of_the_stale_archive_s_asset_event(
    load_dag, emulator_connection, tmp_path
) -> None:
    emu = emulator_connection
    now = datetime.now(timezone.utc)
    for n in range(2):
        emu.add_conversation(title=f"Old {n}", updated_at=now - timedelta(days=120 + n))
    archive = load_dag("example_moveworks_archive_stale_conversations").test(
        run_conf={"max_age_days": 90, "work_dir": (tmp_path / "work").as_uri()}
    )
    assert str(archive.state) == "success"

    digest = load_dag("example_moveworks_archive_digest").test(
        run_conf={"digest_dir": (tmp_path / "digest").as_uri()}
    )

    assert str(digest.state) == "success"
    (written,) = (tmp_path / "digest").glob("*.json")
    (line,) = json.loads(written.read_text())
    assert line["conversations"].startswith("moveworks://127.0.0.1:")
    assert line["changed_by"].startswith("example_moveworks_archive_stale_conversations/archive (")
    assert {k: line[k] for k in ("updated", "not_found", "failed", "unchanged")} == {
        "updated": 2,
        "not_found": 0,
        "failed": 0,
        "unchanged": 0,
    }


@pytest.mark.skipif(not AIRFLOW_V_3_0_PLUS, reason="asset events are Airflow 3 only")
def test_the_digest_example_counts_an_event_through_the_alias_once(load_dag, tmp_path) -> None:
    """Triggered by the asset, Airflow lists each event under its alias and again under its asset:
    the digest must count it once (it counted every archive twice on a real deployment)."""
    from airflow.sdk.execution_time.comms import AssetEventDagRunReferenceResult
    from airflow.sdk.execution_time.context import TriggeringAssetEventsAccessor

    counts = {"updated": 107, "not_found": 0, "failed": 0, "unchanged": 0}
    event = AssetEventDagRunReferenceResult.model_validate(
        {
            "asset": {"name": "moveworks://h/a", "uri": "moveworks://h/a", "extra": {}},
            "extra": counts,
            "source_task_id": "archive",
            "source_dag_id": "example_moveworks_archive_stale_conversations",
            "source_run_id": "r1",
            "source_map_index": -1,
            "source_aliases": [{"name": "moveworks-conversations:moveworks_default"}],
            "timestamp": datetime.now(timezone.utc),
        }
    )
    digest = load_dag("example_moveworks_archive_digest").get_task("digest")

    result = digest.python_callable(
        params={"digest_dir": tmp_path.as_uri()},
        run_id="asset_triggered__1",
        triggering_asset_events=TriggeringAssetEventsAccessor.build([event]),
        inlet_events=None,
    )

    assert (result["events"], result["updated"]) == (1, 107)
    (line,) = json.loads((tmp_path / "asset_triggered__1.json").read_text())
    assert line["changed_by"] == "example_moveworks_archive_stale_conversations/archive (r1)"


def test_archive_stale_example_succeeds_when_nothing_is_stale(
    load_dag, emulator_connection, tmp_path
) -> None:
    emu = emulator_connection
    fresh = emu.add_conversation(title="Fresh")
    run = load_dag("example_moveworks_archive_stale_conversations").test(
        run_conf={"max_age_days": 30, "work_dir": tmp_path.as_uri()}
    )
    assert str(run.state) == "success"
    assert emu.get(fresh["conversation_id"]) == fresh
    assert emu.request_count(method="PATCH") == 0


def test_update_conversation_example_leaves_archived_unchanged_by_default(
    load_dag, emulator_connection
) -> None:
    emu = emulator_connection
    target = emu.add_conversation(title="Printer jam", archived=False)

    # What the trigger form sends when only the title is filled in.
    run = load_dag("example_moveworks_update_conversation").test(
        run_conf={
            "conversation_id": target["conversation_id"],
            "title": "Printer fixed",
            "archived": "unchanged",
        }
    )

    assert str(run.state) == "success"
    assert emu.request_count(method="PATCH") == 1
    after = emu.get(target["conversation_id"])
    assert (after["title"], after["archived"]) == ("Printer fixed", False)


@pytest.mark.parametrize(("choice", "archived"), [(True, True), (False, False)])
def test_update_conversation_example_archives_or_unarchives(
    load_dag, emulator_connection, choice, archived
) -> None:
    emu = emulator_connection
    target = emu.add_conversation(title="Keep", archived=not archived)
    run = load_dag("example_moveworks_update_conversation").test(
        run_conf={"conversation_id": target["conversation_id"], "archived": choice}
    )
    assert str(run.state) == "success"
    assert emu.get(target["conversation_id"])["archived"] is archived


def test_update_conversation_example_form_spells_out_every_choice(load_dag) -> None:
    params = load_dag("example_moveworks_update_conversation").params
    archived = params.get_param("archived")
    assert archived.value == "unchanged"
    assert archived.schema["enum"] == ["unchanged", True, False]
    assert archived.schema["values_display"] == {
        "unchanged": "leave unchanged",
        "true": "archive",
        "false": "unarchive",
    }
    with pytest.raises(Exception, match="conversation_id"):
        params.validate()  # no conversation id: the form refuses to start the run


def test_update_conversation_example_with_nothing_to_change_sends_nothing(
    load_dag, emulator_connection
) -> None:
    emu = emulator_connection
    target = emu.add_conversation(title="Same")
    # What the trigger form sends when nothing but the id is filled in.
    run = load_dag("example_moveworks_update_conversation").test(
        run_conf={"conversation_id": target["conversation_id"], "title": None, "archived": "unchanged"}
    )
    assert str(run.state) == "failed"
    assert emu.request_count() == 0
    assert emu.get(target["conversation_id"]) == target


def test_archive_stale_example_audit_never_holds_a_spreadsheet_formula(
    load_dag, emulator_connection, tmp_path
) -> None:
    emu = emulator_connection
    old = datetime.now(timezone.utc) - timedelta(days=200)
    titles = ['=HYPERLINK("http://x.example/","click")', "+1", "-2", "@SUM(A1)", "Plain = fine"]
    for title in titles:
        emu.add_conversation(title=title, updated_at=old)

    run = load_dag("example_moveworks_archive_stale_conversations").test(
        run_conf={"max_age_days": 90, "work_dir": tmp_path.as_uri()}
    )

    assert str(run.state) == "success"
    (audit,) = tmp_path.glob("*/audit.csv")
    shown = sorted(row["title"] for row in csv.DictReader(audit.open()))
    assert shown == sorted(
        ['\'=HYPERLINK("http://x.example/","click")', "'+1", "'-2", "'@SUM(A1)", "Plain = fine"]
    )


def test_archive_stale_example_audit_keeps_titles_whole_and_guards_hidden_formula_starts(
    load_dag, emulator_connection, tmp_path
) -> None:
    """A carriage return survives the trip through ``selected.csv`` (so a title starting with one
    is guarded as promised), and formulas behind leading blanks or in full-width forms are guarded
    too: spreadsheets that trim cells or fold full-width signs would otherwise run them."""
    emu = emulator_connection
    old = datetime.now(timezone.utc) - timedelta(days=200)
    titles = ["\r=1+1", "line\rbreak", "two\r\nlines", " =1+1", "\n=1+1", "\uff1d1+1", "\uff0b1", "Plain"]
    for title in titles:
        emu.add_conversation(title=title, updated_at=old)

    run = load_dag("example_moveworks_archive_stale_conversations").test(
        run_conf={"max_age_days": 90, "work_dir": tmp_path.as_uri()}
    )

    assert str(run.state) == "success"
    (audit,) = tmp_path.glob("*/audit.csv")
    with audit.open(newline="") as handle:
        shown = sorted(row["title"] for row in csv.DictReader(handle))
    assert shown == sorted(
        ["'\r=1+1", "line\rbreak", "two\r\nlines", "' =1+1", "'\n=1+1", "'\uff1d1+1", "'\uff0b1", "Plain"]
    )


def test_example_dags_import_airflow_names_as_a_users_dag_does() -> None:
    import ast

    for path in EXAMPLE_DAGS.glob("example_*.py"):
        imported = {
            node.module
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.ImportFrom) and node.module
        }
        assert "airflow.providers.common.compat.sdk" in imported, path.name
        assert "airflow_provider_moveworks.version_compat" not in imported, path.name


def _archive_stale_module():
    """The stale-archive example DAG file, imported as a module (its helpers are plain functions)."""
    import importlib.util

    path = EXAMPLE_DAGS / "example_moveworks_archive_stale_conversations.py"
    spec = importlib.util.spec_from_file_location("example_archive_stale_under_test", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


NOON = datetime(2026, 1, 2, 12, 0, 0, tzinfo=timezone.utc)
NOON_EPOCH = int(NOON.timestamp())


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-01-02T12:00:00Z", NOON),
        ("2026-01-02T12:00:00z", NOON),
        ("2026-01-02T12:00:00.000000Z", NOON),
        ("2026-01-02T12:00:00", NOON),  # naive: UTC
        ("2026-01-02 12:00:00", NOON),
        ("2026-01-02T14:00:00+02:00", NOON),
        (" 2026-01-02T12:00:00Z ", NOON),
        (NOON_EPOCH, NOON),  # epoch seconds
        (float(NOON_EPOCH) + 0.5, NOON + timedelta(milliseconds=500)),
        (str(NOON_EPOCH), NOON),
        (NOON_EPOCH * 1000, NOON),  # epoch milliseconds: clearly not seconds (year 58,000)
        (str(NOON_EPOCH * 1000), NOON),
    ],
)
def test_archive_stale_example_reads_timestamps_leniently(value, expected) -> None:
    parsed = _archive_stale_module().parse_updated_at(value)

    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "value",
    [None, "", "yesterday", "2026-13-45T00:00:00Z", True, float("nan"), float("inf"), 1e300, {"at": 1}, []],
)
def test_archive_stale_example_says_which_timestamps_it_cannot_read(value) -> None:
    assert _archive_stale_module().parse_updated_at(value) is None


def _odd_timestamps(monkeypatch, replaced: dict[str, object]) -> None:
    """The hook's listing answers ``replaced[id]`` as the ``updated_at`` of those conversations
    (the emulator always sends ISO 8601 with ``Z``); a key ``"fail_after"`` ends the listing with
    an error after that many conversations."""
    from airflow_provider_moveworks.hooks.moveworks import MoveworksHook

    original = MoveworksHook.list_conversations
    fail_after = replaced.pop("fail_after", None)

    def listing(self, *args, **kwargs):
        for number, conversation in enumerate(original(self, *args, **kwargs)):
            if fail_after is not None and number == fail_after:
                raise ConnectionError("the listing broke off")
            cid = conversation["conversation_id"]
            yield {**conversation, "updated_at": replaced[cid]} if cid in replaced else conversation

    monkeypatch.setattr(MoveworksHook, "list_conversations", listing)


def test_archive_stale_example_archives_rows_with_odd_timestamps_and_skips_unreadable_ones(
    load_dag, emulator_connection, tmp_path, monkeypatch, capfd, caplog
) -> None:
    emu = emulator_connection
    now = datetime.now(timezone.utc)
    old, recent = now - timedelta(days=200), now - timedelta(days=10)
    odd = {
        "naive": old.replace(tzinfo=None).isoformat(),
        "lower-z": old.strftime("%Y-%m-%dT%H:%M:%S.%fz"),
        "epoch-seconds": int(old.timestamp()),
        "epoch-millis": int(old.timestamp() * 1000),
        "recent-naive": recent.replace(tzinfo=None).isoformat(),
        "unreadable": "last Tuesday",
    }
    ids = {name: emu.add_conversation(title=name, updated_at=old)["conversation_id"] for name in odd}
    _odd_timestamps(monkeypatch, {ids[name]: value for name, value in odd.items()})

    run = load_dag("example_moveworks_archive_stale_conversations").test(
        run_conf={"max_age_days": 90, "work_dir": tmp_path.as_uri()}
    )

    captured = capfd.readouterr()
    log = captured.out + captured.err
    assert str(run.state) == "success", log[-3000:]
    state = emu.conversations()
    archived = {name for name, cid in ids.items() if state[cid]["archived"]}
    assert archived == {"naive", "lower-z", "epoch-seconds", "epoch-millis"}
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert (
        f"Skipped conversation {ids['unreadable']}: its updated_at 'last Tuesday' is not a timestamp"
        in warnings
    )
    assert "Selected 4 of 6 unarchived conversations" in log
    assert "1 skipped: updated_at unreadable" in log
    (selected,) = tmp_path.glob("*/selected.csv")
    assert len(list(csv.DictReader(selected.open()))) == 4


def test_archive_stale_example_leaves_no_partial_file_when_the_selection_fails(
    load_dag, emulator_connection, tmp_path, monkeypatch
) -> None:
    emu = emulator_connection
    old = datetime.now(timezone.utc) - timedelta(days=200)
    for n in range(5):
        emu.add_conversation(title=f"Old {n}", updated_at=old)
    _odd_timestamps(monkeypatch, {"fail_after": 3})

    run = load_dag("example_moveworks_archive_stale_conversations").test(
        run_conf={"max_age_days": 90, "work_dir": tmp_path.as_uri()}
    )

    assert str(run.state) == "failed"
    assert emu.request_count(method="PATCH") == 0
    left = [p.name for p in tmp_path.rglob("*") if p.is_file()]
    assert left == []  # neither half an updates.jsonl or selected.csv, nor a temporary file


def test_archive_stale_example_replaces_an_earlier_selection_whole(
    load_dag, emulator_connection, tmp_path
) -> None:
    emu = emulator_connection
    old = datetime.now(timezone.utc) - timedelta(days=200)
    target = emu.add_conversation(title="Old", updated_at=old)

    first = load_dag("example_moveworks_archive_stale_conversations").test(
        run_conf={"max_age_days": 90, "work_dir": tmp_path.as_uri()}
    )

    assert str(first.state) == "success"
    assert emu.get(target["conversation_id"])["archived"] is True
    files = sorted(p.name for p in tmp_path.rglob("*") if p.is_file())
    assert files == ["audit.csv", "report.jsonl", "selected.csv", "updates.jsonl"]  # no temporary left
