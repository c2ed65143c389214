"""The two test tiers: which tests ``make check`` runs, and how ``make test`` spreads them.

Two markers (registered in ``pyproject.toml``) are set here at collection from what a test
uses, so a new test lands in its tier without anyone marking it:

- ``audio``: it plays or records on a virtual sound card: it uses the ``virtual_audio``
  fixture, or starts a rig of its own through ``fixtures_audio._run_rig``. ``make test`` runs
  these in real time on two workers, each on a rig of its own and a test file at a time,
  beside the xdist workers that run the rest and load the cores meanwhile.
- ``subprocess``: it starts a program. Its code, the tests' own helpers it calls (followed
  through the modules in ``tests/``) or its fixtures use ``subprocess``, ``pexpect`` or a
  fork. A test that starts one only through omnichat itself (an MCP server named in a
  config) says so by hand with ``@pytest.mark.subprocess``.

Helpers that run a program only to make test data (``DATA_MAKERS``: espeak-ng speech, an
openssl certificate) do not make a test a ``subprocess`` one. ``make check`` deselects both
markers; in such a run a test that starts a process anyway fails and says how to mark it
(``_guard``).
"""

from __future__ import annotations

import functools
import inspect
import os
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
SPAWNING = frozenset({"subprocess", "pexpect", "ptyprocess", "multiprocessing", "fork",
                      "forkpty", "spawn", "posix_spawn"})
RIG = frozenset({"virtual_audio", "_run_rig"})
# Fixtures and helpers that run a program only to make test data (espeak-ng speech, an
# openssl certificate): not followed. A new one not named here only costs `make check` time.
DATA_MAKERS = frozenset({"speech_pcm", "espeak", "espeak_wav", "self_signed"})
# Programs a test in `make check` may start: test data, and what ctypes/platform run inside
# imports (find_library runs ldconfig; some SDKs ask uname).
ALLOWED_PROGRAMS = frozenset({"espeak-ng", "openssl", "ldconfig", "uname", "gcc", "cc", "ld",
                              "objdump"})


@functools.cache
def _module_is_ours(module_name: str) -> bool:
    file = getattr(sys.modules.get(module_name), "__file__", None)
    return file is not None and Path(file).resolve().parent == TESTS_DIR


def _is_ours(obj: object) -> bool:
    """``obj`` (a function or class) is defined in a module of ``tests/``."""
    return _module_is_ours(getattr(obj, "__module__", None) or "")


def _codes(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


def _names(obj: object, seen: set[int]) -> set[str]:
    """Names the code of ``obj`` uses, following into the tests' own functions and classes
    it refers to (not into the data makers)."""
    if id(obj) in seen:
        return set()
    seen.add(id(obj))
    if isinstance(obj, type):
        found: set[str] = set()
        for member in vars(obj).values():
            member = getattr(member, "__func__", member)  # staticmethod, classmethod
            member = getattr(member, "fget", member)  # property
            if inspect.isfunction(member):
                found |= _names(member, seen)
        return found
    func = inspect.unwrap(obj)  # type: ignore[arg-type]
    if not inspect.isfunction(func) or func.__name__ in DATA_MAKERS:
        return set()
    found: set[str] = set()
    for code in _codes(func.__code__):
        for name in code.co_names:
            found.add(name)
            value = func.__globals__.get(name)
            if isinstance(value, types.ModuleType):
                found.add(value.__name__.split(".")[0])
            elif (inspect.isfunction(value) or isinstance(value, type)) and _is_ours(value):
                found |= _names(value, seen)
    return found


def _fixture_funcs(item: pytest.Item) -> Iterator[tuple[str, object]]:
    info = getattr(item, "_fixtureinfo", None)
    for name, defs in (info.name2fixturedefs.items() if info else ()):
        func = defs[-1].func
        if _is_ours(func) and getattr(func, "__module__", None) != __name__:  # not _guard
            yield name, func


def _uses(obj: object, memo: dict[int, set[str]]) -> set[str]:
    if id(obj) not in memo:  # a parametrized test or a shared fixture is read once
        memo[id(obj)] = _names(obj, set())
    return memo[id(obj)]


def tiers_of(item: pytest.Item, memo: dict[int, set[str]]) -> set[str]:
    """``{"audio", "subprocess"}`` or part of it, from the code and fixtures ``item`` uses."""
    used = set(getattr(item, "fixturenames", ())) | _uses(getattr(item, "obj", None), memo)
    for _, func in _fixture_funcs(item):
        used |= _uses(func, memo)
    tiers = set()
    if used & RIG:
        tiers.add("audio")
    if used & SPAWNING:
        tiers.add("subprocess")
    return tiers


@pytest.hookimpl(tryfirst=True)  # before -m deselects by these marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    memo: dict[int, set[str]] = {}
    for item in items:
        tiers = tiers_of(item, memo)
        if "audio" in tiers:
            item.add_marker(pytest.mark.audio)
        if "subprocess" in tiers and not item.get_closest_marker("subprocess"):
            item.add_marker(pytest.mark.subprocess)


def _checking(config: pytest.Config) -> bool:
    """This run leaves out the tests that start processes (``make check``)."""
    expr = config.getoption("markexpr", "") or ""
    return "not subprocess" in expr


@pytest.fixture(autouse=True)
def _guard(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """In ``make check``, a test that starts a process but is not marked fails, saying so."""
    node = request.node
    if not _checking(request.config) or node.get_closest_marker("subprocess"):
        return
    where = node.nodeid

    def refuse(program: str) -> None:
        pytest.fail(f"{where} starts a process ({program}) but is not marked: it belongs in "
                    "`make test`; add @pytest.mark.subprocess (tests/tiers.py)", pytrace=False)

    execute = subprocess.Popen._execute_child  # type: ignore[attr-defined]

    def execute_child(self, args, executable, *rest, **kwargs):  # type: ignore[no-untyped-def]
        program = executable or (args if isinstance(args, (str, bytes)) else args[0])
        if os.path.basename(os.fsdecode(program)) not in ALLOWED_PROGRAMS:
            refuse(os.fsdecode(program))
        return execute(self, args, executable, *rest, **kwargs)

    monkeypatch.setattr(subprocess.Popen, "_execute_child", execute_child)
    for name in ("fork", "forkpty", "posix_spawn", "posix_spawnp", "system"):
        if hasattr(os, name):
            monkeypatch.setattr(os, name, lambda *a, _name=name, **k: refuse(f"os.{_name}"))
