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

Shared: ``_stop`` (an Event), ``_lock`` (the reply/turn state below, held for bookkeeping
only, never across I/O waits), and the first failure, re-raised by ``close()`` after every
thread is joined.

Batching (sender): the microphone delivers 20 ms blocks. Each ``append`` carries at least
60 ms (waiting at most 40 ms for the rest) and at most 100 ms — what is already queued is
sent at once. 10–17 events/s keeps the JSON/base64 overhead small, and the 40 ms worst case
is small next to the server's 800 ms end-of-speech silence; the vendor samples use 100 ms.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from omnichat.audio import BLOCK_MS, MIC_RATE_HZ, SAMPLE_WIDTH_BYTES
from omnichat.audio.playback import PlaybackBuffer
from omnichat.engine import updates as up
from omnichat.engine.turns import Conversation, Turn, cut_index, now_utc
from omnichat.errors import ConnectionLost, OmnichatError, ServiceError
from omnichat.protocol import client as cev
from omnichat.protocol import server as sev
from omnichat.protocol.events import Event
from omnichat.sanitize import clean_text
from omnichat.transport import Transport

MIC_QUEUE_S = 2.0  # how much microphone audio may wait for the sender before blocks drop
BATCH_MIN_MS = 60
BATCH_MAX_MS = 100
READY_TIMEOUT_S = 10.0  # connect + session.update -> session.updated
JOIN_TIMEOUT_S = 3.0
AWAIT_RESPONSE_S = 10.0  # speech_stopped without any response.created: stop waiting
_BYTES_PER_MS = MIC_RATE_HZ * SAMPLE_WIDTH_BYTES // 1000
_NO_ACTIVE_RESPONSE = "none active response"


@dataclass(eq=False)
class _Reply:
    """One assistant response while it streams and plays."""

    turn: Turn
    stopped_at: float | None  # monotonic time of the speech_stopped it answers
    audio_start: int | None = None  # written-clock index of its first sample
    audio_samples: int = 0
    first_output_at: float | None = None  # first delta of any kind (monotonic)
    first_heard_at: float | None = None  # set by the played listener (audio thread)
    done: bool = False  # the server finished it, or we cancelled it
    cut: int | None = None  # char index where a barge-in cut it
    latency_posted: bool = False

    @property
    def response_id(self) -> str:
        return self.turn.response_id or ""


class Engine:
    """A conversation over a replaceable ``Transport``; a context manager.

    ``connect`` builds an unconnected transport (called again by a future reconnect).
    ``playback`` is None in text-only mode. ``on_turn`` is called with each finished turn
    (from the receiver or the main thread) — the transcript writer.
    """

    def __init__(self, session: Mapping[str, Any], connect: Callable[[], Transport],
                 playback: PlaybackBuffer | None = None, *,
                 on_turn: Callable[[Turn], None] | None = None,
                 ready_timeout_s: float = READY_TIMEOUT_S):
        self.conversation = Conversation(dict(session))
        self.playback = playback
        self._connect = connect
        self._on_turn = on_turn
        self._ready_timeout_s = ready_timeout_s
        self._transport: Transport | None = None
        # Microphone blocks waiting for the sender; bounded so a stalled socket costs memory
        # of MIC_QUEUE_S at most; the audio callback never waits (put_nowait, drops counted).
        self._mic_frames: queue.Queue[bytes | None] = queue.Queue(
            maxsize=int(MIC_QUEUE_S * 1000 // BLOCK_MS))
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
        self._cancelled: set[str] = set()  # response ids whose late deltas are dropped
        self._user_speaking = False
        self._barged = False
        self._speech_started: dict[str, Any] = {}  # item_id -> wall time of speech_started
        self._stopped_at: float | None = None  # last speech_stopped not yet answered
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

    def __enter__(self) -> "Engine":
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
            self._mic_frames.put_nowait(block)
        except queue.Full:
            self.mic_drops += 1

    def _send_loop(self) -> None:
        try:
            while True:
                batch = self._next_batch()
                if batch:
                    self._send_audio(batch)
                if self._stop.is_set():
                    return
        except BaseException as exc:  # noqa: BLE001 - kept, re-raised by close()
            self._fail(exc)

    def _send_audio(self, batch: bytes) -> None:
        try:
            self._transport.send(cev.input_audio_append(batch))
        except ConnectionLost:
            if not self._swapping:
                raise
            # the socket is being replaced: this batch is lost, like audio during a dropout

    def _next_batch(self) -> bytes:
        """At least BATCH_MIN_MS (waiting at most the difference), at most BATCH_MAX_MS."""
        first = self._mic_frames.get()  # unblocked by a block or close()'s None
        if first is None:
            return b""
        parts, size = [first], len(first)
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
            parts.append(block)
            size += len(block)
        return b"".join(parts)

    # ---- receiver -------------------------------------------------------------------------

    def _recv_loop(self, transport: Transport) -> None:
        try:
            while True:
                event = transport.recv()  # unblocked by a frame or transport.close()
                if event is None:
                    return
                self._dispatch(event)
        except BaseException as exc:  # noqa: BLE001 - kept, re-raised by close()
            self._fail(exc)

    def _dispatch(self, event: Event) -> None:
        handler = self._HANDLERS.get(event.type)
        if handler is not None:
            with self._lock:
                handler(self, event)

    def _on_session_updated(self, event: sev.SessionUpdated) -> None:
        self._ready = True
        self._settled.set()

    def _on_error(self, event: sev.ErrorEvent) -> None:
        message = clean_text(event.message, keep_newlines=False)
        if _NO_ACTIVE_RESPONSE in message.lower():
            return  # our cancel raced the end of the response: nothing was left to stop
        if not self._ready:
            raise ServiceError(f"the service rejected the session: {message}")
        self.updates.put(up.Notice(f"server error: {message}"))

    def _on_speech_started(self, event: sev.SpeechStarted) -> None:
        self._user_speaking = True
        self._speech_started[event.item_id or ""] = now_utc()
        reply = self._reply
        if reply is not None and reply.cut is None and self._is_talking(reply):
            self._interrupt(reply)

    def _on_speech_stopped(self, event: sev.SpeechStopped) -> None:
        self._user_speaking = False
        self._barged = False
        self._stopped_at = time.monotonic()

    def _on_transcription_delta(self, event: sev.TranscriptionDelta) -> None:
        self.updates.put(up.UserPreview(event.item_id, event.preview))

    def _on_transcription(self, event: Event) -> None:
        text = event.transcript if isinstance(event, sev.TranscriptionCompleted) else ""
        started = self._speech_started.pop(event.item_id or "", None) or now_utc()
        self._finish(Turn("user", text, started_at=started, item_id=event.item_id))

    def _on_response_created(self, event: sev.ResponseCreated) -> None:
        if self._reply is not None:
            self._end_reply_at_close(self._reply)  # a cancelled reply the server never ended
        turn = Turn("assistant", response_id=event.response_id)
        self._reply = _Reply(turn, stopped_at=self._stopped_at)
        self._stopped_at = None
        self.updates.put(up.AssistantStarted(turn.response_id or ""))

    def _current(self, event: Event) -> _Reply | None:
        """The reply a delta belongs to, or None (and counted) for a cancelled/stray one."""
        reply, rid = self._reply, event.get("response_id")
        if rid in self._cancelled or reply is None or (rid and rid != reply.response_id):
            self.dropped_deltas += 1
            return None
        return reply

    def _on_audio_delta(self, event: sev.AudioDelta) -> None:
        reply = self._current(event)
        if reply is None or self.playback is None or reply.cut is not None:
            return
        pcm = event.pcm
        if reply.audio_start is None:
            reply.audio_start = self.playback.written_samples
            reply.first_output_at = reply.first_output_at or time.monotonic()
            self._watch = reply
        self.playback.write(pcm)
        reply.audio_samples += len(pcm) // SAMPLE_WIDTH_BYTES

    def _on_text_delta(self, event: sev.TextDelta) -> None:
        reply = self._current(event)
        if reply is None or reply.cut is not None:
            return
        if reply.first_output_at is None:
            reply.first_output_at = time.monotonic()
            if self.playback is None:  # text-only: the first text is what the user "hears"
                reply.first_heard_at = reply.first_output_at
        reply.turn.text += event.delta
        self.updates.put(up.AssistantDelta(reply.response_id, event.delta))

    def _on_transcript_done(self, event: Event) -> None:
        reply = self._current(event)
        full = event.get("transcript") or event.get("text") or ""
        if reply is not None and reply.cut is None and len(full) > len(reply.turn.text):
            rest = full[len(reply.turn.text):] if full.startswith(reply.turn.text) else ""
            if rest:
                reply.turn.text += rest
                self.updates.put(up.AssistantDelta(reply.response_id, rest))

    def _on_audio_done(self, event: sev.AudioDone) -> None:
        if self._current(event) is not None and self.playback is not None:
            self.playback.finish()

    def _on_response_done(self, event: sev.ResponseDone) -> None:
        reply = self._reply
        if reply is None or event.response_id != reply.response_id:
            return
        reply.done = True
        reply.turn.status = reply.turn.status or event.status
        if event.usage:
            reply.turn.usage = event.usage
            self.updates.put(up.UsageReported(reply.response_id, event.usage))
        self._maybe_finish_reply(reply)

    _HANDLERS: dict[str, Callable[["Engine", Any], None]] = {
        sev.SESSION_UPDATED: _on_session_updated,
        sev.ERROR: _on_error,
        sev.SPEECH_STARTED: _on_speech_started,
        sev.SPEECH_STOPPED: _on_speech_stopped,
        sev.TRANSCRIPTION_DELTA: _on_transcription_delta,
        sev.TRANSCRIPTION_COMPLETED: _on_transcription,
        sev.TRANSCRIPTION_FAILED: _on_transcription,
        sev.RESPONSE_CREATED: _on_response_created,
        sev.AUDIO_DELTA: _on_audio_delta,
        sev.AUDIO_TRANSCRIPT_DELTA: _on_text_delta,
        sev.TEXT_DELTA: _on_text_delta,
        sev.AUDIO_TRANSCRIPT_DONE: _on_transcript_done,
        sev.TEXT_DONE: _on_transcript_done,
        sev.AUDIO_DONE: _on_audio_done,
        sev.RESPONSE_DONE: _on_response_done,
    }

    # ---- barge-in -------------------------------------------------------------------------

    def _audio_end(self, reply: _Reply) -> int:
        return (reply.audio_start or 0) + reply.audio_samples

    def _is_talking(self, reply: _Reply) -> bool:
        """The model is still generating this reply, or its audio has not all played."""
        if not reply.done:
            return True
        return (self.playback is not None and reply.audio_start is not None
                and self.playback.stream_position < self._audio_end(reply))

    def _heard_fraction(self, reply: _Reply) -> float:
        if self.playback is None:
            return 1.0  # text-only: everything received was on screen
        if reply.audio_start is None or reply.audio_samples == 0:
            return 0.0
        latency = int(self.playback.output_latency_s * self.playback.rate_hz)
        heard = self.playback.heard_samples(reply.audio_start, reply.audio_samples, latency)
        return heard / reply.audio_samples

    def _interrupt(self, reply: _Reply) -> None:
        """Barge-in: silence the speaker now, stop generation, record what was heard."""
        flushed = self.playback.flush() if self.playback is not None else 0
        if self._watch is reply:
            self._watch = None
        reply.cut = cut_index(reply.turn.text, self._heard_fraction(reply))
        self._barged = True
        if not reply.done:
            self._cancelled.add(reply.response_id)
            reply.done = True
            reply.turn.status = "cancelled"
            self._transport.send(cev.response_cancel())
        rate = self.playback.rate_hz if self.playback is not None else 1
        self.updates.put(up.Interrupted(reply.response_id, reply.cut, 1000.0 * flushed / rate))
        self._finish_reply(reply)

    # ---- finishing turns ------------------------------------------------------------------

    def _maybe_finish_reply(self, reply: _Reply) -> None:
        if reply.done and not self._is_talking(reply):
            self._finish_reply(reply)

    def _end_reply_at_close(self, reply: _Reply) -> None:
        if reply.cut is None and self._is_talking(reply):
            reply.cut = cut_index(reply.turn.text, self._heard_fraction(reply))
        self._finish_reply(reply)

    def _finish_reply(self, reply: _Reply) -> None:
        turn = reply.turn
        if reply.cut is not None:
            turn.interrupted = True
            turn.heard = turn.text[:reply.cut].rstrip()
            turn.unheard = turn.text[reply.cut:].lstrip()
        if turn.latency_ms is None and reply.first_heard_at and reply.stopped_at:
            turn.latency_ms = 1000.0 * (reply.first_heard_at - reply.stopped_at)
        if self._reply is reply:
            self._reply = None
        if self._watch is reply:
            self._watch = None
        self._finish(turn)

    def _finish(self, turn: Turn) -> None:
        self.conversation.add(turn)
        if self._on_turn is not None:
            self._on_turn(turn)
        self.updates.put(up.TurnFinished(turn))

    # ---- the heard clock (audio thread) ---------------------------------------------------

    def _on_played(self, block) -> None:
        """Played listener: notes when a reply's first sample reaches the device. Copies only."""
        reply = self._watch
        if reply is None or reply.audio_start is None:
            return
        buffer = self.playback
        if buffer.played_samples + buffer.discarded_samples > reply.audio_start:
            reply.first_heard_at = time.monotonic() + buffer.output_latency_s
            self._watch = None

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
                if reply.first_heard_at and reply.stopped_at and not reply.latency_posted:
                    reply.latency_posted = True
                    reply.turn.latency_ms = 1000.0 * (reply.first_heard_at - reply.stopped_at)
                    self.last_latency_ms = reply.turn.latency_ms
                    self.updates.put(up.LatencyMeasured(reply.response_id,
                                                        reply.turn.latency_ms))
                self._maybe_finish_reply(reply)
            if (self._stopped_at is not None
                    and time.monotonic() - self._stopped_at > AWAIT_RESPONSE_S):
                self._stopped_at = None
            self._set_status(self._compute_status())

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


__all__ = ["Engine", "OmnichatError"]
