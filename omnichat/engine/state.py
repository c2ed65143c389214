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

This module keeps the session, the user's side and the commands; the assistant's reply in
progress is ``replies.ReplyTracker``, function calls ``tools.ToolCalls``, and the order in
which turns are recorded ``reply.TurnQueue`` (a user turn first, even when its text is late).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import cast

from omnichat.engine import actions as act
from omnichat.engine import commands as cmd
from omnichat.engine import updates as up
from omnichat.engine.clocks import MicClock, PlaybackView
from omnichat.engine.liveness import LinkWatch, ProbeTiming
from omnichat.engine.replies import MAX_REPLY_AUDIO_S, ReplyTracker
from omnichat.engine.reply import TurnQueue
from omnichat.engine.turns import Turn
from omnichat.errors import ServiceError, VoiceNotSupported
from omnichat.protocol import client as cev
from omnichat.protocol import server as sev
from omnichat.protocol.events import Event
from omnichat.sanitize import clean_text, excerpt

AWAIT_RESPONSE_S = 10.0  # the user stopped speaking and no response.created came: say so
# A reply is streaming (response.created, no response.done) and the server has sent nothing
# for this long: the connection is dead or the service hung. Generous: a web search may pause
# the stream for a few seconds, while deltas normally come every 100-200 ms.
STALL_TIMEOUT_S = 20.0
# Local barge-in cut a reply; the server's speech_started normally follows within a few
# hundred ms (its VAD needs ~300 ms of speech, plus the network). Past this, it never heard.
LOCAL_CONFIRM_S = 1.5
LOCAL_UNCONFIRMED = "interrupted, but the service did not hear you: go on"
_NO_ACTIVE_RESPONSE = "none active response"  # our cancel raced the end of the response
_ALREADY_ACTIVE = "already has an active response"
NETWORK_STATUS = "interrupted_by_network"  # a reply cut short by a dropped connection
_IDLE_CODES = ("response_idle_timeout",)
_LIMIT_CODES = ("session_expired",)
# Any model: session.updated accepts any voice; generation then fails with this (third-party
# probes, docs/qwen38.md). The conversation cannot go on with that voice.
_VOICE_REFUSED = re.compile(r"Voice '(?P<voice>.{0,80})' is not supported")

Actions = list[act.Action]


class ConversationState:
    """Turn state of one conversation (across connections); see the module docstring."""

    def __init__(self, playback: PlaybackView | None, *, wall_anchor: tuple[float, datetime],
                 await_response_s: float = AWAIT_RESPONSE_S,
                 stall_timeout_s: float = STALL_TIMEOUT_S, model: str = "",
                 probe_timing: ProbeTiming | None = None,
                 max_reply_audio_s: float = MAX_REPLY_AUDIO_S):
        self.playback = playback
        self._model = model  # named in the error that ends a conversation (a refused voice)
        self._anchor = wall_anchor  # (monotonic, wall) of one instant: wall time of ``now``
        self._await_response_s = await_response_s
        self._stall_timeout_s = stall_timeout_s
        self._out = act.Collector()
        self._now = 0.0  # the ``now`` of the step in progress
        self._mic = MicClock()
        self._ready = False
        self._closed = False
        self._reconnecting = False
        self._turns = TurnQueue()
        self._replies = ReplyTracker(playback, self._turns, self._out, max_reply_audio_s)
        self._user_items: deque[str] = deque(maxlen=64)  # recent user turns' item ids
        self._user_speaking = False
        self._barged = False
        self._local_barge_at: float | None = None  # LocalSpeech cut a reply, not confirmed yet
        # item id -> (wall time, audio_start_ms, monotonic time) of its speech_started
        self._speech_started: dict[str, tuple[datetime, int | None, float]] = {}
        self._awaiting_since: float | None = None  # the user's turn ended, no reply yet
        self._speech_ended_at = 0.0  # when the user stopped talking (for that turn)
        self._last_frame_at: float | None = None
        self._link = LinkWatch(probe_timing)  # when to probe the link (liveness.py)
        # audio_start_ms (on this connection's input clock) of speech not answered yet: what
        # a reconnect must replay so the question is answered (engine/replay.py)
        self._unanswered_ms: int | None = None
        self._heard_ms: int | None = None  # the latest audio_end_ms the server reported
        # The first ms of this connection's audio that were a replay (engine/replay.py):
        # speech starting there is a user turn the lost connection swallowed.
        self.replayed_until_ms = 0
        self.replayed_turns = 0
        # A manual commit (push-to-talk) got no answer yet: after a reconnect the replayed
        # turn must be committed again (the new session never saw the commit).
        self.commit_unanswered = False
        # The user turn already recorded for the unanswered speech, and, after a reconnect,
        # that turn: the replay makes the new session hear the question again, which must
        # not put it in the transcript twice.
        self._unanswered_turn: Turn | None = None
        self._replayed_turn: Turn | None = None
        self._stall_reported = False
        self._retry_create = False
        self._status = up.Status.CONNECTING
        self.late_transcriptions = 0
        replies = self._replies
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
            sev.AUDIO_DELTA: replies.on_audio_delta,
            sev.AUDIO_TRANSCRIPT_DELTA: replies.on_text_delta,
            sev.TEXT_DELTA: replies.on_text_delta,
            sev.AUDIO_TRANSCRIPT_DONE: replies.on_transcript_done,
            sev.TEXT_DONE: replies.on_transcript_done,
            sev.AUDIO_DONE: replies.on_audio_done,
            sev.FUNCTION_ARGS_DONE: replies.on_function_call,
            sev.RESPONSE_DONE: self._on_response_done,
            sev.OUTPUT_ITEM_DONE: self._on_item,
            sev.ITEM_CREATED: self._on_item,
        }
        self._mcp_items_seen: deque[str] = deque(maxlen=64)  # server-side MCP item ids

    # ---- inputs ---------------------------------------------------------------------------

    def handle(self, event: Event, now: float, mic: MicClock | None = None) -> Actions:
        """A server event (the receiver's only call)."""
        self._begin(now)
        self._mic = mic or MicClock()
        self._last_frame_at = now
        handler = self._handlers.get(event.type)
        if handler is not None:
            handler(event)
        reply = self._replies.current
        if reply is not None and reply.first_output_at is not None:
            self._unanswered_ms = None  # the answer is arriving: nothing to replay for it
            self._unanswered_turn = self._replayed_turn = None
            self.commit_unanswered = False
        return self._flush_out()

    def command(self, command: cmd.Command, now: float) -> Actions:
        """A local command (any thread, through the engine)."""
        self._begin(now)
        if isinstance(command, cmd.Commit):
            self.commit_unanswered = True
            self._emit(act.Send(cev.input_audio_commit(), behind_audio=True))
            self._create_response()
            self._ask_for_reply(speech_ended_at=now)
        elif isinstance(command, cmd.ClearInput):
            self._emit(act.Send(cev.input_audio_clear(), behind_audio=True))
        elif isinstance(command, cmd.Interrupt):
            self._user_moved_on()
        elif isinstance(command, cmd.LocalSpeech):
            self._local_speech()
        elif isinstance(command, cmd.SendText):
            self._send_text(command.text)
        elif isinstance(command, cmd.SendImage):
            self._emit(act.Send(cev.input_image_append(command.jpeg), after_audio=True))
        elif isinstance(command, cmd.ToolResult):
            if self._replies.tool_result(command.call_id, command.output):
                self._ask_tools_reply()
        elif isinstance(command, cmd.McpApproval):
            self._emit(act.Send(cev.mcp_approval_response(command.request_id,
                                                          command.approve)))
        elif isinstance(command, cmd.SetMute):
            self._emit(act.SetMicMuted(command.muted))
        elif isinstance(command, cmd.UpdateSession):
            self._emit(act.Send(cev.session_update(command.session)))
        return self._flush_out()

    def heard(self, response_id: str, at: float, now: float) -> Actions:
        """The playback tap saw the first sample of ``response_id`` played at ``at``."""
        self._begin(now)
        self._replies.heard(response_id, at)
        return self._flush_out()

    def tick(self, now: float) -> Actions:
        """Time passing (the main thread, every poll)."""
        self._begin(now)
        self._replies.tick()
        self._check_stall()
        self._probe_link()
        self._check_local_barge_in()
        if (self._awaiting_since is not None
                and now - self._awaiting_since > self._await_response_s):
            self._awaiting_since = None  # stop waiting, and say so: silence is not an answer
            self._view(up.Notice(f"no reply {self._await_response_s:.0f} s after you "
                                 "stopped speaking; go on talking, or Ctrl+C to end"))
        self._turns.give_up(now)
        return self._flush_out()

    def disconnected(self, now: float) -> Actions:
        """The connection is being replaced: a new service session follows. A reply still
        streaming is ended where the user stopped hearing it (the rest of its audio is
        flushed) and marked ``"status": "interrupted_by_network"``."""
        self._begin(now)
        reply = self._replies.current
        broken = reply is not None and not reply.done
        if reply is not None and broken:
            reply.turn.status = NETWORK_STATUS
        self._replies.end_at_close()
        if broken and self.playback is not None and self.playback.queued_samples:
            self._emit(act.FlushPlayback())
        self._ready = self._user_speaking = self._barged = False
        self._awaiting_since = self._local_barge_at = None
        self._speech_started.clear()  # item ids of the old session
        self._reconnecting = True
        self._stall_reported, self._last_frame_at = False, None  # the next socket's own
        self._replayed_turn = self._unanswered_turn if self._unanswered_ms is not None else None
        self._unanswered_ms = self._heard_ms = self._unanswered_turn = None
        self.replayed_until_ms = 0
        self._link.reset()
        self._drop_tool_calls()
        return self._flush_out()

    def close(self, now: float) -> Actions:
        """The conversation ends: the reply is cut where the user stopped hearing it, and
        every turn still waiting (for its transcription) is recorded."""
        self._begin(now)
        self._replies.end_at_close()
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
        reply = self._replies.current
        return reply.response_id if reply is not None else None

    @property
    def unanswered_speech_ms(self) -> int | None:
        """Where (audio_start_ms on the current connection) the user's speech that got no
        answer yet began; None when everything said was answered or nothing is pending."""
        return self._unanswered_ms

    @property
    def heard_audio_ms(self) -> int | None:
        """The end (audio_end_ms) of the last speech the server reported on this connection:
        it had all the audio up to there."""
        return self._heard_ms

    @property
    def last_frame_at(self) -> float | None:
        """When the last server event arrived on the current connection."""
        return self._last_frame_at

    @property
    def dropped_deltas(self) -> int:
        """Deltas of cancelled or unknown responses that were dropped."""
        return self._replies.dropped_deltas

    @property
    def last_latency_ms(self) -> float | None:
        return self._replies.last_latency_ms

    def is_idle(self) -> bool:
        """Nobody is talking and nothing is pending: no speech, no reply, no tool call
        running, nothing queued."""
        return (self._ready and not self._user_speaking and self._awaiting_since is None
                and self._replies.current is None and not self._replies.tools.waiting
                and (self.playback is None or self.playback.queued_samples == 0))

    # ---- plumbing -------------------------------------------------------------------------

    def _begin(self, now: float) -> None:
        self._now = self._replies.now = now

    def _emit(self, action: act.Action) -> None:
        self._out.emit(action)

    def _view(self, update: up.Update) -> None:
        self._out.view(update)

    def _flush_out(self) -> Actions:
        for turn in self._turns.release():
            self._out.emit(act.RecordTurn(turn))
        status = self._compute_status()
        if status != self._status:
            self._status = status
            self._view(up.StatusChanged(status))
        return self._out.take()

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
        if self._local_barge_at is not None:
            return up.Status.INTERRUPTED
        reply = self._replies.current
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
        if _ALREADY_ACTIVE in lower:
            # Only a response.create of ours earns this: it raced one the server started
            # itself (its VAD heard the user). Ask again once that one is done, instead of
            # dropping what was typed; the "no reply" notice covers a done that never comes.
            self._retry_create = True
            return
        refused = _VOICE_REFUSED.search(message)
        if refused is not None:
            self._emit(act.Fail(VoiceNotSupported(refused.group("voice"), self._model)))
        elif error.code in _IDLE_CODES or "no response was generated" in lower:
            self._closing(act.CloseReason.IDLE, message)
        elif error.code in _LIMIT_CODES or "maximum duration" in lower:
            self._closing(act.CloseReason.SESSION_LIMIT, message)
        elif not self._ready:
            self._emit(act.Fail(ServiceError(
                f"the service rejected the session: {excerpt(message)}")))
        else:
            self._view(up.Notice(f"server error: {excerpt(message)}"))

    def _on_item(self, event: Event) -> None:
        """Server-side MCP (qwen3.8, docs/qwen38.md): an approval request to ask, a finished
        call to show; each once, even when both output_item.done and item.created carry it."""
        item = event.get("item")
        kind = item.get("type") if isinstance(item, dict) else None
        if not isinstance(item, dict) or kind not in ("mcp_approval_request", "mcp_call"):
            return
        text = {key: _item_text(item, key) for key in
                ("id", "server_label", "name", "arguments", "output", "error")}
        if not text["id"] or text["id"] in self._mcp_items_seen:
            return
        self._mcp_items_seen.append(text["id"])
        if kind == "mcp_call":
            self._emit(act.McpCallDone(text["server_label"], text["name"], text["output"],
                                       text["error"]))
        else:
            self._emit(act.AskMcpApproval(text["id"], text["server_label"], text["name"],
                                          text["arguments"]))

    def _closing(self, reason: act.CloseReason, message: str) -> None:
        self._emit(act.ServiceClosing(reason, message))
        self._view(up.Notice(f"the service is closing the session: {message}"))

    # ---- the user's turn ------------------------------------------------------------------

    def _on_speech_started(self, event: Event) -> None:
        started = cast(sev.SpeechStarted, event)
        self._user_speaking = True
        self._speech_started[started.item_id or ""] = (self._wall(self._now),
                                                       started.audio_start_ms, self._now)
        if self._unanswered_ms is None:
            self._unanswered_ms = started.audio_start_ms
        if (started.audio_start_ms is not None
                and started.audio_start_ms < self.replayed_until_ms):
            self.replayed_turns += 1  # said into a lost connection, heard by this one
        if self._local_barge_at is not None:  # the service heard what cut the reply locally
            self._local_barge_at, self._barged = None, True
        self._user_moved_on()

    def _local_speech(self) -> None:
        """Local barge-in: cut a reply that still talks; the server's VAD confirms it later."""
        if self._user_speaking or self._local_barge_at is not None:
            return  # the service hears the user already, or the cut is waiting for it
        if self._replies.interrupt():
            self._local_barge_at = self._now
            self._replies.tools.drop_all()

    def _check_local_barge_in(self) -> None:
        since = self._local_barge_at
        if since is not None and self._now - since > LOCAL_CONFIRM_S:
            self._local_barge_at = None
            self._view(up.Notice(LOCAL_UNCONFIRMED, level="info"))

    def _user_moved_on(self) -> None:
        """The user speaks (or pressed interrupt): cut a reply that still talks, and forget
        tool calls nobody waits for any more."""
        if self._replies.interrupt():
            self._barged = self._user_speaking
        self._drop_tool_calls()

    def _drop_tool_calls(self) -> None:
        dropped = self._replies.tools.drop_all()
        if dropped:
            self._emit(act.ToolCallsDropped(dropped))

    def _on_user_turn_ended(self, event: Event) -> None:
        """``speech_stopped`` (VAD) or ``committed`` (VAD after speech_stopped, or manual):
        the user's turn exists from now on, with its text to come."""
        stopped = cast(sev.SpeechStopped, event)
        item_id = stopped.item_id
        if stopped.audio_end_ms is not None:
            self._heard_ms = max(self._heard_ms or 0, stopped.audio_end_ms)
        if event.type == sev.SPEECH_STOPPED:
            self._user_speaking = self._barged = False
            self._ask_for_reply(self._mic.speech_end_time(stopped.audio_end_ms, self._now))
        elif self._awaiting_since is None and self._replies.current is None:
            self._ask_for_reply(self._now)  # committed without speech_stopped: manual mode
        if item_id and item_id not in self._user_items:
            self._add_user_turn(item_id, stopped.audio_end_ms)

    def _add_user_turn(self, item_id: str, audio_end_ms: int | None) -> None:
        started_at, start_ms, since = self._speech_started.pop(
            item_id, (self._wall(self._now), None, self._now))
        self._user_items.append(item_id)
        if self._is_replayed_question(item_id, start_ms):
            return
        duration = (float(audio_end_ms - start_ms)
                    if audio_end_ms is not None and start_ms is not None else None)
        turn = Turn("user", "", started_at=started_at, item_id=item_id, duration_ms=duration)
        if self._unanswered_ms is not None and self._unanswered_turn is None:
            self._unanswered_turn = turn
        self._turns.add(turn, self._now, spoken_since=since)

    def _is_replayed_question(self, item_id: str, start_ms: int | None) -> bool:
        """The new session heard, in the replay, the question the lost one recorded already:
        that turn stands (and takes this item's transcription if it still waits for one)."""
        old = self._replayed_turn
        if old is None or start_ms is None or start_ms >= self.replayed_until_ms:
            return False
        self._replayed_turn = None
        if self._turns.user_turn(old.item_id) is old:
            old.item_id = item_id
        return True

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
        self._create_response()
        self._turns.add(Turn("user", text, started_at=self._wall(self._now)), self._now,
                        final=True)
        self._ask_for_reply(self._now)


    # ---- the reply (replies.py) -----------------------------------------------------------

    def _on_response_created(self, event: Event) -> None:
        answers = self._speech_ended_at if self._awaiting_since is not None else None
        self._awaiting_since = None
        self._replies.created(cast(sev.ResponseCreated, event).response_id,
                              self._wall(self._now), answers)

    def _on_response_done(self, event: Event) -> None:
        if self._replies.on_response_done(event):
            self._ask_tools_reply()
        if self._retry_create:  # ours was refused while this one was active: ask again
            self._retry_create = False
            self._create_response()

    def _ask_tools_reply(self) -> None:
        """Every call of a response is answered: one response.create for all of them."""
        self._create_response()
        self._ask_for_reply(self._now)

    def _create_response(self) -> None:
        self._emit(act.Send(cev.response_create()))

    def _probe_link(self) -> None:
        """Probe on suspicion (liveness.py): a reply streaming or due and the server quiet
        for a moment; or, while idle, every few seconds."""
        if not self._ready or self._last_frame_at is None:
            return  # no session yet: connecting has its own deadlines
        reply = self._replies.current
        urgent = (self._awaiting_since is not None or self._user_speaking
                  or (reply is not None and not reply.done))
        timeout = self._link.due(self._now, self._last_frame_at, urgent)
        if timeout is not None:
            self._emit(act.Probe(timeout))

    def _check_stall(self) -> None:
        reply = self._replies.current
        if (reply is None or reply.done or self._stall_reported
                or self._last_frame_at is None):
            return
        silent_s = self._now - self._last_frame_at
        if silent_s > self._stall_timeout_s:
            self._stall_reported = True
            self._emit(act.Stalled(silent_s))


def _item_text(item: dict[str, object], key: str) -> str:
    """A text field of a server item: a string as is, an error object's message, else ''.
    Server text: cleaned of terminal control sequences before anyone shows it."""
    value = item.get(key)
    if isinstance(value, dict):
        value = value.get("message")
    return clean_text(value, keep_newlines=False) if isinstance(value, str) else ""
