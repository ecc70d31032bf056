"""The README's "Your first DAG", run as a newcomer would: its shell blocks in bash, from a folder
holding the project's ``.venv``, with a fresh HOME and no Airflow settings in the environment; the
DAG saved where the README says; the emulator of the first terminal left running while the second
terminal's commands run. The one change: a free port in place of 8787, so that two runs of the
suite never collide."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.docs.markdown import README, code_blocks, section_text

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

SECTION = "Your first DAG"
README_PORT = "8787"
CONNECTION_LINE = "export AIRFLOW_CONN_MOVEWORKS_DEFAULT="


class Recipe:
    """The section's parts, in the order the README gives them."""

    def __init__(self, port: int) -> None:
        self.port = port
        blocks = [block for block in code_blocks(README) if block.section == SECTION]
        shells = [block.code.replace(README_PORT, str(port)) for block in blocks if block.language == "bash"]
        (dag,) = [block.code for block in blocks if block.language == "python"]
        assert len(shells) == 3, "expected: start the emulator, prepare Airflow, run the DAG"
        self.start_emulator, self.prepare, self.run = shells
        self.dag = dag
        saved_as = re.findall(r"Save this DAG as `([^`]+)`", section_text(README, SECTION))
        assert len(saved_as) == 1, "the README must say where to save the DAG"
        self.dag_path = saved_as[0]
        self.conversation_ids = re.findall(r'conversation_id="(conv_\w+)"', dag)
        self.title = re.findall(r'title="([^"]+)"', dag)[0]
        self.dag_id = re.findall(r'dag_id="([^"]+)"', dag)[0]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def newcomer(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A folder with the project's venv as ``.venv`` (what ``make demo`` leaves in a clone), and
    the environment of a fresh shell: its own HOME, no AIRFLOW_* or MOVEWORKS_* variables."""
    clone = tmp_path / "clone"
    clone.mkdir()
    (clone / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    home = tmp_path / "home"
    home.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW", "MOVEWORKS", "VIRTUAL_ENV", "PYTHON"))
    }
    env["HOME"] = str(home)
    return clone, env


@pytest.fixture
def terminal_one(newcomer: tuple[Path, dict[str, str]]) -> Iterator[tuple[Recipe, list[str]]]:
    """The first terminal: the emulator, started as the README says; yields once it printed the
    connection line, and stops it (its whole process group) at the end."""
    clone, env = newcomer
    recipe = Recipe(free_port())
    process = subprocess.Popen(
        ["bash", "-c", recipe.start_emulator],
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    printed: list[str] = []
    try:
        while not any(line.startswith(CONNECTION_LINE) for line in printed):
            line = lines.get(timeout=60)
            assert line is not None, "the emulator stopped:\n" + "\n".join(printed)
            printed.append(line)
        yield recipe, printed
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def emulator_state(port: int, env: dict[str, str]) -> dict[str, dict]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "airflow_provider_moveworks.emulator",
            "state",
            "--url",
            f"http://127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    )
    return json.loads(done.stdout)["conversations"]


def test_your_first_dag_runs_as_written(newcomer, terminal_one) -> None:
    clone, env = newcomer
    recipe, printed = terminal_one
    port = recipe.port
    # The line to paste is the one the emulator printed, word for word.
    pasted = [line for line in recipe.prepare.splitlines() if line.startswith(CONNECTION_LINE)]
    assert pasted == [line for line in printed if line.startswith(CONNECTION_LINE)]
    before = emulator_state(port, env)
    assert sorted(before) == sorted(recipe.conversation_ids)
    assert not any(conversation["archived"] for conversation in before.values())

    second_terminal = (
        "set -eo pipefail\n"
        + recipe.prepare
        + f'cat > "{recipe.dag_path}" <<"README_DAG_EOF"\n{recipe.dag}README_DAG_EOF\n'
        + recipe.run
    )
    done = subprocess.run(
        ["bash", "-c", second_terminal],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
    )

    assert done.returncode == 0, (done.stdout + done.stderr)[-5000:]
    home = Path(env["HOME"])
    assert (home / "airflow-moveworks" / "dags" / "my_first_dag.py").read_text() == recipe.dag
    after = emulator_state(port, env)
    retitled, archived = recipe.conversation_ids
    assert after[retitled]["title"] == recipe.title
    assert after[retitled]["archived"] is False
    assert after[archived]["title"] == before[archived]["title"]
    assert after[archived]["archived"] is True
    # The README's last command shows the same state.
    assert f'"title": "{recipe.title}"' in done.stdout
