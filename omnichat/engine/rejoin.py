"""Reconnection and rollover, on their own thread: the half of ``Engine`` that replaces a
connection (engine.py owns the threads, the state and the swap itself).

* ``_connection_lost`` (any thread): a retryable drop marks the connection lost under
  ``_swap_lock`` (the first report of a connection wins), pauses the sender, keeps for the
  replay what the service may not have heard (replay.py: the unacknowledged audio, the
  queued audio, then the microphone while down) and wakes ``omnichat-reconnect``. Without a
  policy, or for what retrying cannot fix, it fails the engine instead.
* ``omnichat-reconnect`` (``_reconnect_loop``) runs ``_keep_alive`` every ``KEEPER_TICK_S``
  or when woken: a new outage ends the reply and tells the user (and ends the conversation
  when the connection keeps dropping: reconnect.py); an attempt that is due swaps the
  connection and, once ``session.updated`` came, queues the replay ahead of live audio; an
  old session is rolled over during a pause. It blocks in a connect (bounded by the connect
  timeout; ``close()`` cuts it) and in the wait for ``session.updated`` (bounded by the
  ready timeout; ``close()`` sets it), never on the main thread: the keys and the screen
  stay alive (docs/reliability.md).
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import TYPE_CHECKING

from omnichat.engine import actions as act
from omnichat.engine import commands as cmd
from omnichat.engine import updates as up
from omnichat.engine.connection import Connection, Outbox
from omnichat.engine.reconnect import Reconnector
from omnichat.engine.replay import Replay, SpeechReplay
from omnichat.engine.state import ConversationState
from omnichat.engine.turns import Turn, now_utc
from omnichat.errors import ConnectionLost, OmnichatError
from omnichat.transport import Transport
from omnichat.transport.base import CLOSE_NORMAL

if TYPE_CHECKING:
    import queue
    from collections.abc import Callable

KEEPER_TICK_S = 0.1  # the reconnect thread checks its schedule this often
LOST_STATUS = "lost_in_outage"  # a user turn for speech that could not be replayed


class Reconnection:
    """Mixed into ``Engine``; see the module docstring. Uses the engine's fields below."""

    if TYPE_CHECKING:  # provided by Engine
        keeper: Reconnector | None
        state: ConversationState
        replay: SpeechReplay
        updates: queue.SimpleQueue[up.Update]
        closing_reason: act.ServiceClosing | None
        _swap_lock: threading.Lock
        _state_lock: threading.Lock
        _stop: threading.Event
        _wake: threading.Event
        _outbox: Outbox
        _conn: Connection | None
        _lost: OmnichatError | None
        _lost_mid_reply: bool
        _lost_conn: Connection | None
        _generation: int

        def _fail(self, exc: BaseException) -> None: ...
        def _step(self, step: Callable[[float], list[act.Action]],
                  conn: Connection | None = None) -> None: ...
        def _open_connection(self, transport: Transport | None = None) -> None: ...
        def _drop_connection(self, new_generation: bool) -> None: ...
        def _connect_transport(self) -> Transport: ...
        def is_idle(self) -> bool: ...
        def _hand_out_turns(self) -> None: ...
        _finished: list[Turn]

    def _connection_lost(self, conn: Connection | None, exc: ConnectionLost) -> None:
        """Any thread: ``conn`` dropped. Without a policy (or when it cannot be retried, or
        while stopping) that ends the conversation; else the sender is paused, what the
        service may not have heard is kept for the replay, and omnichat-reconnect ends the
        reply and reconnects."""
        if self.keeper is None or not exc.retryable or self._stop.is_set():
            if conn is None or conn.generation == self._generation:
                self._fail(exc)
            return
        with self._swap_lock:
            if conn is None or conn is not self._conn or self._lost is not None:
                return  # an older socket, or this drop was reported already
            self._lost = exc
            self._generation += 1  # commands given from now on wait for the new socket
        self._outbox.set_connection(None)
        with self._state_lock:
            reply = self.state.current_response_id is not None
        self._lost_mid_reply, self._lost_conn = reply, conn
        self._hold_unheard(conn)
        conn.settled.set()  # an attempt waiting for this socket's session.updated gives up
        self._wake.set()

    def _hold_unheard(self, conn: Connection) -> None:
        """Keep what ``conn``'s service may not have heard, and hold the microphone from now
        on, until the next connection is ready (replay.py)."""
        with self._state_lock:
            unanswered_ms = self.state.unanswered_speech_ms
            heard_ms = self.state.heard_audio_ms
            heard_until = getattr(conn.transport, "last_frame_at", self.state.last_frame_at)
        self.replay.lost(heard_until, unanswered_ms, self._outbox.take_audio, heard_ms)

    def _reconnect_loop(self) -> None:
        """omnichat-reconnect: runs reconnection and rollover, off the main thread so the
        keys and the screen stay alive. Blocks in ``_wake.wait`` (unblocked by a lost
        connection, ``close()``, or the tick) and inside an attempt: a connect (bounded by
        the connect timeout; ``close()`` cuts it) and the wait for ``session.updated``
        (bounded by the ready timeout; ``close()`` sets it)."""
        try:
            while not self._stop.is_set():
                self._keep_alive()
                self._wake.wait(KEEPER_TICK_S)
                self._wake.clear()
        except BaseException as exc:
            self._fail(exc)

    def _keep_alive(self) -> None:
        """omnichat-reconnect: reconnect when an attempt is due; roll over an old idle
        session."""
        keeper = self.keeper
        if keeper is None or self._stop.is_set():
            return
        now = time.monotonic()
        with self._swap_lock:
            lost = self._lost
        if lost is not None and keeper.outage is None:  # a new outage: end the reply
            self._step(lambda at: self.state.disconnected(at))
            announced = self.closing_reason is not None
            normal = not announced and self._closed_normally()
            for update in keeper.lost(now, lost, announced or normal,
                                      mid_reply=self._lost_mid_reply, counted=not announced,
                                      normal_close=normal):
                self.updates.put(update)
            flapping = keeper.flapping()
            if flapping is not None:
                self._fail(flapping)
            return
        if keeper.due(now):
            self._reconnect_attempt()
        elif self._conn is not None and keeper.rollover_due(now, self._conn.opened_at,
                                                            self.is_idle()):
            self._rollover()

    def _closed_normally(self) -> bool:
        """The peer closed the lost connection with 1000 (a normal close, not a drop)."""
        conn = self._lost_conn
        return conn is not None and getattr(conn.transport, "close_code", None) == CLOSE_NORMAL

    def _reconnect_attempt(self) -> None:
        keeper = self.keeper
        assert keeper is not None
        self._drop_connection(new_generation=False)
        try:
            self._open_connection()
        except OmnichatError as exc:
            self._drop_connection(new_generation=self._conn is not None)
            with self._swap_lock:
                self._lost = self._lost or exc  # still down; the microphone is held
            final = keeper.attempt_failed(time.monotonic(), exc)
            if final is not None and not self._stop.is_set():
                self._fail(final)
            return
        # What the dead link may have swallowed, and what was said meanwhile, goes first.
        replay = self._replay_first()
        if replay.lost_s > 0:  # said on screen (below) and in the transcript, never silently
            self._record_lost_speech(replay.lost_s)
        self.closing_reason = None
        for update in keeper.restored(time.monotonic(), replay.lost_s, replay.seconds):
            self.updates.put(update)

    def _rollover(self) -> None:
        """A planned move to a fresh session during a pause: the new socket is opened before
        the old one is closed; queued microphone audio goes to the new one."""
        keeper = self.keeper
        assert keeper is not None
        try:
            transport = self._connect_transport()
        except OmnichatError as exc:  # the old session still works: try again later
            if self._conn is not None:
                self._conn.opened_at += 60.0
            self.updates.put(up.Notice(f"could not open a fresh session yet ({exc})"))
            return
        old = self._conn
        if old is not None:  # "idle" may be a link that died with a question in it
            self._hold_unheard(old)
        keeper.rollovers += 1  # counted before the old socket closes: a reader of the count
        self._step(lambda now: self.state.disconnected(now))  # who sees it closed sees it
        self._drop_connection(new_generation=True)
        try:
            self._open_connection(transport)
        except OmnichatError as exc:
            self._drop_connection(new_generation=True)
            with self._swap_lock:
                self._lost = exc  # the microphone stays held until the next attempt
            for update in keeper.lost(time.monotonic(), exc, planned=False):
                self.updates.put(update)  # the failed rollover's notice reaches the screen
            return
        self._replay_first()

    def _record_lost_speech(self, lost_s: float) -> None:
        turn = Turn("user", f"[{lost_s:.1f} s said while the connection was down, not sent]",
                    started_at=now_utc() - timedelta(seconds=lost_s), status=LOST_STATUS,
                    duration_ms=round(lost_s * 1000.0))
        with self._state_lock:
            self._finished.append(turn)
        self._hand_out_turns()

    def _replay_first(self) -> Replay:
        """Queue the held speech ahead of live audio on the new connection; the state learns
        how much of its audio is replay (to count the user turns it recovers)."""
        replay = self.replay.take(self._outbox.queue_first)
        with self._state_lock:
            self.state.replayed_until_ms = int(replay.seconds * 1000)
            commit = self.state.commit_unanswered and bool(replay.pcm)
        if commit:  # push-to-talk: the replayed turn is committed again, behind its audio
            self._step(lambda now: self.state.command(cmd.Commit(), now))
        return replay
