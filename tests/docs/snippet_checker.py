"""Run by test_snippets.py in a fresh interpreter with a throwaway AIRFLOW_HOME: runs each
block's import statements alone (an import that warns of a deprecation fails), then reads every
DAG block, saved as a file of a DAGs folder, with Airflow's DagBag. Reads the blocks as JSON on
stdin; prints one JSON object, block name -> outcome.

Usage: python snippet_checker.py <empty DAGs folder>
"""

from __future__ import annotations

import json
import sys
import traceback
import warnings
from pathlib import Path

SNIPPET = "docs_snippet"


def main() -> None:
    blocks, dags_folder = json.loads(sys.stdin.read()), Path(sys.argv[1])
    import airflow  # noqa: F401 - Airflow's own start-up warnings are not the snippets'

    results: dict[str, dict] = {}
    for block in blocks:
        try:
            with warnings.catch_warnings():
                # A name that moved warns where it is imported: a snippet must use the current one.
                # (Airflow's warnings about its own settings come from its modules: not counted.)
                warnings.filterwarnings("error", category=DeprecationWarning, module=SNIPPET)
                warnings.filterwarnings("error", category=FutureWarning, module=SNIPPET)
                exec(compile(block["imports"], block["name"], "exec"), {"__name__": SNIPPET})  # noqa: S102
        except (DeprecationWarning, FutureWarning) as warning:
            results[block["name"]] = {"error": f"deprecated import: {type(warning).__name__}: {warning}"}
            continue
        except ImportError as error:
            results[block["name"]] = {
                "import_error": f"{type(error).__name__}: {error}",
                "module": error.name,
            }
            continue
        except Exception:
            results[block["name"]] = {"error": traceback.format_exc(limit=3)}
            continue
        results[block["name"]] = {"ok": True}
        if block["dag_file"]:
            (dags_folder / block["dag_file"]).write_text(block["code"])

    from airflow_provider_moveworks.version_compat import DagBag

    bag = DagBag(dag_folder=str(dags_folder))
    for block in blocks:
        if block["dag_file"] and results[block["name"]].get("ok"):
            path = str(dags_folder / block["dag_file"])
            results[block["name"]]["dag_ids"] = sorted(
                dag_id for dag_id, dag in bag.dags.items() if dag.fileloc == path
            )
            results[block["name"]]["parse_error"] = bag.import_errors.get(path)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
