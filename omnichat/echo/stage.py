"""``EchoStage``: the echo mode on its own thread, between the microphone and the sender.

Thread ``omnichat-echo`` owns the ``EchoCore`` (canceller state, delay, gate). It blocks only
on its input queue; ``close()`` puts the stop marker there, which unblocks it.

Callers (see docs/echo.md):

* output callback: ``stage.on_played(block, stream_pos, dac_time)`` for every block handed to
  the device (24 kHz int16, its playback-stream position, ``time.outputBufferDacTime``).
  Bounded copies under a short lock, nothing else.
* input callback: ``stage.process(block, adc_time)`` with each 16 kHz int16 block and
  ``time.inputBufferAdcTime``. It copies the block into a bounded queue and returns ``None``
  (the microphone chain must drop the raw block: the stage delivers instead). A full queue
  drops the block and counts it (``dropped_in``).
* the worker calls ``on_output(bytes)`` with processed audio (multiples of 10 ms). It must not
  block (the engine's ``put_nowait`` into its bounded mic queue); an exception it raises is
  counted in ``dropped_out`` and the block is lost. ``on_frame(frame)`` (optional) sees every
  processed 10 ms frame first, e.g. the local barge-in detector.

In mode ``off`` ``process`` calls ``on_output`` inline (no thread, no copy, no latency), unless
``threaded=True`` (an ``on_frame`` such as the voice detector must not run in the callback).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

import numpy as np

from omnichat.echo import FRAME_SAMPLES
from omnichat.echo.core import EchoCore

QUEUE_BLOCKS = 50  # 1 s of 20 ms blocks: the canceller falling that far behind is a fault
_STOP = None


class EchoStage:
    """Runs ``core`` on thread ``omnichat-echo``; a context manager, ``close()`` idempotent."""

    def __init__(self, core: EchoCore, on_output: Callable[[bytes], None], *,
                 on_frame: Callable[[np.ndarray], None] | None = None,
                 queue_blocks: int = QUEUE_BLOCKS, threaded: bool = False):
        self.core = core
        self._on_output = on_output
        self._on_frame = on_frame
        # Raw mic blocks from the input callback (put_nowait) to the worker; bounded.
        self._in: queue.Queue[tuple[np.ndarray, float] | None] = queue.Queue(queue_blocks)
        self.dropped_in = 0
        self.dropped_out = 0
        self.frames = 0
        self.failure: BaseException | None = None
        self._closed = False
        self._thread: threading.Thread | None = None
        if core.mode != "off" or threaded:  # "off" runs inline unless asked not to
            self._thread = threading.Thread(target=self._run, name="omnichat-echo")
            self._thread.start()

    @property
    def mode(self) -> str:
        return self.core.mode

    def on_played(self, block: np.ndarray, stream_pos: int, dac_time: float) -> None:
        """Output callback side: record what the speaker played (callback-safe)."""
        self.core.tap.on_played(block, stream_pos, dac_time)

    def process(self, block: np.ndarray, adc_time: float) -> None:
        """Input callback side: queue a mic block; always returns ``None``."""
        if self._thread is None:
            self._deliver(np.asarray(block, dtype=np.int16))
            return None
        try:
            self._in.put_nowait((np.array(block, dtype=np.int16, copy=True), adc_time))
        except queue.Full:
            self.dropped_in += 1
        return None

    def _run(self) -> None:
        """Worker: blocks on the input queue; the ``None`` marker from ``close()`` ends it."""
        try:
            while (item := self._in.get()) is not _STOP:
                block, adc_time = item
                out = self.core.process(block, adc_time)
                if out.size:
                    self._deliver(out)
        except BaseException as exc:  # kept for the owner; the mic then goes quiet
            self.failure = exc

    def _deliver(self, out: np.ndarray) -> None:
        if self._on_frame is not None:
            for i in range(0, out.size - FRAME_SAMPLES + 1, FRAME_SAMPLES):
                self._on_frame(out[i:i + FRAME_SAMPLES])
        self.frames += out.size // FRAME_SAMPLES
        try:
            self._on_output(out.astype("<i2", copy=False).tobytes())
        except Exception:  # counted: a failing consumer must not kill the worker
            self.dropped_out += 1

    def close(self, timeout_s: float = 2.0) -> None:
        """Stop the worker after the queued blocks; a worker that will not stop is a bug."""
        if self._closed:
            return
        self._closed = True
        if self._thread is None:
            return
        while True:  # make room for the marker: drop what is queued rather than block
            try:
                self._in.put_nowait(_STOP)
                break
            except queue.Full:
                try:
                    self._in.get_nowait()
                    self.dropped_in += 1
                except queue.Empty:
                    pass
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            raise RuntimeError(f"omnichat-echo did not stop within {timeout_s} s (a bug)")

    def __enter__(self) -> EchoStage:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
