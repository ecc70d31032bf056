"""Reading the project's Markdown as the tests need it: fenced code blocks (with the section they sit
in), relative links, and the anchors GitHub gives headings."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import REPO_ROOT

README = REPO_ROOT / "README.md"
DOCS = sorted((REPO_ROOT / "docs").glob("*.md"))
# The files whose relative links must resolve; README and docs/ also have their code tested.
LINKED = [README, REPO_ROOT / "CONTRIBUTING.md", *DOCS]
WITH_CODE = [README, *DOCS]

_FENCE = re.compile(r"^(`{3,})(\S*)\s*$")
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
# [text](target) and ![alt](target), not inside inline code.
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_INLINE_CODE = re.compile(r"`[^`]*`")


@dataclass(frozen=True)
class Block:
    """A fenced code block: its language, its text, where it starts and the heading it is under."""

    path: Path
    language: str
    code: str
    line: int
    section: str

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(REPO_ROOT)}:{self.line}"


def code_blocks(path: Path) -> list[Block]:
    """Every fenced block of a Markdown file, in order."""
    blocks: list[Block] = []
    section = ""
    fence: str | None = None
    language = ""
    start = 0
    lines: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if fence is None:
            opening = _FENCE.match(line)
            if opening:
                fence, language, start, lines = opening.group(1), opening.group(2), number, []
                continue
            heading = _HEADING.match(line)
            if heading:
                section = heading.group(2)
        elif line.strip() == fence:
            blocks.append(Block(path, language, "\n".join(lines) + "\n", start, section))
            fence = None
        else:
            lines.append(line)
    assert fence is None, f"{path}: the code block opened on line {start} is never closed"
    return blocks


def section_text(path: Path, heading: str) -> str:
    """The text under one heading, up to the next heading of the same or a higher level."""
    out: list[str] = []
    level = 0
    in_code = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if _FENCE.match(line):
            in_code = not in_code
        found = None if in_code else _HEADING.match(line)
        if found and level and len(found.group(1)) <= level:
            break
        if level:
            out.append(line)
        elif found and found.group(2) == heading:
            level = len(found.group(1))
    assert level, f"{path.name} has no heading {heading!r}"
    return "\n".join(out) + "\n"


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, inline-code ticks and punctuation dropped,
    blanks turned into hyphens."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of a Markdown file's headings (a repeated heading gets -1, -2, ...)."""
    found: set[str] = set()
    in_code = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if _FENCE.match(line):
            in_code = not in_code
            continue
        heading = None if in_code else _HEADING.match(line)
        if heading:
            base = slug(heading.group(2))
            anchor, n = base, 0
            while anchor in found:
                n += 1
                anchor = f"{base}-{n}"
            found.add(anchor)
    return found


def relative_links(path: Path) -> list[tuple[int, str]]:
    """(line, target) of every link that is not a URL with a scheme, outside code."""
    links: list[tuple[int, str]] = []
    in_code = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if _FENCE.match(line):
            in_code = not in_code
            continue
        if in_code:
            continue
        for target in _LINK.findall(_INLINE_CODE.sub("", line)):
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):
                links.append((number, target))
    return links
