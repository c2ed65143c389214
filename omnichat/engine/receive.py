"""The receiver's half of the engine: server events -> reply state, barge-in, finished turns.

``EventHandlers`` is mixed into ``Engine``. Its ``_on_*`` methods run on ``omnichat-recv``
with ``Engine._lock`` held (see ``Engine._dispatch``), so they do no I/O: a cancel to send
and finished turns are queued for ``Engine._after_lock``; ``_on_played`` runs on the audio
thread and only reads counters and stores a timestamp.

Barge-in: on ``speech_started`` while a reply is still generated or its audio still queued,
``_interrupt`` flushes the playback buffer (the speaker goes silent at its next block),
cancels the response if it is still active, remembers its id so late deltas are dropped, and
records the cut: the heard fraction from the buffer's sample clock, mapped onto the text
(``turns.cut_index``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from omnichat.audio import SAMPLE_WIDTH_BYTES
from omnichat.engine import updates as up
from omnichat.engine.turns import Turn, cut_index, now_utc
from omnichat.errors import ServiceError
from omnichat.protocol import client as cev
from omnichat.protocol import server as sev
from omnichat.protocol.events import Event
from omnichat.sanitize import clean_text

_NO_ACTIVE_RESPONSE = "none active response"


@dataclass(eq=False)
class _Reply:
    """One assistant response while it streams and plays."""

    turn: Turn
    speech_ended_at: float | None  # monotonic time the user stopped the speech it answers
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


class EventHandlers:
    """Server-event handlers, barge-in and turn finishing; state lives on ``Engine``."""

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
        self._speech_ended_at = self._speech_end_time(event.audio_end_ms)

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
        answers_speech = self._stopped_at is not None
        self._reply = _Reply(turn, self._speech_ended_at if answers_speech else None)
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

    _HANDLERS: dict[str, Callable[[Any, Any], None]] = {
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
        if self._watch is reply:  # first: audio flushed unheard must not count as heard
            self._watch = None
        flushed = self.playback.flush() if self.playback is not None else 0
        reply.cut = cut_index(reply.turn.text, self._heard_fraction(reply))
        self._barged = True
        if not reply.done:
            self._cancelled.add(reply.response_id)
            reply.done = True
            reply.turn.status = "cancelled"
            self._outbox.append(cev.response_cancel())  # sent by _dispatch, after the lock
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
        if turn.latency_ms is None and reply.first_heard_at and reply.speech_ended_at:
            turn.latency_ms = 1000.0 * (reply.first_heard_at - reply.speech_ended_at)
        if self._reply is reply:
            self._reply = None
        if self._watch is reply:
            self._watch = None
        self._finish(turn)

    def _finish(self, turn: Turn) -> None:
        """Record the turn; ``on_turn`` and the view get it once ``_lock`` is released."""
        self.conversation.add(turn)
        self._finished.append(turn)

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
