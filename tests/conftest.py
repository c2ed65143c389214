"""Shared test setup: every test runs with an isolated config, data dir and environment,
and no omnichat thread may outlive the test that started it.

Fixtures for the emulator and the virtual sound card live in ``fixtures_emulator.py`` and
``fixtures_audio.py`` and are re-exported here.
"""

from __future__ import annotations

import threading

import pytest
from fixtures_audio import *  # noqa: F403
from fixtures_emulator import *  # noqa: F403

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


@pytest.fixture(autouse=True)
def no_leaked_threads():
    """Fail a test that leaves an ``omnichat-*`` thread running after it returns."""
    before = set(threading.enumerate())
    yield
    leaked = [t for t in threading.enumerate()
              if t not in before and t.name.startswith("omnichat") and t.is_alive()]
    for thread in leaked:
        thread.join(timeout=5.0)
    still = [t.name for t in leaked if t.is_alive()]
    assert not still, f"threads outlived the test: {still}"
