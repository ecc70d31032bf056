"""The operators in a real Airflow 3 deployment, not only under ``dag.test()``.

A throwaway deployment (its own AIRFLOW_HOME and SQLite database, LocalExecutor) runs the
``airflow scheduler``, ``airflow dag-processor`` and ``airflow api-server`` as separate processes;
the scheduler's workers run each task in a fresh process that talks to the api-server through the
Task SDK's execution API. The example DAG that archives stale conversations is triggered from the
CLI against an in-process emulator, and the test checks the emulator's end state and the task logs
(which must hold the bulk operator's lines and never the API key).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from airflow_provider_moveworks.emulator import MoveworksEmulator
from airflow_provider_moveworks.version_compat import AIRFLOW_V_3_0_PLUS
from tests.conftest import REPO_ROOT

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(600),  # three Airflow processes start, migrate and run a DAG
    pytest.mark.skipif(
        not AIRFLOW_V_3_0_PLUS,
        reason="scheduler, dag-processor and api-server as separate processes (Task SDK) need Airflow 3",
    ),
]

DAG_ID = "example_moveworks_archive_stale_conversations"
DAG_FILE = REPO_ROOT / "example_dags" / f"{DAG_ID}.py"
API_KEY = "scheduler-api-key-3e9b71d0"
ASSISTANT = "scheduler-assistant"
RUN_ID = "manual__scheduler_integration"
OVERALL_TIMEOUT = 180.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def json_output(stdout: str) -> list[dict]:
    """The JSON list a CLI command printed, after whatever warnings Airflow logged to stdout first."""
    lines = stdout.splitlines()
    starts = [n for n, line in enumerate(lines) if line.startswith("[")]
    for start in starts:
        try:
            return json.loads("\n".join(lines[start:]))
        except json.JSONDecodeError:
            continue
    return []


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as error:
        return f"<{error}>"
    return "\n".join(text.splitlines()[-lines:])


class Deployment:
    """An Airflow home, its environment and the long-running processes started in it."""

    def __init__(self, root: Path, emu: MoveworksEmulator) -> None:
        self.root = root
        self.home = root / "airflow-home"
        self.dags = self.home / "dags"
        self.dags.mkdir(parents=True)
        (self.dags / DAG_FILE.name).symlink_to(DAG_FILE)
        self.port = free_port()
        connection = {
            "conn_type": "moveworks",
            "host": emu.base_url,
            "password": API_KEY,
            "extra": {"assistant_name": ASSISTANT, "max_retries": 2},
        }
        # Start from the test process's environment but drop the conftest's Airflow settings:
        # this deployment is configured only by what follows.
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home}/airflow.db",
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": "4",
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__WORKERS": "1",
                # Without this every task tries http://localhost:8080/execution/ and fails.
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.port}/execution/",
                # The scheduler signs the tasks' tokens, the api-server checks them: one secret.
                # A loaded machine answers slower than the 5 s default; retries would only add more.
                "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
                "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
                # No scheduled (@daily) run: only the run the test triggers touches the emulator.
                "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
                "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "1",
                "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
                "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG": "False",
                "AIRFLOW_CONN_MOVEWORKS_DEFAULT": json.dumps(connection),
            }
        )
        self.env = env
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def log_file(self, name: str) -> Path:
        return self.root / f"{name}.log"

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=self.env,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self, name: str, *args: str) -> None:
        with self.log_file(name).open("wb") as out:
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", "airflow", *args],
                env=self.env,
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: teardown kills its children too
            )

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                pytest.fail(f"airflow {name} exited with {process.returncode}\n{self.diagnostics()}")

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM every process group, then SIGKILL whatever is left of it after ``grace``."""
        groups = [process.pid for process in self.processes.values()]
        for pgid in groups:
            _signal_group(pgid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(_group_alive(pgid) for pgid in groups):
            time.sleep(0.2)
        for pgid in groups:
            _signal_group(pgid, signal.SIGKILL)
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
        self.processes.clear()

    def task_logs(self) -> list[Path]:
        return sorted(path for path in (self.home / "logs").rglob("*") if path.is_file())

    def diagnostics(self) -> str:
        parts = [f"--- {name} ---\n{tail(self.log_file(name))}" for name in ("scheduler", "dag-processor")]
        parts.append(f"--- api-server ---\n{tail(self.log_file('api-server'), 15)}")
        parts += [f"--- {path} ---\n{tail(path, 25)}" for path in self.task_logs() if "dag_id=" in str(path)]
        return "\n".join(parts)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


@pytest.fixture
def emu() -> Iterator[MoveworksEmulator]:
    with MoveworksEmulator(api_keys=(API_KEY,), assistant_name=ASSISTANT, random_seed=1) as emulator:
        yield emulator


@pytest.fixture
def deployment(tmp_path: Path, emu: MoveworksEmulator) -> Iterator[Deployment]:
    deploy = Deployment(tmp_path, emu)
    migrated = deploy.cli("db", "migrate", timeout=120)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    try:
        deploy.start("api-server", "api-server", "--port", str(deploy.port), "--host", "127.0.0.1")
        deploy.start("dag-processor", "dag-processor")
        deploy.start("scheduler", "scheduler")
        yield deploy
    finally:
        deploy.stop()


def warm_up_execution_api(deploy: Deployment, deadline: float) -> None:
    """Wait for the api-server, and make it build its execution API now rather than on a task's call.

    The execution API (Cadwyn) generates its versioned routes on the first request it gets, for
    seconds of CPU that block the server's event loop; when that first request is a task's
    ``PATCH .../run``, the worker times out and retries, and the task starts 5-20 s late.
    """
    url = f"http://127.0.0.1:{deploy.port}/execution/health"
    while True:
        deploy.check_alive()
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"the api-server never answered {url}\n{deploy.diagnostics()}")
        time.sleep(0.5)


def wait_until_parsed(deploy: Deployment, deadline: float) -> None:
    while True:
        deploy.check_alive()
        listed = deploy.cli("dags", "list", "-o", "json")
        if listed.returncode == 0 and DAG_ID in {dag["dag_id"] for dag in json_output(listed.stdout)}:
            return
        if time.monotonic() > deadline:
            errors = deploy.cli("dags", "list-import-errors").stdout
            pytest.fail(f"{DAG_ID} not parsed in time; import errors: {errors}\n{deploy.diagnostics()}")
        time.sleep(1)


def wait_for_run(deploy: Deployment, deadline: float) -> str:
    while True:
        deploy.check_alive()
        listed = deploy.cli("dags", "list-runs", DAG_ID, "-o", "json")
        assert listed.returncode == 0, listed.stdout + listed.stderr
        states = {run["run_id"]: run["state"] for run in json_output(listed.stdout)}
        state = states.get(RUN_ID)
        if state in ("success", "failed"):
            assert set(states) == {RUN_ID}, f"unexpected runs: {states}"
            return state
        if time.monotonic() > deadline:
            pytest.fail(f"run {RUN_ID} still {state!r} after {OVERALL_TIMEOUT} s\n{deploy.diagnostics()}")
        time.sleep(1)


def test_scheduler_runs_the_archive_dag_in_separate_worker_processes(
    deployment: Deployment, emu: MoveworksEmulator, tmp_path: Path
) -> None:
    deadline = time.monotonic() + OVERALL_TIMEOUT
    now = datetime.now(timezone.utc)
    stale = [
        emu.add_conversation(title=f"Stale {n}", updated_at=now - timedelta(days=120 + n)) for n in range(3)
    ]
    stale_archived = emu.add_conversation(
        title="Already archived", archived=True, updated_at=now - timedelta(days=200)
    )
    recent = [
        emu.add_conversation(title=f"Recent {n}", updated_at=now - timedelta(days=n + 1)) for n in range(2)
    ]
    before = emu.conversations()
    work_dir = tmp_path / "work"
    work_dir.mkdir()

    warm_up_execution_api(deployment, deadline)
    wait_until_parsed(deployment, deadline)
    conf = json.dumps({"max_age_days": 90, "work_dir": work_dir.as_uri()})
    # Triggered while still paused (the run stays queued), then unpaused: with use_job_schedule
    # off the scheduler creates no @daily run of its own.
    triggered = deployment.cli("dags", "trigger", DAG_ID, "-r", RUN_ID, "-c", conf)
    assert triggered.returncode == 0, triggered.stdout + triggered.stderr
    unpaused = deployment.cli("dags", "unpause", DAG_ID)
    assert unpaused.returncode == 0, unpaused.stdout + unpaused.stderr
    state = wait_for_run(deployment, deadline)
    assert state == "success", f"run {RUN_ID} {state}\n{deployment.diagnostics()}"
    deployment.stop()  # the logs are complete once every process is gone

    after = emu.conversations()
    stale_ids = {conversation["conversation_id"] for conversation in stale}
    for conversation_id, conversation in before.items():
        if conversation_id in stale_ids:
            assert after[conversation_id]["archived"] is True
            assert after[conversation_id]["title"] == conversation["title"]
        else:
            assert after[conversation_id] == conversation
    untouched = {c["conversation_id"] for c in recent} | {stale_archived["conversation_id"]}
    assert set(before) - stale_ids == untouched
    assert emu.request_count(method="PATCH") == 3
    audit = (work_dir / RUN_ID / "audit.csv").read_text().splitlines()
    assert len(audit) == 1 + 3

    task_logs = [path for path in deployment.task_logs() if f"dag_id={DAG_ID}" in str(path)]
    by_task = {path.parent.name: path.read_text() for path in task_logs}
    assert set(by_task) == {"task_id=select_stale", "task_id=archive", "task_id=write_audit"}, task_logs
    archive_log = by_task["task_id=archive"]
    assert "Bulk update: 3 rows: 3 to send, 0 duplicates, 0 invalid" in archive_log
    assert "Bulk update progress: 3/3 rows (100.0%)" in archive_log
    assert "Bulk update summary: {'total': 3, 'updated': 3, 'not_found': 0, 'failed': 0" in archive_log
    assert "Selected 3 of 5 unarchived conversations" in by_task["task_id=select_stale"]
    assert "Archived 3 of 3 conversations" in by_task["task_id=write_audit"]

    # The tasks ran in worker processes that went through the api-server's execution API.
    assert "/execution/task-instances/" in deployment.log_file("api-server").read_text()

    written = [*deployment.task_logs(), *deployment.root.glob("*.log"), deployment.home / "airflow.db"]
    leaked = [str(path) for path in written if API_KEY.encode() in path.read_bytes()]
    assert leaked == [], f"the API key is written in {leaked}"
