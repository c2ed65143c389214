"""The reply in progress: its deltas, audio, barge-in, latency and end — part of the state.

``ReplyTracker`` is ``ConversationState``'s half for the assistant's side (pure as well: it
gets ``now`` from the state's step and emits into the state's action ``Collector``).
A reply's audio occupies ``[audio_start, audio_start + audio_samples)`` on the playback
buffer's written clock; a barge-in flushes it, cancels the response if it is still generated
(its late deltas are dropped from then on) and cuts its text where the user stopped hearing
it. Latency: the user stopped speaking -> the reply's first sample was heard.

A reply whose audio runs far past any real reply is ended with a notice (a service stuck
repeating itself would otherwise talk forever): past ``max_audio_s`` seconds, or an order of
magnitude past what its text takes to say (``RUNAWAY_FACTOR`` x its characters at
``SPOKEN_CHARS_PER_S``, at least ``RUNAWAY_FLOOR_S``; the transcript may trail the audio).
"""

from __future__ import annotations

from collections import deque
from datetime import datetime
from typing import cast

from omnichat.audio import SAMPLE_WIDTH_BYTES
from omnichat.engine import actions as act
from omnichat.engine import updates as up
from omnichat.engine.clocks import PlaybackView
from omnichat.engine.reply import Reply, TurnQueue
from omnichat.engine.tools import ToolCalls
from omnichat.engine.turns import Turn, cut_index
from omnichat.protocol import client as cev
from omnichat.protocol import server as sev
from omnichat.protocol.events import Event

MAX_REPLY_AUDIO_S = 300.0  # the default cap on one reply's audio (setting max_reply_audio_s)
SPOKEN_CHARS_PER_S = 15.0  # brisk English speech; other scripts take longer per character
RUNAWAY_FACTOR = 10.0
RUNAWAY_FLOOR_S = 60.0


class ReplyTracker:
    """The assistant's reply in progress (at most one) and the function calls it made."""

    def __init__(self, playback: PlaybackView | None, turns: TurnQueue, out: act.Collector,
                 max_audio_s: float = MAX_REPLY_AUDIO_S):
        self.playback = playback
        self.max_audio_s = max_audio_s
        self._turns = turns
        self._out = out
        self.now = 0.0  # set by the state at each step
        self._reply: Reply | None = None
        # Response ids whose late deltas are dropped; only recent ones can still send any.
        self._cancelled: deque[str] = deque(maxlen=32)
        self.tools = ToolCalls()
        self.dropped_deltas = 0
        self.last_latency_ms: float | None = None

    @property
    def current(self) -> Reply | None:
        return self._reply

    # ---- server events --------------------------------------------------------------------

    def created(self, response_id: str | None, started_at: datetime,
                answers: float | None) -> None:
        """``response.created``; ``answers``: when the user stopped the speech it answers."""
        if self._reply is not None:
            self.end_at_close()  # a cancelled reply the server never ended
        turn = Turn("assistant", response_id=response_id, started_at=started_at)
        self._reply = Reply(turn, answers)
        self._turns.add(turn, self.now)
        self._out.view(up.AssistantStarted(turn.response_id or ""))

    def _current(self, event: Event) -> Reply | None:
        """The reply a delta belongs to, or None (and counted) for a cancelled/stray one."""
        reply, rid = self._reply, event.get("response_id")
        if rid in self._cancelled or reply is None or (rid and rid != reply.response_id):
            self.dropped_deltas += 1
            return None
        return reply

    def on_audio_delta(self, event: Event) -> None:
        reply = self._current(event)
        if reply is None or self.playback is None or reply.cut is not None:
            return
        pcm = cast(sev.AudioDelta, event).pcm
        if reply.audio_start is None:
            reply.audio_start = self.playback.written_samples
            reply.first_output_at = reply.first_output_at or self.now
            self._out.emit(act.WatchHeard(reply.response_id, reply.audio_start))
        self._out.emit(act.PlayAudio(pcm))
        reply.audio_samples += len(pcm) // SAMPLE_WIDTH_BYTES
        audio_s = reply.audio_samples / self.playback.rate_hz
        if audio_s > self._audio_limit_s(reply):
            self._end_runaway(reply, audio_s)

    def _audio_limit_s(self, reply: Reply) -> float:
        by_text = RUNAWAY_FACTOR * len(reply.turn.text) / SPOKEN_CHARS_PER_S
        return min(self.max_audio_s, max(RUNAWAY_FLOOR_S, by_text))

    def _end_runaway(self, reply: Reply, audio_s: float) -> None:
        """End a reply that talks far longer than any real one: cancel it like a barge-in
        (what was heard is recorded) and say why."""
        if self.interrupt():
            self._out.view(up.Notice(
                f"ended a reply that kept talking: {audio_s:.0f} s of audio for "
                f"{len(reply.turn.text)} characters of text (limit {self._audio_limit_s(reply):.0f}"
                " s, setting max_reply_audio_s)"))

    def on_text_delta(self, event: Event) -> None:
        reply = self._current(event)
        if reply is None or reply.cut is not None:
            return
        if reply.first_output_at is None:
            reply.first_output_at = self.now
            if self.playback is None:  # text-only: the first text is what the user "hears"
                reply.first_heard_at = reply.first_output_at
                self._post_latency(reply)
        delta = cast(sev.TextDelta, event).delta
        reply.turn.text += delta
        self._out.view(up.AssistantDelta(reply.response_id, delta))

    def on_transcript_done(self, event: Event) -> None:
        reply = self._current(event)
        full = str(event.get("transcript") or event.get("text") or "")
        if reply is not None and reply.cut is None and len(full) > len(reply.turn.text):
            rest = full[len(reply.turn.text):] if full.startswith(reply.turn.text) else ""
            if rest:
                reply.turn.text += rest
                self._out.view(up.AssistantDelta(reply.response_id, rest))

    def on_audio_done(self, event: Event) -> None:
        if self._current(event) is not None and self.playback is not None:
            self._out.emit(act.FinishPlayback())

    def on_response_done(self, event: Event) -> bool:
        """True: every tool call of the response is answered; ask for the next one."""
        done = cast(sev.ResponseDone, event)
        reply = self._reply
        if reply is None or done.response_id != reply.response_id:
            if done.usage and done.response_id and done.response_id in self._cancelled:
                # A reply cut by a barge-in ended here: what it cost still counts.
                self._out.view(up.UsageReported(done.response_id, done.usage))
            return False
        reply.done = True
        reply.turn.status = reply.turn.status or done.status
        if done.usage:
            reply.turn.usage = done.usage
            self._out.view(up.UsageReported(reply.response_id, done.usage))
        ask = self.tools.response_done(reply.response_id)
        self._maybe_finish_reply(reply)
        return ask

    # ---- tools ----------------------------------------------------------------------------

    def on_function_call(self, event: Event) -> None:
        call = cast(sev.FunctionCallArgumentsDone, event)
        reply = self._current(event)
        if reply is None or reply.cut is not None or not call.call_id:
            return
        self.tools.called(reply.response_id, call.call_id)
        reply.turn.tool_calls.append(call.name or "")
        self._out.emit(act.CallTool(reply.response_id, call.call_id, call.name or "",
                                call.arguments))

    def tool_result(self, call_id: str, output: str) -> bool:
        """Send the output; True: that was the last one, ask for the next response."""
        send, ask = self.tools.answered(call_id)
        if send:
            self._out.emit(act.Send(cev.function_call_output(call_id, output)))
        return ask

    # ---- barge-in and finishing -----------------------------------------------------------

    def interrupt(self) -> bool:
        """Barge-in, if the reply still talks: silence the speaker now, stop generation,
        record what was heard. True if there was something to cut."""
        reply = self._reply
        if reply is None or reply.cut is not None or not reply.is_talking(self.playback):
            return False
        flushed = self.playback.queued_samples if self.playback is not None else 0
        self._out.emit(act.FlushPlayback())
        reply.cut = cut_index(reply.turn.text, reply.heard_fraction(self.playback))
        if not reply.done:
            self._cancelled.append(reply.response_id)
            reply.done = True
            reply.turn.status = "cancelled"
            self._out.emit(act.Send(cev.response_cancel()))
        rate = self.playback.rate_hz if self.playback is not None else 1
        self._out.view(up.Interrupted(reply.response_id, reply.cut, 1000.0 * flushed / rate))
        self._finish_reply(reply)
        return True

    def heard(self, response_id: str, at: float) -> None:
        """The playback tap saw the first sample of ``response_id`` played at ``at``."""
        reply = self._reply
        if reply is not None and reply.response_id == response_id and reply.cut is None:
            reply.first_heard_at = reply.first_heard_at or at
            self._post_latency(reply)

    def tick(self) -> None:
        reply = self._reply
        if reply is not None:
            self._post_latency(reply)
            self._maybe_finish_reply(reply)

    def _post_latency(self, reply: Reply) -> None:
        if reply.first_heard_at and reply.speech_ended_at and not reply.latency_posted:
            reply.latency_posted = True
            reply.turn.latency_ms = 1000.0 * (reply.first_heard_at - reply.speech_ended_at)
            self.last_latency_ms = reply.turn.latency_ms
            self._out.view(up.LatencyMeasured(reply.response_id, reply.turn.latency_ms))

    def _maybe_finish_reply(self, reply: Reply) -> None:
        if reply.done and not reply.is_talking(self.playback):
            self._finish_reply(reply)

    def end_at_close(self) -> None:
        """The socket or the conversation ends: cut the reply where the user stopped hearing."""
        reply = self._reply
        if reply is None:
            return
        if reply.cut is None and reply.is_talking(self.playback):
            reply.cut = cut_index(reply.turn.text, reply.heard_fraction(self.playback))
        self._finish_reply(reply)

    def _finish_reply(self, reply: Reply) -> None:
        turn = reply.turn
        if reply.cut is not None:
            turn.interrupted = True
            turn.heard = turn.text[:reply.cut].rstrip()
            turn.unheard = turn.text[reply.cut:].lstrip()
        if turn.latency_ms is None and reply.first_heard_at and reply.speech_ended_at:
            turn.latency_ms = 1000.0 * (reply.first_heard_at - reply.speech_ended_at)
            self.last_latency_ms = turn.latency_ms
        if self._reply is reply:
            self._reply = None
        self._turns.finish(turn)
