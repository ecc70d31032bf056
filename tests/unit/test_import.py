"""DAG files import the operator module on every scheduler parse: it must stay cheap.
(The time it adds is measured in benchmarks/import_cost.py.)"""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from airflow_provider_moveworks.version_compat import BaseOperator
before = set(sys.modules)
import airflow_provider_moveworks.operators.moveworks
added = set(sys.modules) - before
print(sorted(m for m in added if m.split(".")[0] in {"requests", "urllib3", "tenacity"} or "hooks" in m))
"""


def test_importing_the_operator_module_loads_no_http_client_and_no_hook() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
