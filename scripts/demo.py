"""`make demo`: the five example DAGs end to end on a real Airflow against a local Moveworks emulator.

Prepares a throwaway AIRFLOW_HOME with its SQLite database, starts the emulator with seed data,
points ``moveworks_default`` at it, runs each example DAG with ``airflow dags test``, prints what
changed, and ends with where to go next. The emulator stops however the demo ends; the exit status
is non-zero if any DAG failed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from airflow_provider_moveworks.emulator import MoveworksEmulator

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / ".demo"
API_KEY = "demo-api-key"
ASSISTANT = "demo-assistant"
MAX_AGE_DAYS = 90
SHARDS = 3
# What to read and run after the demo (README.md's "Your first DAG" starts the same emulator).
FIRST_EXAMPLE = "example_dags/example_moveworks_update_conversation.py"
EMULATOR_COMMAND = (
    ".venv/bin/python -m airflow_provider_moveworks.emulator "
    "--port 8787 --seed-conversations 2 --archived-share 0 --random-seed 1"
)
FIRST_DAG_DOCS = "README.md#your-first-dag"


def main() -> int:
    shutil.rmtree(WORK, ignore_errors=True)
    (WORK / "logs").mkdir(parents=True)
    with MoveworksEmulator(
        api_keys=(API_KEY,), assistant_name=ASSISTANT, seed_conversations=40, random_seed=2026
    ) as emulator:
        print(f"Moveworks emulator on {emulator.base_url} with {len(emulator.conversations())} conversations")
        env = airflow_env(emulator)
        airflow(["db", "migrate"], env, WORK / "logs" / "db-migrate.log")
        before = emulator.conversations()
        results = [run_dag(dag_id, conf, env) for dag_id, conf in plan(before)]
        after = emulator.conversations()
    print_changes(before, after)
    print_archive_check(before, after)
    failed = [dag_id for dag_id, ok in results if not ok]
    if failed:
        print(f"\nFAILED: {', '.join(failed)} (logs in {WORK / 'logs'})")
        return 1
    print(f"\nAll {len(results)} example DAGs succeeded.")
    print_next_steps()
    return 0


def airflow_env(emulator: MoveworksEmulator) -> dict[str, str]:
    connection = {
        "conn_type": "moveworks",
        "host": emulator.base_url,
        "password": API_KEY,
        "extra": {"assistant_name": ASSISTANT},
    }
    return {
        **os.environ,
        "AIRFLOW_HOME": str(WORK / "airflow-home"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "example_dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_CONN_MOVEWORKS_DEFAULT": json.dumps(connection),
    }


def plan(conversations: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """Which DAGs to run, with run configurations built from the seeded conversations."""
    recent = [c for c in conversations.values() if not c["archived"] and age_days(c) < MAX_AGE_DAYS]
    csv_path = WORK / "titles.csv"
    rows = [f"{c['conversation_id']},Renamed from CSV #{n}" for n, c in enumerate(recent[1:4], start=1)]
    csv_path.write_text("conversation_id,title\n" + "\n".join(rows) + "\n")
    export_path = WORK / "export.jsonl"
    export = [{"conversation_id": c["conversation_id"], "archived": True} for c in recent[4:10]]
    export_path.write_text("".join(json.dumps(row) + "\n" for row in export))
    return [
        (
            "example_moveworks_update_conversation",
            {"conversation_id": recent[0]["conversation_id"], "title": "Renamed by the demo"},
        ),
        ("example_moveworks_retitle_from_csv", {"csv_path": str(csv_path)}),
        (
            "example_moveworks_archive_stale_conversations",
            {"max_age_days": MAX_AGE_DAYS, "work_dir": (WORK / "archive").as_uri()},
        ),
        ("example_moveworks_archive_digest", {"digest_dir": (WORK / "digest").as_uri()}),
        (
            "example_moveworks_sharded_archive",
            {"export": export_path.as_uri(), "work_dir": (WORK / "sharded").as_uri(), "shards": SHARDS},
        ),
    ]


def run_dag(dag_id: str, conf: dict[str, Any], env: dict[str, str]) -> tuple[str, bool]:
    started = time.monotonic()
    ok = airflow(["dags", "test", dag_id, "-c", json.dumps(conf)], env, WORK / "logs" / f"{dag_id}.log")
    print(f"  {'ok    ' if ok else 'FAILED'} {dag_id} ({time.monotonic() - started:.1f} s)")
    return dag_id, ok


def airflow(args: list[str], env: dict[str, str], log: Path) -> bool:
    with log.open("w") as out:
        done = subprocess.run(  # noqa: S603 - our own fixed airflow command line
            [sys.executable, "-m", "airflow", *args], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    if done.returncode != 0:
        print(f"    last lines of {log}:")
        for line in log.read_text().splitlines()[-8:]:
            print(f"      {line[:160]}")
    return done.returncode == 0


def age_days(conversation: dict[str, Any]) -> float:
    updated = datetime.fromisoformat(conversation["updated_at"].replace("Z", "+00:00"))
    return (datetime.now(timezone.utc) - updated) / timedelta(days=1)


def print_changes(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> None:
    changed = [
        cid
        for cid in before
        if (before[cid]["title"], before[cid]["archived"]) != (after[cid]["title"], after[cid]["archived"])
    ]
    print(f"\nWhat changed in the emulator ({len(changed)} of {len(before)} conversations):")
    print(f"  {'conversation':<27} {'archived':<15} title")
    for cid in changed:
        old, new = before[cid], after[cid]
        archived = (
            f"{old['archived']} -> {new['archived']}"
            if old["archived"] != new["archived"]
            else str(new["archived"])
        )
        title = (
            f"{old['title']!r} -> {new['title']!r}" if old["title"] != new["title"] else repr(new["title"])
        )
        print(f"  {cid:<27} {archived:<15} {title}")


def print_archive_check(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> None:
    """Checked against the emulator, not the DAG's own report."""
    stale = [cid for cid, c in before.items() if not c["archived"] and age_days(c) > MAX_AGE_DAYS]
    archived = [cid for cid in stale if after[cid]["archived"]]
    print(f"\nArchived {len(archived)} of {len(stale)} conversations not updated for {MAX_AGE_DAYS} days.")


def print_next_steps() -> None:
    audits = sorted((WORK / "archive").glob("*/audit.csv"))
    audit = audits[-1] if audits else WORK / "archive" / "<run id>" / "audit.csv"
    print("\nNext:")
    print(f"  logs, one per DAG:           {relative(WORK / 'logs')}/<dag id>.log")
    print(f"  the stale-archive audit CSV: {relative(audit)}")
    print(f"  the example to read first:   {FIRST_EXAMPLE}")
    print(f"  start the emulator yourself: {EMULATOR_COMMAND}")
    print(f"  then write your first DAG:   {FIRST_DAG_DOCS}")


def relative(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\nInterrupted; the emulator was stopped.")
        sys.exit(130)
