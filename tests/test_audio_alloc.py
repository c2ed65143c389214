"""The audio path's per-block work copies into memory allocated once (tracemalloc, not timed).

The microphone's PortAudio callback and the speaker's feed (what its thread hands the device
each block) run hundreds of times a second. They must not allocate a block's worth of memory
per call: a garbage collection or a page fault there is an underrun on a busy machine. Each
check runs a few hundred blocks under ``tracemalloc`` and asserts that the peak rose by less
than one block's samples (a numpy view of a preallocated array costs ~100 B of header) and
that nothing was left allocated.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from omnichat.audio import MIC_RATE_HZ
from omnichat.audio.device_feed import DeviceFeed
from omnichat.audio.microphone import Microphone
from omnichat.audio.playback import PlaybackBuffer

BLOCKS = 300


def allocated_per_run(run: Callable[[], None], between: Callable[[], None] = lambda: None,
                      batches: int = 5) -> tuple[int, int]:
    """(largest peak rise, net growth) in bytes over ``batches`` runs of ``run``."""
    run()  # warm-up: first-call caches, lazily built views
    between()
    tracemalloc.start()
    try:
        peak_rise = net = 0
        for _ in range(batches):
            tracemalloc.reset_peak()
            before = tracemalloc.get_traced_memory()[0]
            run()
            after, peak = tracemalloc.get_traced_memory()
            peak_rise, net = max(peak_rise, peak - before), net + after - before
            between()
    finally:
        tracemalloc.stop()
    return peak_rise, net


class _FakeSd:
    """Just enough of ``sounddevice`` for ``Microphone._open``: the stream keeps its kwargs."""

    PortAudioError = RuntimeError

    def __init__(self) -> None:
        self.kwargs: dict[str, Any] = {}

    def query_devices(self, index: Any, kind: str) -> dict[str, float]:
        return {f"default_low_{kind}_latency": 0.01}

    def InputStream(self, **kwargs: Any) -> SimpleNamespace:
        self.kwargs = kwargs
        return SimpleNamespace(**kwargs)


@pytest.mark.parametrize("rate", [MIC_RATE_HZ, 48000])
def test_the_microphone_callback_copies_into_preallocated_memory(rate):
    mic = Microphone(lambda block: None)
    sd = _FakeSd()
    mic._open(sd, None, rate)  # the seam PortAudio opens through (a 48 kHz device resamples)
    callback = sd.kwargs["callback"]
    frames = sd.kwargs["blocksize"]
    indata = (np.arange(frames, dtype=np.int16) % 1000).reshape(-1, 1)
    status = SimpleNamespace(input_overflow=False)
    time_info = SimpleNamespace(inputBufferAdcTime=12.5)
    delivered: list[int] = []

    def run() -> None:
        for _ in range(60):  # within the 64 slots the worker would drain
            callback(indata, frames, time_info, status)

    def drain() -> None:  # the worker's part, not measured
        mic._slots.drain(lambda block, adc: delivered.append(block.size))

    peak, net = allocated_per_run(run, drain)
    print(f"\nmicrophone callback at {rate} Hz: peak +{peak} B, net {net:+d} B per 60 blocks "
          f"of {frames * 2} B")
    assert delivered and set(delivered) == {frames}
    assert mic.overflows == 0
    assert peak < frames * 2 and net < 256


def test_the_speaker_feed_copies_into_preallocated_memory():
    device_rate = 24000  # a device that refuses it resamples in the speaker's thread (soxr)
    buf = PlaybackBuffer()
    feed = DeviceFeed(buf, device_rate, block_ms=20)  # 960 B: far above a view's header
    reply = (np.arange(24000 * 10) % 2000).astype(np.int16).tobytes()  # 10 s to read from
    buf.write(reply)
    blocks: list[int] = []

    def run() -> None:
        for _ in range(BLOCKS):
            feed.next_block(1.0)

    peak, net = allocated_per_run(run, lambda: blocks.append(buf.played_samples))
    print(f"\nspeaker feed at {device_rate} Hz: peak +{peak} B, net {net:+d} B per {BLOCKS} "
          f"blocks of {feed.block_frames * 2} B")
    assert blocks[-1] > blocks[0]  # it really played
    assert peak < feed.block_frames * 2 and net < 256
