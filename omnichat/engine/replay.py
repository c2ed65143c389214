"""Speech the service may not have heard, kept so a reconnect can replay it.

A link that dies quietly swallows what is written into it: the kernel accepts the audio
and nothing reaches the service. So the sender remembers the audio it wrote on the current
connection (``sent``, a ring of the last ``max_s`` seconds). When the connection is lost,
``lost`` keeps what the service cannot be known to have heard:

* audio written after the last frame the server sent (less ``ACK_MARGIN_S``, a round trip)
  and past the end of the last speech the server reported (``speech_stopped``'s
  ``audio_end_ms``): a server that still talked had the audio written before it, and one
  that ended a turn at ``audio_end_ms`` had everything up to there (a file sent faster
  than real time is acknowledged by the second rule, not the first);
* and all of the user's speech that got no answer yet (from ``speech_started`` minus a
  short pre-roll), even if frames came after it, because the new session has never heard it.

From then until the new session is ready, the microphone's blocks are held here too
(``hold``). ``take`` hands everything out, in order, to be sent first on the new connection,
so the question asked during the stall is answered. When it does not fit (the outage lasted
longer than ``max_s``, or the part to replay had already left the ring) nothing is replayed,
and ``take`` says how much was lost: the user is told, never silently.

Threads: the sender calls ``sent``, the microphone callback ``hold`` (an append, never a
wait), the reconnect thread ``lost``/``take``. ``_lock`` guards everything; it is held for
deque operations only. ``take`` runs a callback under it so no microphone block can slip
between the replay and the live audio that follows it.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from omnichat.audio import MIC_RATE_HZ, SAMPLE_WIDTH_BYTES

REPLAY_MAX_S = 20.0  # speech a reconnect may replay; an outage past this is said, not sent
ACK_MARGIN_S = 0.5  # audio written this shortly before the last server frame may be unheard
PREROLL_MS = 300  # replay an unanswered question from a little before its speech_started
BYTES_PER_S = MIC_RATE_HZ * SAMPLE_WIDTH_BYTES


@dataclass(frozen=True)
class Replay:
    """What a restored connection sends first, or how much speech could not be sent."""

    pcm: bytes = b""
    lost_s: float = 0.0
    bytes_per_s: int = BYTES_PER_S  # of the microphone's frames (a microphone array: more)

    @property
    def seconds(self) -> float:
        return len(self.pcm) / self.bytes_per_s


class SpeechReplay:
    """The unacknowledged audio of the current connection and of the outage after it."""

    def __init__(self, max_s: float = REPLAY_MAX_S, channels: int = 1):
        self._lock = threading.Lock()
        self._bytes_per_s = BYTES_PER_S * channels  # interleaved frames of a microphone array
        self._capacity = int(max_s * self._bytes_per_s)
        # (written at, stream offset in ms on its connection, pcm): the ring of sent audio
        self._sent: deque[tuple[float, int, bytes]] = deque()
        self._sent_bytes = 0
        self._forgot: tuple[float, int, int] | None = None  # (at, start, end ms): newest let go
        self._kept: list[bytes] = []  # decided at the drop, then what the microphone held
        self._kept_bytes = 0
        self._overflow_bytes = 0  # what did not fit: nothing is replayed, the user is told
        self.holding = False
        self.replays = 0  # outages whose speech was replayed (benchmarks count them)

    def sent(self, at: float, offset_ms: int, pcm: bytes) -> None:
        """The sender wrote ``pcm`` (starting at ``offset_ms`` of this connection's audio)."""
        with self._lock:
            self._sent.append((at, offset_ms, pcm))
            self._sent_bytes += len(pcm)
            while self._sent_bytes > self._capacity:
                at, offset_ms, old = self._sent.popleft()
                self._sent_bytes -= len(old)
                self._forgot = (at, offset_ms, offset_ms + len(old) * 1000 // self._bytes_per_s)

    def lost(self, heard_until: float | None, unanswered_ms: int | None,
             unsent: Callable[[], list[bytes]] = list, heard_ms: int | None = None) -> None:
        """The connection dropped: keep what the service may not have heard, and hold the
        microphone from now on. ``heard_until``: when the last server frame arrived (None:
        never); ``unanswered_ms``: where speech that got no answer began (None: none);
        ``unsent()`` takes the blocks still queued for the sender (they follow);
        ``heard_ms``: the end of the last speech the server reported on this connection."""
        ack_at = (heard_until - ACK_MARGIN_S) if heard_until is not None else float("-inf")
        pin_ms = unanswered_ms - PREROLL_MS if unanswered_ms is not None else None
        with self._lock:
            if self.holding:
                return
            self.holding = True
            def wanted(at: float, offset_ms: int, end_ms: int) -> bool:
                if pin_ms is not None and end_ms > pin_ms:
                    return True  # speech with no answer yet: the new session must hear it
                return at > ack_at and (heard_ms is None or end_ms > heard_ms)

            keep = [pcm for at, offset_ms, pcm in self._sent
                    if wanted(at, offset_ms, offset_ms + len(pcm) * 1000 // self._bytes_per_s)]
            keep += unsent()
            gone = self._forgot is not None and wanted(*self._forgot)
            self._kept = keep
            self._kept_bytes = sum(len(pcm) for pcm in keep)
            self._overflow_bytes = self._kept_bytes if gone else 0
            self._sent.clear()
            self._sent_bytes, self._forgot = 0, None

    def hold_or(self, block: bytes, send: Callable[[], object]) -> None:
        """The microphone's block: held while the connection is down, else ``send()`` is
        called (under the lock: a replay being queued cannot slip in behind it)."""
        with self._lock:
            if not self.holding:
                send()
            elif self._overflow_bytes or self._kept_bytes + len(block) > self._capacity:
                self._overflow_bytes += len(block)
            else:
                self._kept.append(block)
                self._kept_bytes += len(block)

    def take(self, queue_first: Callable[[bytes], None]) -> Replay:
        """Stop holding; hand the speech to replay to ``queue_first`` (under the lock, so
        the microphone's next block goes after it). Nothing is replayed when some of it was
        lost: the whole outage is then reported."""
        with self._lock:
            self.holding = False
            kept, self._kept = b"".join(self._kept), []
            overflow, self._overflow_bytes = self._overflow_bytes, 0
            self._kept_bytes = 0
            if overflow:
                return Replay(lost_s=(len(kept) + overflow) / self._bytes_per_s,
                              bytes_per_s=self._bytes_per_s)
            if kept:
                queue_first(kept)
                self.replays += 1
            return Replay(pcm=kept, bytes_per_s=self._bytes_per_s)

    def forget(self) -> None:
        """A new connection started without an outage (rollover): the ring starts over."""
        with self._lock:
            self._sent.clear()
            self._sent_bytes, self._forgot = 0, None
