"""A timestamped recording of a PulseAudio source (``parec``), and its sample clock.

``Recorder`` owns one ``parec`` process and the thread ``omnichat-bench-rec``, which blocks in
``os.read`` on the pipe; ``stop()`` terminates parec, which ends the read with EOF. Each chunk
is stamped with ``time.monotonic()`` when it arrives.

Clock alignment: a chunk holding samples up to index ``n`` arrives at ``arrival``, so
``arrival - n / rate`` is the time of sample 0 plus that chunk's delay. The delay varies: parec's
wake-up, and the null sink rendering ahead of its timeline by a varying part of its latency when
a low-latency stream is connected. ``SampleClock.t0`` is the *median* offset. A marker
calibration (``benchmarks/bench_clock_calibration.py``: a tone written from a PortAudio callback
at a known time) put the median within about 5 ms of the true time at every stream latency tried
(5-90 ms), while the minimum was up to 13 ms early with 2.7 ms sink blocks. ``jitter_ms``
(median minus minimum) and ``block_ms`` are reported with each run as the error indication.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass

import numpy as np

MAX_RECORD_S = 3600  # bound on what one recording may hold in memory
READ_BYTES = 4800
LOUD = 328  # -40 dBFS, as envelope.THRESHOLD_DBFS


@dataclass(frozen=True)
class SampleClock:
    """Monotonic time of recorded sample ``i`` is ``t0 + i / rate_hz``."""

    t0: float
    rate_hz: int
    jitter_ms: float  # median delivery delay beyond the minimum
    block_ms: float  # median samples per delivered chunk, as milliseconds
    drift_ms: float  # alignment from the last third minus the first third of the chunks

    def time_of(self, index: float) -> float:
        return self.t0 + index / self.rate_hz

    def index_at(self, t: float) -> int:
        return int(round((t - self.t0) * self.rate_hz))


def fit_clock(arrivals: list[tuple[float, int]], rate_hz: int) -> SampleClock:
    """The median of ``arrival - samples / rate`` (see the module docstring)."""
    if len(arrivals) < 3:
        raise ValueError("too few chunks to align the recording's clock")
    t = np.array([a for a, _ in arrivals])
    n = np.array([s for _, s in arrivals], dtype=np.float64)
    offsets = t - n / rate_hz
    third = len(offsets) // 3
    sizes = np.diff(np.concatenate(([0.0], n)))
    return SampleClock(
        t0=float(np.median(offsets)), rate_hz=rate_hz,
        jitter_ms=float((np.median(offsets) - offsets.min()) * 1000),
        block_ms=float(np.median(sizes) / rate_hz * 1000),
        drift_ms=float((np.median(offsets[-third:]) - np.median(offsets[:third])) * 1000))


class Recorder:
    """Records ``source`` (mono s16le at ``rate_hz``) until ``stop()``."""

    def __init__(self, source: str, rate_hz: int, env: dict[str, str] | None = None,
                 latency_ms: int = 10) -> None:
        self.source, self.rate_hz = source, rate_hz
        self._proc = subprocess.Popen(
            ["parec", "-d", source, "--raw", f"--rate={rate_hz}", "--channels=1",
             "--format=s16le", f"--latency-msec={latency_ms}"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        self._chunks: list[bytes] = []
        self.arrivals: list[tuple[float, int]] = []  # (monotonic, samples so far)
        self.live = threading.Event()  # set at the first chunk: the recording runs
        self.last_loud_t = 0.0  # monotonic arrival of the last chunk with a loud sample
        self._limit = MAX_RECORD_S * rate_hz
        self._thread = threading.Thread(target=self._read_loop, name="omnichat-bench-rec")
        self._thread.start()

    def _read_loop(self) -> None:
        assert self._proc.stdout is not None
        fd, total_bytes = self._proc.stdout.fileno(), 0
        while chunk := os.read(fd, READ_BYTES):
            now = time.monotonic()
            if total_bytes < self._limit * 2:
                total_bytes += len(chunk)
                self._chunks.append(chunk)
                self.arrivals.append((now, total_bytes // 2))
                if np.abs(np.frombuffer(chunk[: len(chunk) // 2 * 2], "<i2")).max(initial=0) > LOUD:
                    self.last_loud_t = now
            self.live.set()

    def wait_live(self, timeout_s: float = 5.0) -> None:
        if not self.live.wait(timeout_s):
            self.stop()
            raise RuntimeError(f"parec -d {self.source} delivered nothing within {timeout_s} s")

    def wait_quiet(self, quiet_s: float, timeout_s: float) -> bool:
        """Wait until nothing loud arrived for ``quiet_s``; False if ``timeout_s`` passed."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if time.monotonic() - self.last_loud_t >= quiet_s:
                return True
            time.sleep(0.02)
        return False

    def stop(self) -> tuple[np.ndarray, SampleClock | None]:
        """End the recording: the samples (int16) and their clock (None if too short)."""
        if self._proc.poll() is None:
            self._proc.terminate()
        self._proc.wait(timeout=5)
        self._thread.join(timeout=5)
        data = b"".join(self._chunks)
        samples = np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").copy()
        clock = fit_clock(self.arrivals, self.rate_hz) if len(self.arrivals) >= 3 else None
        return samples, clock
