"""When a reply's first sample was heard: the playback tap's half of the latency clock.

``HeardWatch`` sits between three threads: the receiver arms it (``watch``) when a reply's
first audio is written; the audio callback feeds it every played block (``on_block``, a
playback tap, run under the playback buffer's lock); the engine drains what it saw (``take``)
before each state step and hands it to ``ConversationState.heard``.

Its lock guards the watch and the hits, and is held for one compare and one store: the tap
never erases a watch it did not fire (the receiver may have armed a new one), and because the
block's position and flush count were taken under the playback lock, samples a barge-in
flushed are never counted as heard.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from omnichat.audio.playback import PlayedBlock


class HeardWatch:
    """Armed with (reply, first sample's stream position); fires once when it is played."""

    def __init__(self, latency_s: Callable[[], float] = lambda: 0.0,
                 clock: Callable[[], float] = time.monotonic):
        self._latency_s = latency_s  # device latency: handed over -> out of the speaker
        self._clock = clock
        self._lock = threading.Lock()
        self._watch: tuple[str, int, int] | None = None  # (response id, start, flush count)
        self._hits: list[tuple[str, float]] = []  # (response id, heard at), drained by take()

    def watch(self, response_id: str, start: int, flushes: int) -> None:
        """Report when stream position ``start`` is played, unless flush ``flushes + 1``
        comes first (it drops the reply's unplayed audio, so it will never be heard)."""
        with self._lock:
            self._watch = (response_id, start, flushes)

    def on_block(self, block: PlayedBlock) -> None:
        """The playback tap (audio thread, under the playback lock): copy and compare only."""
        with self._lock:
            watch = self._watch
            if watch is None:
                return
            response_id, start, flushes = watch
            if block.flushes != flushes:
                self._watch = None  # flushed before a sample of it was played
            elif block.real and block.position + block.real > start:
                self._watch = None
                self._hits.append((response_id, self._clock() + self._latency_s()))

    def take(self) -> list[tuple[str, float]]:
        with self._lock:
            hits, self._hits = self._hits, []
        return hits
