"""The deployment under test: starts Airflow's components on a ``Stack``, and gives the scenarios
the REST, SQL and emulator calls they need, the export they run and the checks every run ends with."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psycopg2
from stack import DeployError, Stack, free_port, wait_for

REPO = Path(__file__).resolve().parents[2]
DAG_ID = "example_moveworks_sharded_archive"
# The asset scenario's: the stale archive, and the digest DAG scheduled on its asset alias.
STALE_DAG_ID = "example_moveworks_archive_stale_conversations"
DIGEST_DAG_ID = "example_moveworks_archive_digest"
# The deploy-only retitle DAGs (scripts/deploy/dags/): one paced statically, one by the shared budget.
RETITLE_DAG_IDS = {False: "deploy_moveworks_retitle_static", True: "deploy_moveworks_retitle_shared"}
API_KEY = "deploy-api-key-" + secrets.token_hex(8)
ASSISTANT = "deploy-assistant"
ACCOUNT_LIMIT = 200.0  # requests/s the emulator allows; the DAG gives each shard LIMIT / SLOTS
POOL_SLOTS = 4
SHARDS = 4
MAX_CONCURRENCY = 8  # the example DAG's, per shard
# The retitle job's own rate in the static runs: as a second team would set it today, unaware of
# the archive's split (so the account is asked for 4 x 50 + 50 = 250/s while all run).
RETITLE_STATIC_RATE = 50.0
WORKERS = ("worker-a", "worker-b")
# Per worker: 4 shards, the retitle task and split/combine must find slots on 2 workers at once.
WORKER_CONCURRENCY = 3
SEEDED = 20_000  # conversations in the emulator; about a quarter in each of the 4 shards
# The Airflow connection to the rate budget's Redis (not the Celery broker's).
RATE_LIMIT_CONN_ID = "moveworks_rate_limit"
# The scheduler declares a task lost after this many seconds without a heartbeat.
HEARTBEAT_TIMEOUT = 10


class Deployment:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.home = stack.root / "airflow-home"
        self.dags = self.home / "dags"
        self.work = stack.root / "work"
        self.data = stack.root / "data"
        for folder in (self.dags, self.work, self.data):
            folder.mkdir(parents=True)
        for dag_id in (DAG_ID, STALE_DAG_ID, DIGEST_DAG_ID):
            (self.dags / f"{dag_id}.py").symlink_to(REPO / "example_dags" / f"{dag_id}.py")
        retitle = Path(__file__).resolve().parent / "dags" / "deploy_moveworks_retitle.py"
        (self.dags / retitle.name).symlink_to(retitle)

    # -- start-up ------------------------------------------------------------------------------------

    def start(self) -> str:
        """Start everything; returns how long each stage took."""
        began = time.monotonic()
        pg_port = self.stack.start_postgres()
        redis_port = self.stack.start_redis()
        # The rate budget's own Redis: killing it must never touch the Celery broker.
        self.rate_limit_port = self.stack.start_redis("redis-rate-limit")
        self.emulator = self.stack.start_emulator(
            "emulator",
            [
                *("--api-key", API_KEY, "--assistant-name", ASSISTANT, "--random-seed", "11"),
                *("--seed-conversations", str(SEEDED), "--archived-share", "0"),
                *("--rate-limit", str(ACCOUNT_LIMIT)),
            ],
        )
        # SQLAlchemy 2.1 would pick psycopg 3 for a bare postgresql:// URL: name the driver.
        self.db_url = f"postgresql+psycopg2://airflow@127.0.0.1:{pg_port}/airflow"
        self.dsn = f"host=127.0.0.1 port={pg_port} user=airflow dbname=airflow"
        self.api_port = free_port()
        connection = {
            "conn_type": "moveworks",
            "host": f"{self.emulator}/rest/v1beta1",
            "password": API_KEY,
            "extra": {"assistant_name": ASSISTANT},
        }
        rate_limit = {
            "conn_type": "redis",
            "host": "127.0.0.1",
            "port": self.rate_limit_port,
            "extra": {"db": 0},
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MOVEWORKS"))}
        env.update(
            {
                "PYTHONPATH": str(Path(__file__).resolve().parent),  # deploy_hostname, airflow_local_settings
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__CORE__PARALLELISM": "16",
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "deploy_hostname.hostname",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.db_url,
                "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
                "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + self.db_url,
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.api_port),
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.api_port}/execution/",
                "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",
                "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
                "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
                # The test's own REST calls (pool, triggers) need no login on this loopback server.
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                # As by default: without it the scheduler creates no run on its own, not even an
                # asset-triggered one (airflow_local_settings.py turns off the only cron schedule).
                "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "True",
                "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "1",
                "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
                "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG": "False",
                "AIRFLOW_CONN_MOVEWORKS_DEFAULT": json.dumps(connection),
                "MOVEWORKS_ACCOUNT_REQUESTS_PER_SECOND": str(ACCOUNT_LIMIT),
                "MOVEWORKS_POOL": "moveworks",
                "MOVEWORKS_POOL_SLOTS": str(POOL_SLOTS),
                # Set for the whole deployment: each run's conf says whether it shares the budget
                # (the DAG files read it when parsed, by the DAG processor and by every task).
                f"AIRFLOW_CONN_{RATE_LIMIT_CONN_ID.upper()}": json.dumps(rate_limit),
                "MOVEWORKS_RATE_LIMIT_CONN_ID": RATE_LIMIT_CONN_ID,
                "DEPLOY_RETITLE_STATIC_REQUESTS_PER_SECOND": str(RETITLE_STATIC_RATE),
            }
        )
        self.env = env
        services = time.monotonic()
        self.airflow("db", "migrate", timeout=180)
        migrated = time.monotonic()
        airflow = [sys.executable, "-m", "airflow"]
        api = ["api-server", "--host", "127.0.0.1", "--port", str(self.api_port)]
        self.stack.start("api-server", [*airflow, *api], env)
        self.stack.start("dag-processor", [*airflow, "dag-processor"], env)
        self.stack.start("scheduler", [*airflow, "scheduler"], env)
        for name in WORKERS:
            worker = ["celery", "worker", "--celery-hostname", f"{name}@%h"]
            worker += ["--concurrency", str(WORKER_CONCURRENCY)]
            worker += ["--skip-serve-logs", "--without-mingle", "--without-gossip"]
            self.stack.start(name, [*airflow, *worker], {**env, "DEPLOY_HOSTNAME": name})
        # The execution API builds its routes on its first request, for seconds of CPU: make that
        # happen now rather than on a task's first call.
        health = f"http://127.0.0.1:{self.api_port}/execution/health"
        wait_for("the API server", lambda: _http_ok(health, timeout=60), 120, self.stack, interval=1)
        for name in WORKERS:
            log = self.stack.logs / f"{name}.log"
            ready = lambda log=log: " ready." in log.read_text(errors="replace")  # noqa: E731
            wait_for(f"{name} to be ready", ready, 120, self.stack)
        pool = {"name": "moveworks", "slots": POOL_SLOTS, "description": "Moveworks API: limit / slots"}
        self.api_post("/api/v2/pools", pool)
        wait_for("the DAGs to be parsed", self.dags_parsed, 120, self.stack, interval=1)
        return (
            f"PostgreSQL, Redis, emulator {services - began:.0f} s; db migrate {migrated - services:.0f} s; "
            f"Airflow components ready {time.monotonic() - migrated:.0f} s"
        )

    def dags_parsed(self) -> bool:
        """True once every DAG is serialized; a DAG file that failed to import fails at once."""
        errors = self.sql("SELECT filename, stacktrace FROM import_error")
        if errors:
            raise DeployError(f"a DAG file failed to import: {errors[0][0]}:\n{errors[0][1]}")
        wanted = {DAG_ID, *RETITLE_DAG_IDS.values()}
        parsed = self.sql("SELECT dag_id FROM serialized_dag WHERE dag_id = ANY(%s)", list(wanted))
        return {row[0] for row in parsed} == wanted

    def airflow(self, *args: str, timeout: float = 120) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=self.env,
            cwd=self.stack.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            command = " ".join(args)
            raise DeployError(f"airflow {command} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def api_post(self, path: str, body: dict[str, Any]) -> Any:
        """A call to the API server's REST API (a CLI call would cost seconds of start-up)."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.api_port}{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise DeployError(f"POST {path}: {error.code} {error.read()[:500]!r}") from None

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg2.connect(self.dsn) as conn, conn.cursor() as cursor:
            cursor.execute(query, params)
            return list(cursor.fetchall())

    def emulator_get(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.emulator}/_emulator{path}", timeout=30) as response:  # noqa: S310
            return json.loads(response.read())

    def reset_counters(self) -> None:
        request = urllib.request.Request(f"{self.emulator}/_emulator/reset-counters", data=b"{}")  # noqa: S310
        with urllib.request.urlopen(request, timeout=30):  # noqa: S310
            pass

    def counts(self) -> dict[Any, int]:
        """PATCH answers by status since the last reset."""
        rows = self.emulator_get("/counters")["counters"]
        return {row["status"]: row["count"] for row in rows if row["method"] == "PATCH"}

    def patch_window(self) -> float:
        """Seconds from the first PATCH to the last since the last reset, whatever their answer."""
        rows = [row for row in self.emulator_get("/counters")["counters"] if row["method"] == "PATCH"]
        if not rows:
            raise DeployError("the emulator counted no PATCH")
        return float(max(row["last"] for row in rows) - min(row["first"] for row in rows))

    def restart_rate_limit_redis(self) -> None:
        """The rate budget's Redis again, on its port, empty (as after a crash without persistence)."""
        self.stack.start_redis("redis-rate-limit", self.rate_limit_port)

    # -- runs --------------------------------------------------------------------------------------

    def write_export(
        self, name: str, conversations: list[dict[str, Any]]
    ) -> tuple[str, dict[str, dict[str, Any]]]:
        """An export that retitles every other conversation and archives every third; returns its
        URI and the fields each conversation must end with."""
        asked: dict[str, dict[str, Any]] = {}
        path = self.data / f"{name}.jsonl"
        with path.open("w") as out:
            for n, conversation in enumerate(conversations):
                row: dict[str, Any] = {"conversation_id": conversation["conversation_id"]}
                if n % 2 == 0:
                    row["title"] = f"{name} retitled {n}"
                if n % 3 == 0 or "title" not in row:
                    row["archived"] = True
                out.write(json.dumps(row) + "\n")
                asked[row["conversation_id"]] = {k: v for k, v in row.items() if k != "conversation_id"}
        return path.as_uri(), asked

    def write_retitle(self, name: str, conversations: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
        """The retitle job's input: a new title for each conversation; returns its URI and the
        fields each conversation must end with."""
        asked = {c["conversation_id"]: {"title": f"{name} retitle {n}"} for n, c in enumerate(conversations)}
        path = self.data / f"{name}-retitle.jsonl"
        path.write_text("".join(json.dumps({"conversation_id": k, **v}) + "\n" for k, v in asked.items()))
        return path.as_uri(), asked

    def trigger(self, run_id: str, export: str, shared: bool) -> None:
        """A run of the example DAG; ``shared``: its shards share the account's budget."""
        conf = {"export": export, "work_dir": self.work.as_uri(), "shards": SHARDS, "shared_budget": shared}
        body = {"dag_run_id": run_id, "logical_date": None, "conf": conf}
        self.api_post(f"/api/v2/dags/{DAG_ID}/dagRuns", body)

    def trigger_retitle(self, run_id: str, updates: str, shared: bool) -> None:
        conf = {"updates_file": updates, "report_file": self.retitle_report(run_id).as_uri()}
        body = {"dag_run_id": run_id, "logical_date": None, "conf": conf}
        self.api_post(f"/api/v2/dags/{RETITLE_DAG_IDS[shared]}/dagRuns", body)

    def retitle_report(self, run_id: str) -> Path:
        return self.work / f"{run_id}-report.jsonl"

    def run_state(self, run_id: str, dag_id: str = DAG_ID) -> str | None:
        rows = self.sql("SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s", dag_id, run_id)
        return rows[0][0] if rows else None

    def wait_for_run(self, run_id: str, timeout: float, dag_id: str = DAG_ID) -> None:
        finished = lambda: self.run_state(run_id, dag_id) in ("success", "failed")  # noqa: E731
        wait_for(f"run {run_id} of {dag_id} to finish", finished, timeout, self.stack)
        if self.run_state(run_id, dag_id) != "success":
            raise DeployError(f"run {run_id} {self.run_state(run_id, dag_id)}: {self.tasks(dag_id, run_id)}")

    def tasks(self, dag_id: str, run_id: str) -> list[tuple[str, int, str, int, str]]:
        """(task_id, map_index, state, try_number, hostname) of each task instance of a run."""
        rows = self.sql(
            "SELECT task_id, map_index, state, try_number, hostname FROM task_instance "
            "WHERE dag_id = %s AND run_id = %s ORDER BY task_id, map_index",
            dag_id,
            run_id,
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]

    def shards(self, run_id: str) -> list[tuple[int, str, str, int, Any, Any]]:
        return [
            tuple(row)  # type: ignore[misc]
            for row in self.sql(
                "SELECT map_index, state, hostname, try_number, start_date, end_date FROM task_instance "
                "WHERE dag_id = %s AND run_id = %s AND task_id = 'archive_shard' ORDER BY map_index",
                DAG_ID,
                run_id,
            )
        ]

    def task_log(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str:
        """Every attempt's log of a task instance, as the workers wrote them (one machine here)."""
        folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        if map_index >= 0:
            folder = folder / f"map_index={map_index}"
        attempts = sorted(folder.glob("attempt=*.log"))
        if not attempts:
            raise DeployError(f"no log of {dag_id} {run_id} {task_id}[{map_index}] in {folder}")
        return "".join(path.read_text(errors="replace") for path in attempts)

    def check_state(self, before: dict[str, Any], asked: dict[str, dict[str, Any]]) -> None:
        """The emulator holds exactly what was asked: the listed fields changed, nothing else."""
        after = self.emulator_get("/state")["conversations"]
        assert set(after) == set(before), "conversations appeared or vanished"
        wrong = []
        for cid, old in before.items():
            expected = {**old, **asked.get(cid, {})}
            got = {k: v for k, v in after[cid].items() if k != "updated_at"}
            if got != {k: v for k, v in expected.items() if k != "updated_at"}:
                wrong.append(cid)
        assert not wrong, f"{len(wrong)} conversations not as asked, e.g. {wrong[:3]}"

    def check_reports(self, run_id: str, asked: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """Every row reported exactly once, as updated; the combined summary adds up."""
        folder = self.work / run_id
        reported = [
            json.loads(line)
            for path in sorted(folder.glob("report-*.jsonl"))
            for line in path.read_text().splitlines()
        ]
        ids = [row["conversation_id"] for row in reported]
        assert len(ids) == len(set(ids)) == len(asked), (
            f"{len(ids)} report rows, {len(set(ids))} distinct, {len(asked)} asked"
        )
        assert set(ids) == set(asked), "the reports name other conversations than the export"
        assert {row["outcome"] for row in reported} == {"updated"}, "a row was not updated"
        summary: dict[str, Any] = json.loads((folder / "summary.json").read_text())
        counted = (summary["total"], summary["updated"], summary["shards"])
        assert counted == (len(asked), len(asked), SHARDS), summary
        return summary

    def check_retitle_report(self, run_id: str, asked: dict[str, dict[str, Any]]) -> None:
        """The retitle job reported every row exactly once, as updated."""
        reported = [json.loads(line) for line in self.retitle_report(run_id).read_text().splitlines()]
        ids = [row["conversation_id"] for row in reported]
        assert len(ids) == len(set(ids)) == len(asked), (
            f"retitle {run_id}: {len(ids)} report rows, {len(set(ids))} distinct, {len(asked)} asked"
        )
        assert set(ids) == set(asked), f"retitle {run_id}: the report names other conversations"
        assert {row["outcome"] for row in reported} == {"updated"}, f"retitle {run_id}: a row was not updated"


def _http_ok(url: str, timeout: float) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback only
            return bool(response.status == 200)
    except OSError:
        return False
