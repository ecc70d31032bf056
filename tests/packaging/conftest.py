"""The packaging tests build the sdist and wheel and install into a fresh venv: about a minute,
so they run through ``make test-package`` (CI), not in the plain suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("MOVEWORKS_PACKAGE_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="builds and installs the package: run it with make test-package")
    for item in items:
        if item.path.is_relative_to(Path(__file__).parent):
            item.add_marker(skip)
