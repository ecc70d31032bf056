"""Every Python block of the README and docs/ compiles; its imports import; and every block that
defines a DAG parses into that DAG on the Airflow of this venv (3.3 for ``make test``), in a fresh
process with a throwaway AIRFLOW_HOME, as the scheduler's DagBag reads a DAGs folder."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_moveworks.version_compat import AIRFLOW_V_3_0_PLUS
from tests.docs.markdown import WITH_CODE, Block, code_blocks

PYTHON_BLOCKS = [block for path in WITH_CODE for block in code_blocks(path) if block.language == "python"]
DEFINES_A_DAG = re.compile(r"\bDAG\(|@dag\b")
# The one module a snippet may document before it exists in this tree (built alongside).
OPTIONAL_MODULES = ("airflow_provider_moveworks.client",)

CHECKER = Path(__file__).with_name("snippet_checker.py")


def imports_of(code: str) -> str:
    """The block's import statements, wherever they are (a fixture imports inside its function);
    a ``try``/``except ImportError`` made only of imports (a name that moved) is kept whole."""
    statements: list[ast.stmt] = []
    covered: set[int] = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Try):
            inner = [*node.body, *(stmt for handler in node.handlers for stmt in handler.body)]
            if all(isinstance(stmt, (ast.Import, ast.ImportFrom)) for stmt in inner):
                statements.append(node)
                covered.update(id(stmt) for stmt in inner)
        elif isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in covered:
            statements.append(node)
    return "\n".join(ast.unparse(statement) for statement in statements) + "\n"


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Every block checked in one fresh interpreter (Airflow is imported once)."""
    home = tmp_path_factory.mktemp("docs-airflow-home")
    dags = home / "dags"
    dags.mkdir()
    payload = [
        {
            "name": block.name,
            "code": block.code,
            "imports": imports_of(block.code),
            "dag_file": f"docs_block_{n}.py" if DEFINES_A_DAG.search(block.code) else None,
        }
        for n, block in enumerate(PYTHON_BLOCKS)
    ]
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
    )
    done = subprocess.run(
        [sys.executable, str(CHECKER), str(dags)],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        env=env,
        cwd=home,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


# Pages about features of Airflow 3 only: their snippets use Airflow 3's names.
AIRFLOW_3_PAGES = ("docs/assets.md",)


def test_the_docs_have_python_blocks_and_dags_to_check() -> None:
    assert len(PYTHON_BLOCKS) >= 10
    assert sum(bool(DEFINES_A_DAG.search(block.code)) for block in PYTHON_BLOCKS) >= 1


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=lambda block: block.name)
def test_every_python_block_compiles(block: Block) -> None:
    compile(block.code, block.name, "exec")


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=lambda block: block.name)
def test_every_python_block_imports_and_every_dag_parses(block: Block, outcomes: dict[str, dict]) -> None:
    if block.name.startswith(AIRFLOW_3_PAGES) and not AIRFLOW_V_3_0_PLUS:
        pytest.skip(f"{block.name} is on a page about an Airflow 3 feature")
    outcome = outcomes[block.name]
    if "import_error" in outcome:
        if (outcome["module"] or "").startswith(OPTIONAL_MODULES):
            pytest.skip(f"{outcome['module']} is not importable in this tree yet: {outcome['import_error']}")
        pytest.fail(f"{block.name}: {outcome['import_error']}")
    assert "error" not in outcome, outcome.get("error")
    if DEFINES_A_DAG.search(block.code):
        assert outcome["parse_error"] is None, outcome["parse_error"]
        dag_ids = re.findall(r"dag_id=\"([^\"]+)\"", block.code)
        assert outcome["dag_ids"] == sorted(dag_ids)


def test_the_readme_dag_snippets_run_on_the_airflow_the_suite_runs(outcomes: dict[str, dict]) -> None:
    """Sanity check of the checker itself: it saw the README's first DAG."""
    first_dag = [block for block in PYTHON_BLOCKS if block.section == "Your first DAG"]
    assert len(first_dag) == 1
    assert outcomes[first_dag[0].name]["dag_ids"] == ["my_first_dag"]
