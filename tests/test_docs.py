"""The README and the docs: short enough to read, and every relative link points somewhere.

A link to a file must name a file of the repository; a link with ``#anchor`` must name a
heading of that file (GitHub's anchor rules: lower case, punctuation dropped, spaces to
hyphens). Section marks like "§4.2" refer to documents outside the repository and are refused.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_FENCE = re.compile(r"```.*?```", re.S)


def _anchor(heading: str) -> str:
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    body = _FENCE.sub("", path.read_text(encoding="utf-8"))
    return {_anchor(line.lstrip("#")) for line in body.splitlines() if line.startswith("#")}


def _links(path: Path) -> list[str]:
    body = _FENCE.sub("", path.read_text(encoding="utf-8"))
    return [m.group(1) for m in _LINK.finditer(body)]


def test_the_readme_reads_in_five_minutes() -> None:
    assert (ROOT / "README.md").stat().st_size < 12 * 1024


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc: Path) -> None:
    broken = []
    for link in _links(doc):
        if re.match(r"^[a-z]+:", link):
            continue  # an absolute URL: not checked offline
        target, _, anchor = link.partition("#")
        path = (doc.parent / target).resolve() if target else doc
        if not path.exists():
            broken.append(f"{link}: no such file")
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
            broken.append(f"{link}: no heading '#{anchor}' in {path.name}")
    assert not broken, f"{doc.name}: {broken}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_references_to_sections_outside_the_repository(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    assert not re.findall(r"§\s*\d|\bS1\d\b", text)
