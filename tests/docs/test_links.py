"""The docs hold together: every relative link and anchor resolves, and the README stays a page."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.conftest import REPO_ROOT
from tests.docs.markdown import DOCS, LINKED, README, anchors, code_blocks, relative_links

EXPECTED_PAGES = {
    "bulk.md",
    "client.md",
    "connection-and-auth.md",
    "deployment.md",
    "emulator.md",
    "errors.md",
    "lineage.md",
    "performance.md",
    "reliability.md",
    "testing.md",
}


@pytest.mark.parametrize("path", LINKED, ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_every_relative_link_resolves_to_a_file_and_anchor(path: Path) -> None:
    broken = []
    for line, target in relative_links(path):
        file_part, _, anchor = target.partition("#")
        destination = (path.parent / unquote(file_part)).resolve() if file_part else path
        if not destination.exists():
            broken.append(f"line {line}: {target} (no {destination})")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"line {line}: {target} (no heading with anchor #{anchor})")
        elif anchor and destination.suffix != ".md":
            broken.append(f"line {line}: {target} (an anchor into a file that is not Markdown)")
    assert not broken, f"{path.name}:\n" + "\n".join(broken)


def test_every_docs_page_is_linked_from_the_readme() -> None:
    linked = {(README.parent / target.partition("#")[0]).resolve() for _, target in relative_links(README)}
    assert {page.name for page in DOCS} >= EXPECTED_PAGES
    assert [page.name for page in DOCS if page.resolve() not in linked] == []


def test_the_readme_fits_on_a_page_and_starts_with_the_two_commands() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200
    first = code_blocks(README)[0]
    assert first.language == "bash"
    assert first.line <= 40
    commands = [line.split("#")[0].strip() for line in first.code.splitlines()]
    assert commands == ["make demo", "make test"]


def test_a_source_release_carries_what_the_docs_link_to() -> None:
    """MANIFEST.in names every file and folder the README and docs/ link to (setuptools adds the
    package, the README, LICENSE and pyproject.toml by itself; a link into tests/ is for a clone)."""
    rules = [line.split() for line in (REPO_ROOT / "MANIFEST.in").read_text().splitlines() if line.strip()]
    included = {words[1] for words in rules if words[0] == "include"}
    grafted = {words[1] for words in rules if words[0] == "graft"}
    automatic = {"README.md", "LICENSE", "pyproject.toml", "airflow_provider_moveworks"}
    missing = set()
    for path in [README, *DOCS]:
        for _, target in relative_links(path):
            file_part = target.partition("#")[0]
            if not file_part:
                continue
            relative = (path.parent / unquote(file_part)).resolve().relative_to(REPO_ROOT)
            top = relative.parts[0]
            if top not in automatic | grafted and str(relative) not in included and top != "tests":
                missing.add(str(relative))
    assert sorted(missing) == []


@pytest.mark.parametrize("path", LINKED, ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_every_repository_path_the_docs_name_exists(path: Path) -> None:
    """A file or folder named in inline code (`tests/unit/test_hook.py`) is there: a rename shows."""
    named = re.findall(
        r"`((?:tests|benchmarks|scripts|example_dags|airflow_provider_moveworks|constraints|docs)/[^`*<>\s]*)`",
        path.read_text(encoding="utf-8"),
    )
    assert [name for name in named if not (REPO_ROOT / name).exists()] == []
