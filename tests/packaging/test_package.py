"""The package as an index would serve it: sdist and wheel built the way a release is (the wheel
from the sdist), checked by twine, and the wheel installed into a clean venv, where one example
DAG runs against the emulator that came with the same install."""

from __future__ import annotations

import email
import json
import os
import shutil
import subprocess
import sys
import tarfile
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.integration

NAME = "airflow_provider_moveworks"
CONSTRAINTS = REPO_ROOT / "constraints" / "airflow-3.3.txt"


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``python -m build``: the sdist, then the wheel built from the unpacked sdist."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(REPO_ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return out


def only(folder: Path, pattern: str) -> Path:
    (path,) = folder.glob(pattern)
    return path


def test_wheel_carries_license_types_and_release_metadata(dist: Path) -> None:
    with zipfile.ZipFile(only(dist, "*.whl")) as wheel:
        names = set(wheel.namelist())
        info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        metadata = email.message_from_bytes(wheel.read(f"{info}/METADATA"))
        license_text = wheel.read(f"{info}/licenses/LICENSE").decode()
    assert license_text == (REPO_ROOT / "LICENSE").read_text()
    assert f"{NAME}/py.typed" in names
    assert f"{NAME}/emulator/__main__.py" in names
    assert not [n for n in names if n.startswith(("tests/", "example_dags/", "benchmarks/"))]
    assert metadata["Requires-Python"] == ">=3.11"
    assert metadata["License-Expression"] == "Apache-2.0"
    classifiers = metadata.get_all("Classifier")
    for classifier in (
        "Development Status :: 4 - Beta",
        "Programming Language :: Python :: 3.11",
        "Typing :: Typed",
        "Framework :: Apache Airflow :: Provider",
    ):
        assert classifier in classifiers
    assert metadata.get_all("Project-URL")


def test_sdist_carries_the_license(dist: Path) -> None:
    with tarfile.open(only(dist, "*.tar.gz")) as sdist:
        names = sdist.getnames()
    root = names[0].split("/")[0]
    assert f"{root}/LICENSE" in names
    assert f"{root}/pyproject.toml" in names


def test_sdist_carries_what_the_readme_points_to(dist: Path) -> None:
    """The README (the package's description) sends users to the example DAGs, their sample
    data, the constraints files and the changelog: a source release holds them, not only a clone."""
    with tarfile.open(only(dist, "*.tar.gz")) as sdist:
        names = sdist.getnames()
    root = names[0].split("/")[0]
    expected = [
        *(p.relative_to(REPO_ROOT) for p in (REPO_ROOT / "example_dags").rglob("*") if p.is_file()),
        *(p.relative_to(REPO_ROOT) for p in (REPO_ROOT / "constraints").glob("*.txt")),
        Path("CHANGELOG.md"),
    ]
    missing = [
        str(path) for path in expected if "__pycache__" not in path.parts and f"{root}/{path}" not in names
    ]
    assert missing == []
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_twine_check_is_clean(dist: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, sorted(dist.iterdir()))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASSED") == 2, result.stdout


@pytest.fixture(scope="module")
def installed(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel and its dependencies (pinned, from pip's cache)."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-c",
            str(CONSTRAINTS),
            str(only(dist, "*.whl")),
        ],
        check=True,
        capture_output=True,
        timeout=600,
        cwd=env_dir,
    )
    return env_dir


def clean_env(**extra: str) -> dict[str, str]:
    """No source tree on the path: not the repository, not this test run's Airflow settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW", "PYTHON"))}
    env.update(extra)
    return env


@pytest.fixture
def emulator_from_wheel(installed: Path, tmp_path: Path) -> Iterator[dict[str, str]]:
    proc = subprocess.Popen(
        [str(installed / "bin" / "python"), "-m", f"{NAME}.emulator", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
        cwd=tmp_path,
    )
    banner: dict[str, str] = {}
    try:
        assert proc.stdout is not None
        while "AIRFLOW_CONN_MOVEWORKS_DEFAULT" not in banner:
            line = proc.stdout.readline()
            assert line, "emulator exited before printing its banner"
            key, _, value = line.strip().partition("=")
            banner[key.removeprefix("export ")] = value
        yield banner
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_wheel_in_a_clean_venv_runs_an_example_dag_against_its_emulator(
    installed: Path, emulator_from_wheel: dict[str, str], tmp_path: Path
) -> None:
    bin_dir = installed / "bin"
    where = subprocess.run(
        [str(bin_dir / "python"), "-c", f"import {NAME}; print({NAME}.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        env=clean_env(),
        cwd=tmp_path,
    ).stdout.strip()
    assert Path(where).is_relative_to(installed), where

    banner = emulator_from_wheel
    created = requests.post(
        banner["MOVEWORKS_BASE_URL"] + "/conversations",
        json={"title": "Before"},
        headers={
            "Authorization": f"Bearer {banner['MOVEWORKS_API_KEY']}",
            "Assistant-Name": banner["MOVEWORKS_ASSISTANT_NAME"],
        },
        timeout=10,
    )
    created.raise_for_status()
    conversation_id = created.json()["conversation_id"]

    home = tmp_path / "airflow-home"
    (home / "dags").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "example_dags" / "example_moveworks_update_conversation.py", home / "dags")
    env = clean_env(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(home / "dags"),
        # The banner's line, as a user pastes it into the shell (shlex-quoted JSON).
        AIRFLOW_CONN_MOVEWORKS_DEFAULT=json.dumps(json.loads(banner["AIRFLOW_CONN_MOVEWORKS_DEFAULT"][1:-1])),
    )
    airflow = str(bin_dir / "airflow")
    subprocess.run(
        [airflow, "db", "migrate"], check=True, capture_output=True, env=env, cwd=tmp_path, timeout=180
    )
    conf = {"conversation_id": conversation_id, "title": "From the wheel", "archived": True}
    run = subprocess.run(
        [airflow, "dags", "test", "example_moveworks_update_conversation", "--conf", json.dumps(conf)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    state = subprocess.run(
        [str(bin_dir / "python"), "-m", f"{NAME}.emulator", "state"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env=clean_env(MOVEWORKS_EMULATOR_URL=banner["MOVEWORKS_EMULATOR_URL"]),
    )
    after = json.loads(state.stdout)["conversations"][conversation_id]
    assert (after["title"], after["archived"]) == ("From the wheel", True)
