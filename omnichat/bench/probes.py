"""Measurements that need no audio: process CPU and memory, start-up time, region round trip.

``ResourceSampler.sample()`` is called by the bench's main thread about once a second; it reads
this process's CPU time (``os.times``) and resident memory (``/proc/self/status`` VmRSS, or the
peak from ``getrusage`` where there is no /proc) and counters the caller passes (underruns,
drops), and turns them into per-interval values.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

CONNECT_TIMEOUT_S = 5.0


def rss_mb() -> float:
    """This process's resident memory in MB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource  # no /proc (macOS): the peak is the best there is

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0)


def _cpu_s() -> float:
    t = os.times()
    return t.user + t.system


class ResourceSampler:
    """CPU percent of one core and RSS per interval; counter rates per minute."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last = (clock(), _cpu_s())
        self._counters: dict[str, float] = {}
        self.values: dict[str, list[float]] = {"cpu_percent": [], "rss_mb": []}

    def sample(self, counters: Mapping[str, float] | None = None) -> None:
        now, cpu = self._clock(), _cpu_s()
        wall = now - self._last[0]
        if wall <= 0:
            return
        self.values["cpu_percent"].append(100.0 * (cpu - self._last[1]) / wall)
        self.values["rss_mb"].append(rss_mb())
        for name, value in (counters or {}).items():
            before = self._counters.get(name)
            if before is not None:
                self.values.setdefault(f"{name}_per_min", []).append((value - before) * 60 / wall)
            else:
                self.values.setdefault(f"{name}_per_min", [])
            self._counters[name] = value
        self._last = (now, cpu)


def startup_times(argv: list[str], runs: int) -> list[float]:
    """Wall time in ms of ``python -m omnichat ARGV`` (a fresh interpreter each run)."""
    out = []
    env = {**os.environ, "NO_COLOR": "1"}
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "omnichat", *argv], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                       timeout=60, check=False)
        out.append((time.perf_counter() - start) * 1000.0)
    return out


def connect_times(url: str, runs: int, timeout_s: float = CONNECT_TIMEOUT_S) -> list[float]:
    """TCP connect + TLS handshake to the host of ``url`` (wss://), in ms, per run; a failed
    attempt is left out. No HTTP request and no key: nothing is sent after the handshake."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme in ("wss", "https") else 80)
    context = ssl.create_default_context()
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        try:
            with socket.create_connection((host, port), timeout=timeout_s) as raw:
                if parts.scheme in ("wss", "https"):
                    with context.wrap_socket(raw, server_hostname=host):
                        pass
        except OSError:
            continue
        out.append((time.perf_counter() - start) * 1000.0)
    return out


def cpu_by_thread() -> dict[str, float]:
    """CPU seconds per thread of this process so far (Linux ``/proc``; empty elsewhere).
    Python threads by name; threads Python did not start (PortAudio's) by their OS name."""
    import threading

    names = {t.native_id: t.name for t in threading.enumerate()}
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    out: dict[str, float] = {}
    try:
        tasks = list(Path("/proc/self/task").iterdir())
    except OSError:
        return out
    for task in tasks:
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            comm = (task / "comm").read_text().strip()
        except OSError:
            continue
        name = names.get(int(task.name), f"os:{comm}")
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
    return {k: round(v, 2) for k, v in sorted(out.items(), key=lambda kv: -kv[1])}
