"""`make demo` (scripts/demo.py) runs every example DAG and points where the README does."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import REPO_ROOT
from tests.docs.markdown import README, anchors, code_blocks


@pytest.fixture(scope="module")
def demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("moveworks_demo", REPO_ROOT / "scripts" / "demo.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_demo_runs_every_example_dag(demo: ModuleType, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(demo, "WORK", tmp_path)
    recent = "2099-01-01T00:00:00Z"
    conversations = {
        f"conv_{n}": {"conversation_id": f"conv_{n}", "archived": False, "updated_at": recent, "title": "t"}
        for n in range(12)
    }

    planned = [dag_id for dag_id, _ in demo.plan(conversations)]

    assert sorted(planned) == sorted(path.stem for path in (REPO_ROOT / "example_dags").glob("example_*.py"))


def test_the_next_steps_name_what_the_readme_names(demo: ModuleType) -> None:
    (start_emulator,) = [
        block.code.strip()
        for block in code_blocks(README)
        if block.section == "Your first DAG" and "airflow_provider_moveworks.emulator --port" in block.code
    ]
    assert start_emulator == demo.EMULATOR_COMMAND
    assert (REPO_ROOT / demo.FIRST_EXAMPLE).is_file()
    page, _, anchor = demo.FIRST_DAG_DOCS.partition("#")
    assert anchor in anchors(REPO_ROOT / page)
    assert Path(demo.FIRST_EXAMPLE).stem in README.read_text()  # the README's "read first"
