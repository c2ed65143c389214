"""Shared test setup: every test runs with an isolated config, data dir and environment,
and no omnichat thread may outlive the test that started it.

Fixtures for the emulator and the virtual sound card live in ``fixtures_emulator.py`` and
``fixtures_audio.py`` and are re-exported here.
"""

from __future__ import annotations

import sys
import sysconfig
import threading
import time
from pathlib import Path

import pytest
from fixtures_audio import *  # noqa: F403
from fixtures_emulator import *  # noqa: F403

pytest_plugins = ["tiers", "pytester"]  # tiers: audio/subprocess markers (tests/tiers.py)

_SECRET_ENV = ("DASHSCOPE_API_KEY", "OMNICHAT_CONFIG", "OMNICHAT_REGION", "OMNICHAT_MODEL",
               "OMNICHAT_VOICE")


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path_factory, monkeypatch):
    """Point config and data dirs at a fresh temp dir and drop any real key from the env."""
    home = tmp_path_factory.mktemp("home")
    for name in _SECRET_ENV:
        monkeypatch.delenv(name, raising=False)
    for name in list(__import__("os").environ):
        if name.startswith("OMNICHAT_"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    yield home


# How long after the test function returned its omnichat threads may still be stopping
# (fixture teardown included). Shutdown joins take milliseconds; a thread still alive after
# this is a slow or stuck shutdown, named with where it is, not waited out.
THREAD_GRACE_S = 1.0
_CALL_ENDED = pytest.StashKey[float]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    try:
        return (yield)
    finally:
        item.stash[_CALL_ENDED] = time.monotonic()


def _where(thread: threading.Thread) -> str:
    """The thread's name and the innermost line of its stack outside Python's own library."""
    frame = sys._current_frames().get(thread.ident or -1)
    stdlib = sysconfig.get_paths()["stdlib"]
    while frame is not None and frame.f_back is not None \
            and frame.f_code.co_filename.startswith(stdlib):
        frame = frame.f_back
    if frame is None:
        return thread.name
    return f"{thread.name} (at {Path(frame.f_code.co_filename).name}:{frame.f_lineno} " \
           f"in {frame.f_code.co_name})"


@pytest.fixture(autouse=True)
def no_leaked_threads(request):
    """Fail a test whose ``omnichat*`` threads still run ``THREAD_GRACE_S`` after it returned,
    naming each thread and the line it is stuck on."""
    before = set(threading.enumerate())
    yield
    leaked = [t for t in threading.enumerate()
              if t not in before and t.name.startswith("omnichat") and t.is_alive()]
    deadline = request.node.stash.get(_CALL_ENDED, time.monotonic()) + THREAD_GRACE_S
    for thread in leaked:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    still = [_where(t) for t in leaked if t.is_alive()]
    assert not still, f"threads still running {THREAD_GRACE_S} s after the test: {still}"
