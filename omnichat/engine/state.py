"""The conversation as a pure state machine: server events, commands and time in, actions out.

``ConversationState`` holds every turn decision and nothing else: no threads, no sockets, no
locks, no clock reads (each step gets ``now``, monotonic seconds; wall-clock timestamps come
from the anchor given at construction). Inputs::

    handle(event, now, mic)   a server event; ``mic`` maps its audio_end_ms onto our clock
    command(cmd, now)         a local command (commands.py): commit, text, interrupt, ...
    tick(now)                 time passing: latency, finished playback, stall, no-reply notice
    heard(response_id, at, now)   the playback tap saw a reply's first sample played
    disconnected(now) / close(now)  the connection went away / the conversation ends

Each returns a list of actions (actions.py). The playback buffer is read (never written)
through ``PlaybackView``; audio goes to it through ``PlayAudio``/``FlushPlayback`` actions,
which the engine runs before the next step, so the clocks the state reads are current.

Barge-in (``speech_started``, ``Interrupt``, typed text while a reply talks): flush, cancel
the response if it is still generated, drop its late deltas, record what was heard — the
heard fraction of its samples on the playback clock, mapped onto its text at a word boundary.
Latency: end of the user's speech (``speech_stopped.audio_end_ms`` on the microphone clock)
-> the first reply sample heard.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import cast

from omnichat.audio import SAMPLE_WIDTH_BYTES
from omnichat.engine import actions as act
from omnichat.engine import commands as cmd
from omnichat.engine import updates as up
from omnichat.engine.clocks import MicClock, PlaybackView
from omnichat.engine.reply import Reply, ToolRound, TurnQueue
from omnichat.engine.turns import Turn, cut_index
from omnichat.errors import ServiceError
from omnichat.protocol import client as cev
from omnichat.protocol import server as sev
from omnichat.protocol.events import Event
from omnichat.sanitize import clean_text

AWAIT_RESPONSE_S = 10.0  # the user stopped speaking and no response.created came: say so
# A reply is streaming (response.created, no response.done) and the server has sent nothing
# for this long: the connection is dead or the service hung. Generous: a web search may pause
# the stream for a few seconds, while deltas normally come every 100-200 ms.
STALL_TIMEOUT_S = 20.0
_NO_ACTIVE_RESPONSE = "none active response"  # our cancel raced the end of the response
_IDLE_CODES = ("response_idle_timeout",)
_LIMIT_CODES = ("session_expired",)

Actions = list[act.Action]


class ConversationState:
    """Turn state of one conversation (across connections); see the module docstring."""

    def __init__(self, playback: PlaybackView | None, *, wall_anchor: tuple[float, datetime],
                 await_response_s: float = AWAIT_RESPONSE_S,
                 stall_timeout_s: float = STALL_TIMEOUT_S):
        self.playback = playback
        self._anchor = wall_anchor  # (monotonic, wall) of one instant: wall time of ``now``
        self._await_response_s = await_response_s
        self._stall_timeout_s = stall_timeout_s
        self._out: Actions = []
        self._now = 0.0  # the ``now`` of the step in progress
        self._mic = MicClock()
        self._ready = False
        self._closed = False
        self._reconnecting = False
        self._reply: Reply | None = None
        self._turns = TurnQueue()
        self._cancelled: set[str] = set()  # response ids whose late deltas are dropped
        self._tools: dict[str, ToolRound] = {}  # response id -> its function calls
        self._call_owner: dict[str, str] = {}  # call id -> response id
        self._user_items: deque[str] = deque(maxlen=64)  # recent user turns' item ids
        self._user_speaking = False
        self._barged = False
        # item id -> (wall time, audio_start_ms, monotonic time) of its speech_started
        self._speech_started: dict[str, tuple[datetime, int | None, float]] = {}
        self._awaiting_since: float | None = None  # the user's turn ended, no reply yet
        self._speech_ended_at = 0.0  # when the user stopped talking (for that turn)
        self._last_frame_at: float | None = None
        self._stall_reported = False
        self._status = up.Status.CONNECTING
        self.dropped_deltas = 0
        self.late_transcriptions = 0
        self.last_latency_ms: float | None = None
        self._handlers: dict[str, Callable[[Event], None]] = {
            sev.SESSION_UPDATED: self._on_session_updated,
            sev.ERROR: self._on_error,
            sev.SPEECH_STARTED: self._on_speech_started,
            sev.SPEECH_STOPPED: self._on_user_turn_ended,
            sev.AUDIO_COMMITTED: self._on_user_turn_ended,
            sev.TRANSCRIPTION_DELTA: self._on_transcription_delta,
            sev.TRANSCRIPTION_COMPLETED: self._on_transcription,
            sev.TRANSCRIPTION_FAILED: self._on_transcription,
            sev.RESPONSE_CREATED: self._on_response_created,
            sev.AUDIO_DELTA: self._on_audio_delta,
            sev.AUDIO_TRANSCRIPT_DELTA: self._on_text_delta,
            sev.TEXT_DELTA: self._on_text_delta,
            sev.AUDIO_TRANSCRIPT_DONE: self._on_transcript_done,
            sev.TEXT_DONE: self._on_transcript_done,
            sev.AUDIO_DONE: self._on_audio_done,
            sev.FUNCTION_ARGS_DONE: self._on_function_call,
            sev.RESPONSE_DONE: self._on_response_done,
        }

    # ---- inputs ---------------------------------------------------------------------------

    def handle(self, event: Event, now: float, mic: MicClock | None = None) -> Actions:
        """A server event (the receiver's only call)."""
        self._now, self._mic = now, mic or MicClock()
        self._last_frame_at = now
        handler = self._handlers.get(event.type)
        if handler is not None:
            handler(event)
        return self._flush_out()

    def command(self, command: cmd.Command, now: float) -> Actions:
        """A local command (any thread, through the engine)."""
        self._now = now
        if isinstance(command, cmd.Commit):
            self._emit(act.Send(cev.input_audio_commit()))
            self._emit(act.Send(cev.response_create()))
            self._ask_for_reply(speech_ended_at=now)
        elif isinstance(command, cmd.ClearInput):
            self._emit(act.Send(cev.input_audio_clear()))
        elif isinstance(command, cmd.Interrupt):
            self._user_moved_on()
        elif isinstance(command, cmd.SendText):
            self._send_text(command.text)
        elif isinstance(command, cmd.SendImage):
            self._emit(act.Send(cev.input_image_append(command.jpeg), after_audio=True))
        elif isinstance(command, cmd.ToolResult):
            self._tool_result(command.call_id, command.output)
        elif isinstance(command, cmd.SetMute):
            self._emit(act.SetMicMuted(command.muted))
        return self._flush_out()

    def heard(self, response_id: str, at: float, now: float) -> Actions:
        """The playback tap saw the first sample of ``response_id`` played at ``at``."""
        self._now = now
        reply = self._reply
        if reply is not None and reply.response_id == response_id and reply.cut is None:
            reply.first_heard_at = reply.first_heard_at or at
            self._post_latency(reply)
        return self._flush_out()

    def tick(self, now: float) -> Actions:
        """Time passing (the main thread, every poll)."""
        self._now = now
        reply = self._reply
        if reply is not None:
            self._post_latency(reply)
            self._maybe_finish_reply(reply)
            self._check_stall(reply)
        if (self._awaiting_since is not None
                and now - self._awaiting_since > self._await_response_s):
            self._awaiting_since = None  # stop waiting, and say so: silence is not an answer
            self._view(up.Notice(f"no reply {self._await_response_s:.0f} s after you "
                                 "stopped speaking; go on talking, or Ctrl+C to end"))
        self._turns.give_up(now)
        return self._flush_out()

    def disconnected(self, now: float) -> Actions:
        """The connection is being replaced: a new service session follows."""
        self._now = now
        self._end_reply_at_close()
        self._ready = self._user_speaking = self._barged = False
        self._awaiting_since = None
        self._reconnecting = True
        self._drop_tool_rounds()
        return self._flush_out()

    def close(self, now: float) -> Actions:
        """The conversation ends: the reply is cut where the user stopped hearing it, and
        every turn still waiting (for its transcription) is recorded."""
        self._now = now
        self._end_reply_at_close()
        self._closed = True
        self._turns.give_up(None)
        return self._flush_out()

    # ---- queries --------------------------------------------------------------------------

    @property
    def status(self) -> up.Status:
        return self._status

    @property
    def ready(self) -> bool:
        return self._ready

    @property
    def current_response_id(self) -> str | None:
        return self._reply.response_id if self._reply is not None else None

    def is_idle(self) -> bool:
        """Nobody is talking and nothing is pending: no speech, no reply, nothing queued."""
        return (self._ready and not self._user_speaking and self._awaiting_since is None
                and self._reply is None
                and (self.playback is None or self.playback.queued_samples == 0))

    # ---- plumbing -------------------------------------------------------------------------

    def _emit(self, action: act.Action) -> None:
        self._out.append(action)

    def _view(self, update: up.Update) -> None:
        self._out.append(act.ViewUpdate(update))

    def _flush_out(self) -> Actions:
        for turn in self._turns.release():
            self._out.append(act.RecordTurn(turn))
        status = self._compute_status()
        if status != self._status:
            self._status = status
            self._view(up.StatusChanged(status))
        out, self._out = self._out, []
        return out

    def _wall(self, now: float) -> datetime:
        mono, wall = self._anchor
        return wall + timedelta(seconds=now - mono)

    def _compute_status(self) -> up.Status:
        if self._closed:
            return up.Status.CLOSED
        if not self._ready:
            return up.Status.RECONNECTING if self._reconnecting else up.Status.CONNECTING
        if self._user_speaking:
            return up.Status.INTERRUPTED if self._barged else up.Status.HEARING
        reply = self._reply
        if self._awaiting_since is not None or (reply is not None
                                                and reply.first_output_at is None):
            return up.Status.THINKING
        return up.Status.SPEAKING if reply is not None else up.Status.LISTENING

    # ---- session and errors ---------------------------------------------------------------

    def _on_session_updated(self, event: Event) -> None:
        self._ready, self._reconnecting = True, False
        self._emit(act.SessionReady())

    def _on_error(self, event: Event) -> None:
        error = cast(sev.ErrorEvent, event)
        message = clean_text(error.message, keep_newlines=False)
        lower = message.lower()
        if _NO_ACTIVE_RESPONSE in lower:
            return  # our cancel raced the end of the response: nothing was left to stop
        if error.code in _IDLE_CODES or "no response was generated" in lower:
            self._closing(act.CloseReason.IDLE, message)
        elif error.code in _LIMIT_CODES or "maximum duration" in lower:
            self._closing(act.CloseReason.SESSION_LIMIT, message)
        elif not self._ready:
            self._emit(act.Fail(ServiceError(f"the service rejected the session: {message}")))
        else:
            self._view(up.Notice(f"server error: {message}"))

    def _closing(self, reason: act.CloseReason, message: str) -> None:
        self._emit(act.ServiceClosing(reason, message))
        self._view(up.Notice(f"the service is closing the session: {message}"))

    # ---- the user's turn ------------------------------------------------------------------

    def _on_speech_started(self, event: Event) -> None:
        started = cast(sev.SpeechStarted, event)
        self._user_speaking = True
        self._speech_started[started.item_id or ""] = (self._wall(self._now),
                                                       started.audio_start_ms, self._now)
        self._user_moved_on()

    def _user_moved_on(self) -> None:
        """The user speaks (or pressed interrupt): cut a reply that still talks, and forget
        tool calls nobody waits for any more."""
        reply = self._reply
        if reply is not None and reply.cut is None and self._is_talking(reply):
            self._interrupt(reply)
        self._drop_tool_rounds()

    def _on_user_turn_ended(self, event: Event) -> None:
        """``speech_stopped`` (VAD) or ``committed`` (VAD after speech_stopped, or manual):
        the user's turn exists from now on, with its text to come."""
        stopped = cast(sev.SpeechStopped, event)
        item_id = stopped.item_id
        if event.type == sev.SPEECH_STOPPED:
            self._user_speaking = self._barged = False
            self._ask_for_reply(self._mic.speech_end_time(stopped.audio_end_ms, self._now))
        elif self._awaiting_since is None and self._reply is None:
            self._ask_for_reply(self._now)  # committed without speech_stopped: manual mode
        if item_id and item_id not in self._user_items:
            self._add_user_turn(item_id, stopped.audio_end_ms)

    def _add_user_turn(self, item_id: str, audio_end_ms: int | None) -> None:
        started_at, start_ms, since = self._speech_started.pop(
            item_id, (self._wall(self._now), None, self._now))
        duration = (float(audio_end_ms - start_ms)
                    if audio_end_ms is not None and start_ms is not None else None)
        turn = Turn("user", "", started_at=started_at, item_id=item_id, duration_ms=duration)
        self._user_items.append(item_id)
        self._turns.add(turn, self._now, spoken_since=since)

    def _ask_for_reply(self, speech_ended_at: float) -> None:
        self._awaiting_since = self._now
        self._speech_ended_at = speech_ended_at

    def _on_transcription_delta(self, event: Event) -> None:
        delta = cast(sev.TranscriptionDelta, event)
        self._turns.preview(delta.item_id, delta.preview)
        self._view(up.UserPreview(delta.item_id, delta.preview))

    def _on_transcription(self, event: Event) -> None:
        item_id = cast(sev.TranscriptionCompleted, event).item_id
        if isinstance(event, sev.TranscriptionCompleted):
            text: str | None = event.transcript
            status = None
        else:
            text, status = None, "transcription_failed"
        if item_id and item_id not in self._user_items:
            self._add_user_turn(item_id, None)  # never saw it end (e.g. across a reconnect)
        if not self._turns.fill(item_id, text, status):
            self.late_transcriptions += 1  # recorded already (waited too long, or a repeat)

    def _send_text(self, text: str) -> None:
        self._user_moved_on()
        self._emit(act.Send(cev.user_text_message(text)))
        self._emit(act.Send(cev.response_create()))
        self._turns.add(Turn("user", text, started_at=self._wall(self._now)), self._now,
                        final=True)
        self._ask_for_reply(self._now)

    # ---- the reply ------------------------------------------------------------------------

    def _on_response_created(self, event: Event) -> None:
        created = cast(sev.ResponseCreated, event)
        if self._reply is not None:
            self._end_reply_at_close()  # a cancelled reply the server never ended
        turn = Turn("assistant", response_id=created.response_id,
                    started_at=self._wall(self._now))
        answers = self._speech_ended_at if self._awaiting_since is not None else None
        self._reply = Reply(turn, answers)
        self._awaiting_since = None
        self._turns.add(turn, self._now)
        self._view(up.AssistantStarted(turn.response_id or ""))

    def _current(self, event: Event) -> Reply | None:
        """The reply a delta belongs to, or None (and counted) for a cancelled/stray one."""
        reply, rid = self._reply, event.get("response_id")
        if rid in self._cancelled or reply is None or (rid and rid != reply.response_id):
            self.dropped_deltas += 1
            return None
        return reply

    def _on_audio_delta(self, event: Event) -> None:
        reply = self._current(event)
        if reply is None or self.playback is None or reply.cut is not None:
            return
        pcm = cast(sev.AudioDelta, event).pcm
        if reply.audio_start is None:
            reply.audio_start = self.playback.written_samples
            reply.first_output_at = reply.first_output_at or self._now
            self._emit(act.WatchHeard(reply.response_id, reply.audio_start))
        self._emit(act.PlayAudio(pcm))
        reply.audio_samples += len(pcm) // SAMPLE_WIDTH_BYTES

    def _on_text_delta(self, event: Event) -> None:
        reply = self._current(event)
        if reply is None or reply.cut is not None:
            return
        if reply.first_output_at is None:
            reply.first_output_at = self._now
            if self.playback is None:  # text-only: the first text is what the user "hears"
                reply.first_heard_at = reply.first_output_at
                self._post_latency(reply)
        delta = cast(sev.TextDelta, event).delta
        reply.turn.text += delta
        self._view(up.AssistantDelta(reply.response_id, delta))

    def _on_transcript_done(self, event: Event) -> None:
        reply = self._current(event)
        full = str(event.get("transcript") or event.get("text") or "")
        if reply is not None and reply.cut is None and len(full) > len(reply.turn.text):
            rest = full[len(reply.turn.text):] if full.startswith(reply.turn.text) else ""
            if rest:
                reply.turn.text += rest
                self._view(up.AssistantDelta(reply.response_id, rest))

    def _on_audio_done(self, event: Event) -> None:
        if self._current(event) is not None and self.playback is not None:
            self._emit(act.FinishPlayback())

    def _on_response_done(self, event: Event) -> None:
        done = cast(sev.ResponseDone, event)
        reply = self._reply
        if reply is None or done.response_id != reply.response_id:
            return
        reply.done = True
        reply.turn.status = reply.turn.status or done.status
        if done.usage:
            reply.turn.usage = done.usage
            self._view(up.UsageReported(reply.response_id, done.usage))
        round_ = self._tools.get(reply.response_id)
        if round_ is not None:
            round_.response_done = True
            self._maybe_answer_tools(reply.response_id)
        self._maybe_finish_reply(reply)

    # ---- tools ----------------------------------------------------------------------------

    def _on_function_call(self, event: Event) -> None:
        call = cast(sev.FunctionCallArgumentsDone, event)
        reply = self._current(event)
        if reply is None or reply.cut is not None or not call.call_id:
            return
        self._tools.setdefault(reply.response_id, ToolRound()).pending.add(call.call_id)
        self._call_owner[call.call_id] = reply.response_id
        self._emit(act.CallTool(reply.response_id, call.call_id, call.name or "",
                                call.arguments))

    def _tool_result(self, call_id: str, output: str) -> None:
        response_id = self._call_owner.pop(call_id, None)
        round_ = self._tools.get(response_id or "")
        if response_id is None or round_ is None or round_.dropped:
            return  # barged in, or unknown: the model no longer waits for it
        round_.pending.discard(call_id)
        self._emit(act.Send(cev.function_call_output(call_id, output)))
        self._maybe_answer_tools(response_id)

    def _maybe_answer_tools(self, response_id: str) -> None:
        round_ = self._tools[response_id]
        if round_.response_done and not round_.pending and not round_.dropped:
            del self._tools[response_id]
            self._emit(act.Send(cev.response_create()))
            self._ask_for_reply(self._now)

    def _drop_tool_rounds(self) -> None:
        for round_ in self._tools.values():
            round_.dropped = True
        self._tools.clear()
        self._call_owner.clear()

    # ---- barge-in and finishing -----------------------------------------------------------

    def _is_talking(self, reply: Reply) -> bool:
        """The model is still generating this reply, or its audio has not all played."""
        if not reply.done:
            return True
        return (self.playback is not None and reply.audio_start is not None
                and self.playback.stream_position < reply.audio_end)

    def _heard_fraction(self, reply: Reply) -> float:
        if self.playback is None:
            return 1.0  # text-only: everything received was on screen
        if reply.audio_start is None or reply.audio_samples == 0:
            return 0.0
        latency = int(self.playback.output_latency_s * self.playback.rate_hz)
        heard = self.playback.heard_samples(reply.audio_start, reply.audio_samples, latency)
        return heard / reply.audio_samples

    def _interrupt(self, reply: Reply) -> None:
        """Barge-in: silence the speaker now, stop generation, record what was heard."""
        flushed = self.playback.queued_samples if self.playback is not None else 0
        self._emit(act.FlushPlayback())
        reply.cut = cut_index(reply.turn.text, self._heard_fraction(reply))
        self._barged = self._user_speaking
        if not reply.done:
            self._cancelled.add(reply.response_id)
            reply.done = True
            reply.turn.status = "cancelled"
            self._emit(act.Send(cev.response_cancel()))
        rate = self.playback.rate_hz if self.playback is not None else 1
        self._view(up.Interrupted(reply.response_id, reply.cut, 1000.0 * flushed / rate))
        self._finish_reply(reply)

    def _post_latency(self, reply: Reply) -> None:
        if reply.first_heard_at and reply.speech_ended_at and not reply.latency_posted:
            reply.latency_posted = True
            reply.turn.latency_ms = 1000.0 * (reply.first_heard_at - reply.speech_ended_at)
            self.last_latency_ms = reply.turn.latency_ms
            self._view(up.LatencyMeasured(reply.response_id, reply.turn.latency_ms))

    def _check_stall(self, reply: Reply) -> None:
        if self._last_frame_at is None or reply.done or self._stall_reported:
            return
        silent_s = self._now - self._last_frame_at
        if silent_s > self._stall_timeout_s:
            self._stall_reported = True
            self._emit(act.Stalled(silent_s))

    def _maybe_finish_reply(self, reply: Reply) -> None:
        if reply.done and not self._is_talking(reply):
            self._finish_reply(reply)

    def _end_reply_at_close(self) -> None:
        reply = self._reply
        if reply is None:
            return
        if reply.cut is None and self._is_talking(reply):
            reply.cut = cut_index(reply.turn.text, self._heard_fraction(reply))
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
