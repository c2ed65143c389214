"""One socket to the service, and the outbox every send goes through.

``Connection`` owns a transport, its generation number (1, 2, ... per engine: a reconnect or
rollover makes a new one) and its microphone clock (the audio sent on *this* socket). It is
never reused: a swap builds a new one, so nothing of the old socket's clock or readiness can
leak onto the new one.

``Outbox`` holds what waits for the socket: control events (commands, cancels, tool output)
ahead of microphone audio, so a cancel never waits behind audio. Any thread puts, without
blocking; exactly one thread — the engine's sender — takes (``next``) and writes. It hands
out, for the current connection only and in this order: the connection's ``session.update``
(once, first), then — only once ``session.updated`` made it ready — control events of that
generation (older ones are dropped), then audio in batches. Events marked ``after_audio``
(images) are held until audio was sent on that connection.

Batching: the microphone delivers 20 ms blocks, and each is sent as soon as it arrives (a
block waited up to 40 ms for a 60 ms batch before: that was most of the client's microphone
to wire time, and it delayed the server's barge-in detection by as much). When the sender
falls behind, what is queued goes out together, at most 100 ms per ``append``. 50 events/s
of ~1 KB each is little next to the reply audio coming the other way.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from omnichat.audio import BLOCK_MS, MIC_RATE_HZ, SAMPLE_WIDTH_BYTES
from omnichat.engine.clocks import MicClock
from omnichat.protocol.events import Event
from omnichat.transport import Transport

BATCH_MIN_MS = BLOCK_MS  # no waiting for company: a block goes out when it arrives
BATCH_MAX_MS = 100
CONTROL_CAPACITY = 1024  # control events waiting; far beyond any conversation's burst
_BYTES_PER_MS = MIC_RATE_HZ * SAMPLE_WIDTH_BYTES // 1000


class Connection:
    """A transport with its generation and microphone clock; see the module docstring."""

    def __init__(self, transport: Transport, generation: int,
                 session: dict[str, Any] | None = None, opened_at: float = 0.0):
        self.transport = transport
        self.generation = generation
        self.session = session  # the session.update payload for this socket (None: default)
        self.opened_at = opened_at  # monotonic time it was connected (rollover age)
        # Replaced whole by the sender after each batch sent on this socket (a reference
        # store is atomic); read by the receiver for each event.
        self.mic_clock = MicClock()
        self.configured = False  # session.update handed to the sender (outbox lock)
        self.ready = False  # session.updated arrived (outbox lock)
        self.audio_sent = False  # audio went out on this socket (outbox lock)
        self.settled = threading.Event()  # ready, or the engine failed: start() stops waiting

    @property
    def url(self) -> str:
        return self.transport.url


@dataclass(frozen=True)
class Outgoing:
    """One thing for the sender to write: ``setup`` (session.update), an event, or audio."""

    connection: Connection
    event: Event | None = None
    audio: bytes = b""
    captured_at: float = 0.0  # capture time of the batch's last block
    setup: bool = False
    ping: bool = False  # let the transport check its keep-alive (send a ping if due)
    probe_s: float | None = None  # probe the link with this deadline (engine/liveness.py)


class Outbox:
    """Control events ahead of audio batches, for the current connection; see the module."""

    def __init__(self, audio_capacity_blocks: int, ping_every_s: float | None = None):
        # Guards everything below; held for deque operations only, never across a send. The
        # microphone callback takes it for one append.
        self._cond = threading.Condition()
        # (generation, event, hold for the first audio, audio blocks that must go first)
        self._control: deque[tuple[int, Event, bool, int]] = deque()
        self._held: list[tuple[int, Event, bool, int]] = []  # after_audio events: no audio yet
        self._audio_in = 0  # blocks ever queued / taken into batches: behind_audio's marks
        self._audio_out = 0
        self._audio: deque[tuple[float, bytes]] = deque()  # (capture time, 20 ms block)
        self._audio_capacity = audio_capacity_blocks
        self._conn: Connection | None = None
        self._stopped = False
        self._ping_every_s = ping_every_s
        self._ping_at = 0.0  # when the next keep-alive check is due
        self._probe: tuple[int, float] | None = None  # (generation, deadline s) requested
        self._replayed_blocks = 0  # replayed blocks queued beyond the capacity, not sent yet
        self.audio_drops = 0
        self.control_drops = 0

    # ---- any thread -----------------------------------------------------------------------

    def put_control(self, generation: int, event: Event, after_audio: bool = False,
                    behind_audio: bool = False) -> None:
        """Queue a control event. ``behind_audio``: it goes out only after every audio block
        queued so far (a push-to-talk commit or clear must not overtake the turn's audio,
        which otherwise waits for its batch while control events jump ahead)."""
        with self._cond:
            if len(self._control) >= CONTROL_CAPACITY:
                self.control_drops += 1
                return
            mark = self._audio_in if behind_audio else 0
            self._control.append((generation, event, after_audio, mark))
            self._cond.notify()

    def put_audio(self, captured_at: float, block: bytes) -> bool:
        """Queue a microphone block; False (and counted) when full. Never blocks long."""
        with self._cond:
            if len(self._audio) >= self._audio_capacity + self._replayed_blocks:
                self.audio_drops += 1
                return False
            self._audio.append((captured_at, block))
            self._audio_in += 1
            self._cond.notify()
            return True

    @property
    def audio_room(self) -> int:
        """Blocks that may still be queued before microphone blocks are dropped."""
        with self._cond:
            return self._audio_capacity - len(self._audio)

    def set_connection(self, conn: Connection | None) -> None:
        """Publish the connection the sender serves (None: pause it during a swap)."""
        with self._cond:
            self._conn = conn
            self._cond.notify()

    def mark_ready(self, conn: Connection) -> None:
        with self._cond:
            conn.ready = True
            self._cond.notify()
        conn.settled.set()

    def current(self) -> Connection | None:
        with self._cond:
            return self._conn

    def take_audio(self) -> list[bytes]:
        """Remove the queued microphone blocks (the connection dropped: they go into the
        speech replay, engine/replay.py)."""
        with self._cond:
            blocks = [block for _, block in self._audio]
            self._audio.clear()
            self._replayed_blocks = 0
            return blocks

    def queue_first(self, pcm: bytes) -> None:
        """Put replayed speech ahead of the queued audio, in microphone-sized blocks; it may
        exceed the capacity (the replay is bounded by its own limit)."""
        size = BLOCK_MS * _BYTES_PER_MS
        now = time.monotonic()
        blocks = [(now, pcm[i:i + size]) for i in range(0, len(pcm), size)]
        with self._cond:
            self._audio.extendleft(reversed(blocks))
            self._audio_in += len(blocks)
            self._replayed_blocks += len(blocks)
            self._cond.notify()

    def request_probe(self, generation: int, timeout_s: float) -> None:
        """Ask the sender to probe the link of ``generation`` (engine/liveness.py)."""
        with self._cond:
            if self._probe is None or generation >= self._probe[0]:
                self._probe = (generation, timeout_s)
                self._cond.notify()

    def stop(self) -> None:
        """Unblock the sender for good (``next`` returns None)."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    # ---- the sender only ------------------------------------------------------------------

    def next(self) -> Outgoing | None:
        """Block until something may be written on the current connection; None = stop.

        Unblocked by a put, a connection change, readiness, or ``stop()``."""
        with self._cond:
            while not self._stopped:
                conn = self._conn
                timeout: float | None = None
                if conn is not None and not conn.configured:
                    conn.configured = True
                    return Outgoing(conn, setup=True)
                if conn is not None and conn.ready:
                    probe, self._probe = self._probe, None
                    if probe is not None and probe[0] == conn.generation:
                        return Outgoing(conn, probe_s=probe[1])
                    timeout = self._ping_due(conn)
                    if timeout is None:
                        return Outgoing(conn, ping=True)
                    event = self._next_control(conn)
                    if event is not None:
                        return Outgoing(conn, event=event)
                    batch, batch_wait = self._next_batch(time.monotonic(),
                                                         self._audio_awaited())
                    if batch is not None:
                        return Outgoing(conn, audio=batch[0], captured_at=batch[1])
                    timeout = _earliest(timeout, batch_wait)
                self._cond.wait(timeout)
            return None

    def _ping_due(self, conn: Connection) -> float | None:
        """None when a keep-alive check is due now; else how long until it is (inf: never)."""
        if self._ping_every_s is None:
            return float("inf")
        now = time.monotonic()
        if now >= self._ping_at:
            self._ping_at = now + self._ping_every_s
            return None
        return self._ping_at - now

    def audio_went_out(self, conn: Connection) -> None:
        """Audio was written on ``conn``: events held for it may go now (images)."""
        with self._cond:
            if conn.audio_sent:
                return
            conn.audio_sent = True
            held = [item for item in self._held if item[0] == conn.generation]
            self._held = []
            self._control.extendleft(reversed(held))
            self._cond.notify()

    def _next_control(self, conn: Connection) -> Event | None:
        while self._control:
            generation, event, after_audio, mark = self._control[0]
            if generation == conn.generation and self._audio and mark > self._audio_out:
                return None  # its audio goes first (and is due now: _audio_awaited)
            self._control.popleft()
            if generation != conn.generation:
                continue  # meant for a socket that is gone
            if after_audio and not conn.audio_sent:
                self._held.append((generation, event, after_audio, mark))
                continue
            return event
        return None

    def _audio_awaited(self) -> bool:
        """A behind_audio event waits for queued audio: send it without batching delay."""
        return bool(self._control) and self._control[0][3] > self._audio_out

    def _next_batch(self, now: float, flush: bool = False
                    ) -> tuple[tuple[bytes, float] | None, float | None]:
        """(batch, None) when one is due (or ``flush``); else (None, seconds until it is)."""
        if not self._audio:
            return None, None
        queued = sum(len(block) for _, block in self._audio)
        first_at = self._audio[0][0]
        due_at = first_at + (BATCH_MIN_MS - BLOCK_MS) / 1000.0
        if not flush and queued < BATCH_MIN_MS * _BYTES_PER_MS and now < due_at:
            return None, due_at - now
        parts: list[bytes] = []
        size, captured_at = 0, first_at
        while self._audio and size < BATCH_MAX_MS * _BYTES_PER_MS:
            captured_at, block = self._audio.popleft()
            self._audio_out += 1
            self._replayed_blocks = max(0, self._replayed_blocks - 1)
            parts.append(block)
            size += len(block)
        return (b"".join(parts), captured_at), None


def _earliest(a: float | None, b: float | None) -> float | None:
    """The shorter of two waits (None: no limit; inf counts as no limit)."""
    waits = [w for w in (a, b) if w is not None and w != float("inf")]
    return min(waits) if waits else None
