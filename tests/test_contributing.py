"""CONTRIBUTING's layout is the tree: every entry it lists exists, and every package and
top-level module of omnichat/ is listed, so the map cannot go stale when the code moves."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# "  name.py   what it does" or "  name/   what it does"; the indent says how deep it is.
_ENTRY = re.compile(r"^(?P<indent> *)(?P<name>[\w.]+(?:\.py|/))(?:\s|$)")


def layout(text: str) -> list[str]:
    """The paths that the first code block under "## Layout" lists, relative to the repo."""
    section = ("\n" + text).split("\n## Layout", 1)[1].split("\n## ", 1)[0]
    block = section.split("```", 2)[1]
    paths: list[str] = []
    parents: list[tuple[int, str]] = []  # (indent, folder) of the enclosing entries
    for line in block.splitlines():
        match = _ENTRY.match(line)
        if not match:
            continue
        indent, name = len(match["indent"]), match["name"]
        while parents and parents[-1][0] >= indent:
            parents.pop()
        path = "".join(folder for _, folder in parents) + name
        paths.append(path)
        if name.endswith("/"):
            parents.append((indent, name))
    return paths


def test_every_listed_module_and_package_exists():
    listed = layout((REPO / "CONTRIBUTING.md").read_text(encoding="utf-8"))
    missing = [path for path in listed if not (REPO / path).exists()]
    assert "omnichat/config/table.py" in listed and not missing


def test_every_package_and_top_level_module_is_listed():
    listed = set(layout((REPO / "CONTRIBUTING.md").read_text(encoding="utf-8")))
    package = REPO / "omnichat"
    packages = {f"omnichat/{p.parent.name}/" for p in package.glob("*/__init__.py")}
    modules = {f"omnichat/{p.name}" for p in package.glob("*.py") if p.name != "__init__.py"}
    assert packages and modules
    assert packages | modules <= listed, sorted((packages | modules) - listed)


def test_the_layout_reader_sees_nesting_and_misses():
    text = ("## Layout\n\n```\nomnichat/\n  cli.py   the commands\n  config/  settings\n"
            "    table.py  rows\n  gone.py  moved away\ntests/   suite\n```\n## Next\n")
    assert layout(text) == ["omnichat/", "omnichat/cli.py", "omnichat/config/",
                            "omnichat/config/table.py", "omnichat/gone.py", "tests/"]
