"""The hands-free conversation: two threads around one socket, and the turn state between them.

Threads and what unblocks them::

    mic callback  --feed_mic()/put_nowait--> mic_frames (bounded; None = stop; drops counted)
    omnichat-send  mic_frames.get()  -> transport.send(input_audio_buffer.append)
                   unblocked by: a block, or the None that close() puts
    omnichat-recv  transport.recv()  (the only reader of the socket)
                   audio delta -> playback.write();  speech_started -> flush + response.cancel
                   everything the user should see -> updates.put()
                   unblocked by: a frame, or transport.close() shutting the socket down
    main thread    poll(): updates.get(timeout) + the clock work (latency heard, reply
                   finished playing, status) -> the view; close() joins everything

The event handlers, barge-in and turn finishing live in ``receive.py`` (mixed in).

Shared: ``_stop`` (an Event), ``_lock`` (the reply/turn state below, held for bookkeeping
only, never across I/O: a handler queues ``response.cancel`` and finished turns, and
``_after_lock`` sends and hands them out once it is released), and the first failure,
re-raised by ``close()`` after every thread is joined.

Latency is end of speech -> first reply sample heard. The end of speech is not when
``speech_stopped`` arrives (that is the VAD's silence wait later) but the capture time of the
sample at its ``audio_end_ms``: the sender keeps ``_mic_clock`` (samples sent on this socket,
capture time of the last one), and the microphone delivers in real time.

Batching (sender): the microphone delivers 20 ms blocks. Each ``append`` carries at least
60 ms (waiting at most 40 ms for the rest) and at most 100 ms — what is already queued is
sent at once. 10–17 events/s keeps the JSON/base64 overhead small, and the 40 ms worst case
is small next to the server's 800 ms end-of-speech silence; the vendor samples use 100 ms.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from omnichat.audio import BLOCK_MS, MIC_RATE_HZ, SAMPLE_WIDTH_BYTES
from omnichat.audio.playback import PlaybackBuffer
from omnichat.engine import updates as up
from omnichat.engine.receive import EventHandlers, _Reply
from omnichat.engine.turns import Conversation, Turn
from omnichat.errors import ConnectionLost
from omnichat.protocol import client as cev
from omnichat.protocol.events import Event
from omnichat.transport import Transport

MIC_QUEUE_S = 2.0  # how much microphone audio may wait for the sender before blocks drop
BATCH_MIN_MS = 60
BATCH_MAX_MS = 100
READY_TIMEOUT_S = 10.0  # connect + session.update -> session.updated
JOIN_TIMEOUT_S = 3.0
AWAIT_RESPONSE_S = 10.0  # speech_stopped without any response.created: stop waiting
# A reply is streaming (response.created, no response.done) and the server has sent nothing
# for this long: the connection is dead or the service hung. Generous: a web search may pause
# the stream for a few seconds, while deltas normally come every 100-200 ms.
STALL_TIMEOUT_S = 20.0
_BYTES_PER_MS = MIC_RATE_HZ * SAMPLE_WIDTH_BYTES // 1000


class Engine(EventHandlers):
    """A conversation over a replaceable ``Transport``; a context manager.

    ``connect`` builds an unconnected transport (called again by a future reconnect).
    ``playback`` is None in text-only mode. ``on_turn`` is called with each finished turn
    (from the receiver or the main thread) — the transcript writer.
    """

    def __init__(self, session: Mapping[str, Any], connect: Callable[[], Transport],
                 playback: PlaybackBuffer | None = None, *,
                 on_turn: Callable[[Turn], None] | None = None,
                 ready_timeout_s: float = READY_TIMEOUT_S,
                 stall_timeout_s: float = STALL_TIMEOUT_S):
        self.conversation = Conversation(dict(session))
        self.playback = playback
        self._connect = connect
        self._on_turn = on_turn
        self._ready_timeout_s = ready_timeout_s
        self._stall_timeout_s = stall_timeout_s
        # Monotonic time of the last server frame: written by the receiver, read by _tick
        # (a float store is atomic; a stale read only delays the stall check by one poll).
        self._last_frame_at = time.monotonic()
        self._transport: Transport | None = None
        # (capture time, block) waiting for the sender; bounded so a stalled socket costs
        # memory of MIC_QUEUE_S at most; the audio callback never waits (put_nowait, drops
        # counted).
        self._mic_frames: queue.Queue[tuple[float, bytes] | None] = queue.Queue(
            maxsize=int(MIC_QUEUE_S * 1000 // BLOCK_MS))
        # (samples sent on this socket, capture time of the last one): the server's audio
        # clock mapped onto ours, so speech_stopped's audio_end_ms becomes the moment the
        # user stopped talking. Replaced whole by the sender (a tuple store is atomic).
        self._mic_clock: tuple[int, float] = (0, time.monotonic())
        # Updates for the main thread; unbounded because the main thread drains it every
        # poll and a put must never block the receiver.
        self.updates: queue.Queue[up.Update] = queue.Queue()
        self._stop = threading.Event()
        self._settled = threading.Event()  # session.updated arrived, or a failure
        self._ready = False
        self._failure: BaseException | None = None
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._swapping = False  # reconnect() in progress: a send on the old socket may fail
        # Guards everything below: touched by the receiver and by poll()/close() on main.
        self._lock = threading.Lock()
        self._reply: _Reply | None = None
        # I/O the handlers decide on under _lock and do after releasing it (_after_lock):
        # events to send (response.cancel; the receiver only) and turns to hand to on_turn.
        self._outbox: list[Event] = []
        self._finished: list[Turn] = []
        # Keeps finished turns in order when the receiver and the main thread both hand
        # some out; held for the on_turn callback (a transcript line) only.
        self._turn_lock = threading.Lock()
        self._cancelled: set[str] = set()  # response ids whose late deltas are dropped
        self._user_speaking = False
        self._barged = False
        self._speech_started: dict[str, Any] = {}  # item_id -> wall time of speech_started
        self._stopped_at: float | None = None  # last speech_stopped not yet answered
        self._speech_ended_at = 0.0  # when the user stopped talking (for _stopped_at's turn)
        self._status = up.CONNECTING
        # The reply whose first sample the played listener is waiting for (audio thread reads).
        self._watch: _Reply | None = None
        self.mic_drops = 0
        self.dropped_deltas = 0
        self.last_latency_ms: float | None = None
        if playback is not None:
            playback.add_played_listener(self._on_played)

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Connect, configure the session and start both threads; raises on failure."""
        try:
            self._transport = self._connect()
            self._transport.connect()
            self._spawn(self._recv_loop, "omnichat-recv", self._transport)
            self._transport.send(cev.session_update(self.conversation.session))
            if not self._settled.wait(self._ready_timeout_s):
                raise ConnectionLost(f"no session.updated from {self._transport.url} within "
                                     f"{self._ready_timeout_s:.0f} s")
            if self._failure is not None:
                raise self._failure
            self._spawn(self._send_loop, "omnichat-send")
        except BaseException:
            self._failure = None  # raised right here; close() must not raise it twice
            self.close()
            raise

    def _spawn(self, target, name: str, *args) -> None:
        thread = threading.Thread(target=target, name=name, args=args)
        self._threads.append(thread)
        thread.start()

    def close(self) -> None:
        """Stop, close the socket with 1000, join every thread; re-raise the first failure.

        Idempotent. Close the microphone first so nothing feeds a stopped engine.
        """
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._put_stop_marker()
        self._join("omnichat-send")
        if self._transport is not None:
            self._transport.close()
        self._join("omnichat-recv")
        if self._transport is not None:
            self._transport.release()
        with self._lock:
            if self._reply is not None:
                self._end_reply_at_close(self._reply)
            self._outbox.clear()  # the socket is gone
        self._after_lock()
        self._set_status(up.CLOSED)
        alive = [t.name for t in self._threads if t.is_alive()]
        if alive:  # pragma: no cover - a bug, reported rather than hidden
            raise RuntimeError(f"threads did not stop within {JOIN_TIMEOUT_S} s: {alive}")
        if self._failure is not None:
            raise self._failure

    def reconnect(self) -> None:
        """Replace the socket mid-conversation (main thread): the old one is closed with 1000
        and joined, a new one is opened and the session settings are replayed on it.

        A new socket is a new service session (protocol.md §1); replaying the finished turns
        as context items is the next step and fits here. Raises like ``start()``.
        """
        old = self._transport
        with self._lock:
            self._swapping = True
            self._set_status(up.RECONNECTING)
            if self._reply is not None:
                self._end_reply_at_close(self._reply)
            self._ready, self._user_speaking, self._stopped_at = False, False, None
            self._outbox.clear()  # meant for the old socket
        self._after_lock()
        self._settled.clear()
        if old is not None:
            old.close()
            for thread in [t for t in self._threads if t.name == "omnichat-recv"]:
                thread.join(JOIN_TIMEOUT_S)
            old.release()
        self._threads = [t for t in self._threads if t.is_alive()]
        new = self._connect()
        new.connect()
        self._transport = new
        self._mic_clock = (0, time.monotonic())  # a new socket is a new audio clock
        self._spawn(self._recv_loop, "omnichat-recv", new)
        new.send(cev.session_update(self.conversation.session))
        if not self._settled.wait(self._ready_timeout_s) or self._failure is not None:
            raise self._failure or ConnectionLost(f"no session.updated from {new.url}")
        self._swapping = False

    def _join(self, name: str) -> None:
        for thread in self._threads:
            if thread.name == name and thread is not threading.current_thread():
                thread.join(JOIN_TIMEOUT_S)

    def _put_stop_marker(self) -> None:
        while True:
            try:
                self._mic_frames.put_nowait(None)
                return
            except queue.Full:
                try:
                    self._mic_frames.get_nowait()
                except queue.Empty:
                    pass

    def __enter__(self) -> Engine:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _fail(self, exc: BaseException) -> None:
        if self._failure is None and not (self._stop.is_set() and isinstance(exc, ConnectionLost)):
            self._failure = exc
            self.updates.put(up.Failed(exc))
        self._stop.set()
        self._settled.set()
        self._put_stop_marker()

    @property
    def failed(self) -> bool:
        return self._failure is not None

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # ---- microphone -> sender -------------------------------------------------------------

    def feed_mic(self, block: bytes) -> None:
        """The microphone's ``on_block``: never blocks (it may run in the audio callback)."""
        if self._stop.is_set():
            return
        try:
            self._mic_frames.put_nowait((time.monotonic(), block))
        except queue.Full:
            self.mic_drops += 1

    def _send_loop(self) -> None:
        try:
            while True:
                batch, captured_at = self._next_batch()
                if batch:
                    self._send_audio(batch, captured_at)
                if self._stop.is_set():
                    return
        except BaseException as exc:
            self._fail(exc)

    def _send_audio(self, batch: bytes, captured_at: float) -> None:
        try:
            self._transport.send(cev.input_audio_append(batch))
        except ConnectionLost:
            if not self._swapping:
                raise
            return  # the socket is being replaced: this batch is lost, like a dropout
        sent = self._mic_clock[0] + len(batch) // SAMPLE_WIDTH_BYTES
        self._mic_clock = (sent, captured_at)

    def _speech_end_time(self, audio_end_ms: int | None) -> float:
        """When the user stopped talking (monotonic): the capture time of the sample at
        ``audio_end_ms`` of the audio sent on this socket; now if the server did not say."""
        now = time.monotonic()
        sent, captured_at = self._mic_clock
        if audio_end_ms is None or sent == 0:
            return now
        behind_s = max(0.0, sent / MIC_RATE_HZ - audio_end_ms / 1000.0)
        return min(now, captured_at - behind_s)

    def _next_batch(self) -> tuple[bytes, float]:
        """At least BATCH_MIN_MS (waiting at most the difference), at most BATCH_MAX_MS;
        with the capture time of its last block."""
        first = self._mic_frames.get()  # unblocked by a block or close()'s None
        if first is None:
            return b"", 0.0
        captured_at, block = first
        parts, size = [block], len(block)
        deadline = time.monotonic() + (BATCH_MIN_MS - BLOCK_MS) / 1000.0
        while size < BATCH_MAX_MS * _BYTES_PER_MS:
            wait_s = deadline - time.monotonic()
            try:
                block = (self._mic_frames.get(timeout=wait_s) if wait_s > 0
                         else self._mic_frames.get_nowait())
            except queue.Empty:
                break
            if block is None:
                self._stop.set()
                break
            captured_at, block = block
            parts.append(block)
            size += len(block)
        return b"".join(parts), captured_at

    # ---- receiver -------------------------------------------------------------------------

    def _recv_loop(self, transport: Transport) -> None:
        try:
            while True:
                event = transport.recv()  # unblocked by a frame or transport.close()
                if event is None:
                    return
                self._last_frame_at = time.monotonic()
                self._dispatch(event, transport)
        except BaseException as exc:
            self._fail(exc)

    def _dispatch(self, event: Event, transport: Transport) -> None:
        handler = self._HANDLERS.get(event.type)
        if handler is not None:
            with self._lock:  # bookkeeping only: the handler's I/O waits for _after_lock
                handler(self, event)
            self._after_lock(transport)

    def _after_lock(self, transport: Transport | None = None) -> None:
        """Do the I/O queued under ``_lock``, without it: a blocked socket write or a slow
        disk never stalls the main thread's ``poll()`` (or the other way round).

        Only the receiver queues events and passes its ``transport``; other threads only
        hand out finished turns."""
        if transport is not None:
            with self._lock:
                outbox, self._outbox = self._outbox, []
            for event in outbox:
                transport.send(event)
        with self._turn_lock:
            with self._lock:
                finished, self._finished = self._finished, []
            for turn in finished:
                if self._on_turn is not None:
                    self._on_turn(turn)
                self.updates.put(up.TurnFinished(turn))

    # ---- main thread ----------------------------------------------------------------------

    def poll(self, timeout_s: float) -> list[up.Update]:
        """Wait up to ``timeout_s`` for updates; also runs the clock-driven bookkeeping."""
        self._tick()
        items: list[up.Update] = []
        try:
            items.append(self.updates.get(timeout=timeout_s))
        except queue.Empty:
            pass
        self._tick()
        while True:
            try:
                items.append(self.updates.get_nowait())
            except queue.Empty:
                return items

    def _tick(self) -> None:
        with self._lock:
            reply = self._reply
            if reply is not None:
                if reply.first_heard_at and reply.speech_ended_at and not reply.latency_posted:
                    reply.latency_posted = True
                    reply.turn.latency_ms = 1000.0 * (reply.first_heard_at
                                                      - reply.speech_ended_at)
                    self.last_latency_ms = reply.turn.latency_ms
                    self.updates.put(up.LatencyMeasured(reply.response_id,
                                                        reply.turn.latency_ms))
                self._maybe_finish_reply(reply)
                self._check_stall(reply)
            if (self._stopped_at is not None
                    and time.monotonic() - self._stopped_at > AWAIT_RESPONSE_S):
                self._stopped_at = None  # stop waiting, and say so: silence is not an answer
                self.updates.put(up.Notice(f"no reply {AWAIT_RESPONSE_S:.0f} s after you "
                                           "stopped speaking; go on talking, or Ctrl+C to end"))
            self._set_status(self._compute_status())
        self._after_lock()

    def _check_stall(self, reply: _Reply) -> None:
        """Fail the engine when a reply stopped streaming: the user gets one line and the
        transcript so far instead of "speaking" forever."""
        silent_s = time.monotonic() - self._last_frame_at
        if not reply.done and not self._stop.is_set() and silent_s > self._stall_timeout_s:
            url = self._transport.url if self._transport is not None else "the service"
            self._fail(ConnectionLost(f"the service stopped answering: nothing from {url} for "
                                      f"{silent_s:.0f} s in the middle of a reply"))

    def _compute_status(self) -> str:
        if self._stop.is_set():
            return up.CLOSED
        if not self._ready:
            return up.CONNECTING
        if self._user_speaking:
            return up.INTERRUPTED if self._barged else up.HEARING
        reply = self._reply
        if self._stopped_at is not None or (reply is not None and reply.first_output_at is None):
            return up.THINKING
        if reply is not None:
            return up.SPEAKING
        return up.LISTENING

    def _set_status(self, status: str) -> None:
        if status != self._status:
            self._status = status
            self.updates.put(up.StatusChanged(status))

    @property
    def status(self) -> str:
        return self._status

    def is_idle(self) -> bool:
        """Nobody is talking and nothing is pending: no speech, no reply, nothing queued."""
        with self._lock:
            return (self._ready and not self._user_speaking and self._stopped_at is None
                    and self._reply is None
                    and (self.playback is None or self.playback.queued_samples == 0))

    def send_text(self, text: str) -> None:
        """A typed user message plus ``response.create`` (for scripted use and tests)."""
        self._transport.send(cev.user_text_message(text))
        self._transport.send(cev.response_create())

