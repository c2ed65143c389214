"""Helpers for tests that run ``omnichat`` as a real process: wait on its output with a deadline."""

from __future__ import annotations

import os
import selectors
import subprocess
import time


def read_until(proc: subprocess.Popen, needle: str, timeout_s: float) -> str:
    """Read the process's stdout until ``needle`` appears; fail after ``timeout_s``."""
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    out, deadline = "", time.monotonic() + timeout_s
    try:
        while needle not in out:
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                raise AssertionError(f"no {needle!r} within {timeout_s} s; got {out!r}")
            chunk = os.read(proc.stdout.fileno(), 4096).decode()
            if not chunk:
                raise AssertionError(f"stdout closed before {needle!r}; got {out!r}")
            out += chunk
    finally:
        selector.close()
    return out
