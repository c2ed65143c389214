"""The README and the docs: short enough to read, and every relative link points somewhere.

A link to a file must name a file of the repository; a link with ``#anchor`` must name a
heading of that file (GitHub's anchor rules: lower case, punctuation dropped, spaces to
hyphens). A section mark like "§4.2" must name a section of docs/protocol.md, the project's
protocol reference, and say so ("docs/protocol.md §4.2"); the code's comments too.
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


PROTOCOL = ROOT / "docs" / "protocol.md"
_SECTION = re.compile(r"(\S*)\s*§\s*(\d+(?:\.\d+)?)")


def _protocol_sections() -> set[str]:
    headings = re.findall(r"^#+ (\d+(?:\.\d+)?)\.? ", PROTOCOL.read_text(encoding="utf-8"),
                          re.M)
    return set(headings)


def _bad_section_marks(text: str, *, inside_protocol: bool = False) -> list[str]:
    """Section marks that name no section of docs/protocol.md, or do not say they mean it."""
    sections = _protocol_sections()
    bad = []
    for match in _SECTION.finditer(text):
        if match.group(1).isdigit():
            continue  # "RFC 6455 §5.3": a section of a public standard
        named = inside_protocol or match.group(1).endswith("protocol.md") or \
            match.group(1) in ("", ",")  # "§4.10, §5.5": a list after a named one
        if not named or match.group(2) not in sections:
            bad.append(match.group(0))
    return bad


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_section_marks_name_sections_of_the_protocol_reference(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    assert not re.findall(r"\bS1\d\b", text)  # a source tag of a document not in the repo
    assert not _bad_section_marks(text, inside_protocol=doc == PROTOCOL)


def test_code_comments_point_into_the_repository() -> None:
    sources = [path for folder in ("omnichat", "tests", "benchmarks")
               for path in sorted((ROOT / folder).rglob("*.py"))
               if ".venv" not in path.parts]
    wrong = []
    for path in sources:
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"(\S*)protocol\.md", text):
            if not match.group(1).endswith("docs/") and path.name != "test_docs.py":
                wrong.append(f"{path.relative_to(ROOT)}: {match.group(0)}")
        if path.name != "test_docs.py":
            wrong += [f"{path.relative_to(ROOT)}: {mark}" for mark in _bad_section_marks(text)]
            # [k], [t]: so this line holds no machine path of its own
            wrong += [f"{path.relative_to(ROOT)}: {p}" for p in re.findall(
                r"/wor[k]/\S*|/roo[t]/\S*|\bshared/seeds\S*", text)]
    assert not wrong
