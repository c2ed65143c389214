"""The hands-free conversation's threads: one sender, one receiver, around one ``Connection``,
and with a reconnect policy one reconnect thread (rejoin.py).

``ConversationState`` (state.py) decides everything; ``Engine`` only runs threads, owns the
connection and carries out the state's actions::

    mic callback --feed_mic()--> Outbox.audio (bounded; drops counted) ---+
                    (while the connection is down: held for the replay, replay.py)
    any thread --command()--> [state lock] state.command -> Outbox.control -+-> omnichat-send
    omnichat-send   Outbox.next(): session.update, then control events, then audio batches
                    -> connection.transport.send (the ONLY writer of the socket), and
                    transport.probe() when the state asks (liveness.py)
                    unblocked by: a put, a probe, a connection change, session.updated,
                    stop; a stuck write by close() cutting the socket
    omnichat-recv   transport.recv() (the only reader; one thread per connection)
                    -> [state lock] state.handle -> playback write/flush, outbox, updates
                    unblocked by: a frame, or transport.close() shutting the socket down
    audio callback  PlaybackBuffer.read_into -> tap -> HeardWatch (first sample heard)
    omnichat-reconnect  (with a policy) reconnection and rollover (rejoin.py); blocks in a
                    connect or the wait for session.updated, both bounded and cut by close()

Metrics (``metrics=``, for ``omnichat bench``; None costs one comparison): called as
``metrics(kind, times)`` with ``time.monotonic()`` seconds, on the thread named, and must only
append (the state lock may be held): ``"audio_sent"`` (the batch's last block's ``feed_mic``
time, sent_at, samples; sender), every received event's type (arrival,) plus audio_end_s for
``speech_stopped`` (receiver), ``"audio_queued"`` (at, stream position, samples) and
``"flush"`` (at, flush count) when playback is written or flushed, ``"interrupt"`` (at,) for a
local ``Interrupt`` command (a key, or the local barge-in detector).
    main thread     poll(): [state lock] state.tick -> updates.get(timeout) -> the view
                    (never a socket operation: the keys always answer); close()

Locks: ``_state_lock`` guards the state and orders the playback writes/flushes it asks for
(held for bookkeeping and buffer copies, never across a socket write or a disk write);
``_turn_lock`` keeps finished turns in order while ``on_turn`` (a transcript line) runs;
``_send_lock`` is held by the sender across one socket write and by a connection swap, so a
swap never interleaves with a send; ``_failure_lock`` makes the first failure win.

Connection swap (``reconnect``): the state is told (the reply is cut where the user stopped
hearing it), the sender is paused (under ``_send_lock``), the old socket is closed and its
receiver joined, a new ``Connection`` (generation + 1, fresh microphone clock) is published,
and the sender writes its ``session.update`` first and nothing else until ``session.updated``.
Control events queued for an older generation are dropped.

With a ``ReconnectPolicy`` (reconnect.py) a retryable drop found by any thread only marks the
connection lost; omnichat-reconnect ends the reply, swaps connections with backoff, replays
the speech the dead link may have swallowed, or rolls an old session over during a pause
(rejoin.py). Liveness, in every mode: the state asks for a probe when a reply is due or
streaming and the server went quiet, and every few seconds while idle (liveness.py); the
sender also lets ``transport.ping()`` check its own keep-alive about once a second.

``close()`` cuts first, then joins (as websockets' ``close_socket``): it stops publishing
connections, closes the transport being connected and the current one (a stuck write fails,
the receiver wakes), then joins every thread. The first failure of any thread is kept and
re-raised by ``close()`` after every thread is joined.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from omnichat.audio import BLOCK_MS, MIC_RATE_HZ, SAMPLE_WIDTH_BYTES
from omnichat.audio.playback import PlaybackBuffer
from omnichat.engine import actions as act
from omnichat.engine import commands as cmd
from omnichat.engine import updates as up
from omnichat.engine.connection import Connection, Outbox, Outgoing
from omnichat.engine.heard import HeardWatch
from omnichat.engine.liveness import ProbeTiming
from omnichat.engine.reconnect import (
    PING_EVERY_S,
    Reconnector,
    ReconnectPolicy,
    session_with_history,
)
from omnichat.engine.rejoin import Reconnection
from omnichat.engine.replay import SpeechReplay
from omnichat.engine.replies import MAX_REPLY_AUDIO_S
from omnichat.engine.state import AWAIT_RESPONSE_S, STALL_TIMEOUT_S, ConversationState
from omnichat.engine.turns import Conversation, Turn, now_utc
from omnichat.errors import ConnectionLost, OmnichatError
from omnichat.protocol import client as cev
from omnichat.protocol.events import Event
from omnichat.transport import Transport

Metrics = Callable[[str, tuple[float, ...]], None]
log = logging.getLogger(__name__)

MIC_QUEUE_S = 2.0  # how much microphone audio may wait for the sender before blocks drop
READY_TIMEOUT_S = 10.0  # connect + session.update -> session.updated
JOIN_TIMEOUT_S = 3.0


class Engine(Reconnection):
    """A conversation over replaceable connections; a context manager.

    ``connect`` builds an unconnected transport (called again by ``reconnect``). ``playback``
    is None in text-only mode. ``on_turn`` gets each finished turn, in conversation order
    (the transcript writer); ``on_tool_call`` gets each ``CallTool`` (answer with
    ``command(ToolResult(...))``), ``on_tools_dropped`` the call ids whose results are no
    longer wanted (barge-in). They run on the receiver, the main or a commanding thread.
    """

    def __init__(self, session: Mapping[str, Any], connect: Callable[[], Transport],
                 playback: PlaybackBuffer | None = None, *,
                 on_turn: Callable[[Turn], None] | None = None,
                 on_tool_call: Callable[[act.CallTool], None] | None = None,
                 on_tools_dropped: Callable[[tuple[str, ...]], None] | None = None,
                 on_mcp: Callable[[act.Action], None] | None = None,
                 ready_timeout_s: float = READY_TIMEOUT_S,
                 stall_timeout_s: float = STALL_TIMEOUT_S,
                 await_response_s: float = AWAIT_RESPONSE_S,
                 reconnect: ReconnectPolicy | None = None,
                 metrics: Metrics | None = None, model: str = "",
                 mic_channels: int = 1,
                 probe_timing: ProbeTiming | None = None,
                 max_reply_audio_s: float = MAX_REPLY_AUDIO_S):
        self.conversation = Conversation(dict(session))
        self.playback = playback
        self._connect = connect
        self._on_turn = on_turn
        self._on_tool_call = on_tool_call
        self._on_tools_dropped = on_tools_dropped
        # Server-side MCP (AskMcpApproval, McpCallDone); runs on the receiver: must not block.
        self._on_mcp = on_mcp
        self._ready_timeout_s = ready_timeout_s
        self._metrics = metrics
        self.state = ConversationState(playback, wall_anchor=(time.monotonic(), now_utc()),
                                       await_response_s=await_response_s,
                                       stall_timeout_s=stall_timeout_s, model=model,
                                       probe_timing=probe_timing,
                                       max_reply_audio_s=max_reply_audio_s)
        # Bytes per microphone frame: a microphone array sends interleaved channels.
        self._mic_frame_bytes = SAMPLE_WIDTH_BYTES * mic_channels
        self._state_lock = threading.Lock()
        self._turn_lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._failure_lock = threading.Lock()
        # Keep-alive in every mode, with or without reconnection (docs/reliability.md).
        self._outbox = Outbox(int(MIC_QUEUE_S * 1000 // BLOCK_MS),
                              reconnect.ping_every_s if reconnect else PING_EVERY_S)
        # Reconnection (reconnect.py decides, rejoin.py carries it out on omnichat-reconnect);
        # a drop found by any thread is recorded under _swap_lock (first report wins).
        self.keeper = Reconnector(reconnect) if reconnect is not None else None
        self._swap_lock = threading.Lock()
        self._lost: OmnichatError | None = None  # the current connection dropped
        self._lost_mid_reply = False  # ... while a reply streamed (the flapping line says so)
        self._lost_conn: Connection | None = None  # the connection that dropped last
        # Speech the service may not have heard: replayed after a reconnect (replay.py).
        self.replay = SpeechReplay(channels=mic_channels)
        # Wakes omnichat-reconnect: a connection was lost, or the engine stops.
        self._wake = threading.Event()
        self._connecting: Transport | None = None  # a transport being opened (close cuts it)
        self._heard = HeardWatch(lambda: playback.output_latency_s if playback else 0.0)
        if playback is not None:
            playback.add_tap(self._heard.on_block)
        # Updates for the main thread; unbounded because the main thread drains it every
        # poll and a put must never block the receiver. A SimpleQueue (C, no Python-level
        # lock): a Ctrl+C that lands just after ``Queue.get`` took its mutex left it held
        # for good, and close()'s last put then hung the process (docs/architecture.md).
        self.updates: queue.SimpleQueue[up.Update] = queue.SimpleQueue()
        self._finished: list[Turn] = []  # decided under _state_lock, handed out after it
        self._conn: Connection | None = None
        self._generation = 0
        self._stop = threading.Event()
        self._failure: BaseException | None = None
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._muted = False  # SetMute: silence goes out instead of the microphone
        self.closing_reason: act.ServiceClosing | None = None  # the service said it closes
        # Calls the model asked for when no on_tool_call is given (the newest 64).
        self.tool_calls: deque[act.CallTool] = deque(maxlen=64)

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Connect, configure the session and start both threads; raises on failure."""
        try:
            self._spawn(self._send_loop, "omnichat-send")
            self._generation += 1
            self._open_connection()
            if self.keeper is not None:
                # a daemon: close() does not wait for a TCP connect it cannot cut short
                self._spawn(self._reconnect_loop, "omnichat-reconnect", daemon=True)
        except BaseException:
            self._failure = None  # raised right here; close() must not raise it twice
            self.close()
            raise

    def _open_connection(self, transport: Transport | None = None) -> None:
        """A new connection: connect, start its receiver, let the sender configure it, and
        wait for ``session.updated``. After the first, the session carries the history."""
        if transport is None:
            transport = self._connect_transport()
        session = None
        if self._generation > 1 and self.keeper is not None:
            policy = self.keeper.policy
            session = session_with_history(self.conversation.session,
                                           self.conversation.history(),
                                           policy.context_turns, policy.context_chars)
        conn = Connection(transport, self._generation, session, time.monotonic())
        with self._swap_lock:
            if self._stop.is_set():  # close() ran meanwhile: it did not see this socket
                transport.close()
                transport.release()
                raise ConnectionLost("the conversation is closing", retryable=False)
            self._conn, self._lost = conn, None
        self.replay.forget()  # the ring holds what was written on this connection only
        self._spawn(self._recv_loop, "omnichat-recv", conn)
        self._outbox.set_connection(conn)  # the sender writes session.update first
        if not conn.settled.wait(self._ready_timeout_s):
            raise ConnectionLost(f"no session.updated from {transport.url} within "
                                 f"{self._ready_timeout_s:.0f} s")
        if self._failure is not None:
            raise self._failure
        with self._swap_lock:
            lost = self._lost
        if lost is not None:
            raise lost

    def _connect_transport(self) -> Transport:
        """A new connected transport; ``close()`` on another thread cuts a connect that
        hangs (it closes ``_connecting``)."""
        transport = self._connect()
        self._connecting = transport
        try:
            if self._stop.is_set():
                raise ConnectionLost("the conversation is closing", retryable=False)
            transport.connect()
        finally:
            self._connecting = None
        return transport

    def reconnect(self) -> None:
        """Replace the socket mid-conversation (main thread): the old one is closed with 1000
        and joined, a new one is opened and the session settings are replayed on it.

        A new socket is a new service session (docs/protocol.md §1); replaying the finished turns
        as context items is the next step and fits here. Raises like ``start()``.
        """
        self._step(lambda now: self.state.disconnected(now))
        self._drop_connection(new_generation=True)
        self._open_connection()

    def _drop_connection(self, new_generation: bool) -> None:
        """Pause the sender, close the current socket and join its receiver (main thread)."""
        with self._send_lock:  # no write in flight, and none starts on the old socket
            self._outbox.set_connection(None)
        with self._swap_lock:
            old, self._conn = self._conn, None
            if new_generation:
                self._generation += 1  # from now on, commands queue for the new connection
        if old is not None:
            old.transport.close()
            self._join("omnichat-recv")
            old.transport.release()
        self._threads = [t for t in self._threads if t.is_alive()]

    def close(self) -> None:
        """Stop, close the socket with 1000, join every thread; re-raise the first failure.

        Idempotent. Close the microphone first so nothing feeds a stopped engine.
        """
        if self._closed:
            return
        self._closed = True
        with self._swap_lock:  # from here on no new connection is published
            self._stop.set()
            conn = self._conn
        self._outbox.stop()
        self._wake.set()
        # Cut first, then join (as websockets' close_socket): a write stuck on a peer that
        # stopped reading fails at once, the receiver wakes, a hanging connect ends.
        connecting = self._connecting
        if connecting is not None:
            connecting.close()
        if conn is not None:
            conn.transport.close()
            conn.settled.set()
        for name in ("omnichat-reconnect", "omnichat-send", "omnichat-recv"):
            self._join(name)
        if conn is not None:
            conn.transport.release()
        self._step(lambda now: self.state.close(now))
        alive = [t.name for t in self._threads if t.is_alive() and not t.daemon]
        if any(t.is_alive() for t in self._threads if t.daemon):
            # omnichat-reconnect inside a TCP connect (a black-holed SYN): that cannot be cut
            # short, ends by connect_timeout_s, and then publishes nothing (stop is set).
            log.debug("omnichat-reconnect is still in a TCP connect; it ends on its deadline")
        if alive:  # pragma: no cover - a bug, reported rather than hidden
            raise RuntimeError(f"threads did not stop within {JOIN_TIMEOUT_S} s: {alive}")
        if self._failure is not None:
            raise self._failure

    def _spawn(self, target: Callable[..., None], name: str, *args: Any,
               daemon: bool = False) -> None:
        thread = threading.Thread(target=target, name=name, args=args, daemon=daemon)
        self._threads.append(thread)
        thread.start()

    def _join(self, name: str) -> None:
        for thread in self._threads:
            # ident None: never started (a Ctrl+C inside Thread.start); nothing to wait for
            if thread.name == name and thread is not threading.current_thread() \
                    and thread.ident is not None:
                thread.join(JOIN_TIMEOUT_S)

    def __enter__(self) -> Engine:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _fail(self, exc: BaseException) -> None:
        """Keep the first failure (any thread; check-and-set under a lock) and stop."""
        stopping = self._stop.is_set()  # a socket dropping while we stop is no failure
        with self._failure_lock:
            first = self._failure is None and not (stopping and isinstance(exc, ConnectionLost))
            if first:
                self._failure = exc
        if first:
            self.updates.put(up.Failed(exc))
        self._stop.set()
        self._outbox.stop()
        conn = self._conn
        if conn is not None:
            conn.settled.set()

    @property
    def failed(self) -> bool:
        return self._failure is not None

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # ---- the state and its actions --------------------------------------------------------

    def command(self, command: cmd.Command) -> None:
        """Any thread: a local command (commit, typed text, interrupt, tool result, ...)."""
        if self._metrics is not None and isinstance(command, cmd.Interrupt):
            self._metrics("interrupt", (time.monotonic(),))
        self._step(lambda now: self.state.command(command, now))

    def send_text(self, text: str) -> None:
        """A typed user message plus ``response.create`` (``command(SendText(text))``)."""
        self.command(cmd.SendText(text))

    def _step(self, step: Callable[[float], list[act.Action]],
              conn: Connection | None = None) -> None:
        """Run one state step under the state lock, carry out its actions, then hand out
        finished turns without the lock (a slow disk never stalls the receiver's peers)."""
        deferred: list[act.Action] = []
        with self._state_lock:
            now = time.monotonic()
            actions: list[act.Action] = []
            for response_id, at in self._heard.take():
                actions += self.state.heard(response_id, at, now)
            actions += step(now)
            generation = conn.generation if conn is not None else self._generation
            for action in actions:
                if not self._execute(action, conn, generation):
                    deferred.append(action)
        for action in deferred:
            self._execute_later(action)
        self._hand_out_turns()

    def _execute(self, action: act.Action, conn: Connection | None, generation: int) -> bool:
        """Carry out an action under the state lock; False: do it after the lock.

        ``conn`` is the receiver's connection (None for commands and ticks); sends go to
        ``generation``: the receiver's socket, or the current (or next) one."""
        pb = self.playback
        if isinstance(action, act.Send):
            self._outbox.put_control(generation, action.event, action.after_audio,
                                     action.behind_audio)
        elif isinstance(action, act.PlayAudio) and pb is not None:
            if self._metrics is not None:
                self._metrics("audio_queued", (time.monotonic(), pb.written_samples,
                                               len(action.pcm) // 2))
            pb.write(action.pcm)
        elif isinstance(action, act.FlushPlayback) and pb is not None:
            pb.flush()
            if self._metrics is not None:
                self._metrics("flush", (time.monotonic(), pb.flushes))
        elif isinstance(action, act.FinishPlayback) and pb is not None:
            pb.finish()
        elif isinstance(action, act.WatchHeard) and pb is not None:
            self._heard.watch(action.response_id, action.start, pb.flushes)
        elif isinstance(action, act.SessionReady):
            if conn is not None:
                self._outbox.mark_ready(conn)
        elif isinstance(action, act.ViewUpdate):
            self.updates.put(action.update)
        elif isinstance(action, act.RecordTurn):
            self._finished.append(action.turn)
        elif isinstance(action, act.SetMicMuted):
            self._muted = action.muted
        elif isinstance(action, act.Probe):
            self._outbox.request_probe(generation, action.timeout_s)
        else:
            return False
        return True

    def _execute_later(self, action: act.Action) -> None:
        if isinstance(action, act.Fail):
            self._fail(action.error)
        elif isinstance(action, act.Stalled):
            conn = self._conn
            url = conn.url if conn is not None else "the service"
            self._connection_lost(conn, ConnectionLost(
                f"the service stopped answering: nothing from {url} for "
                f"{action.silent_s:.0f} s in the middle of a reply"))
        elif isinstance(action, act.ServiceClosing):
            self.closing_reason = action
            if self.keeper is not None:  # move on now: nothing more goes to a closing session
                self._connection_lost(self._conn, ConnectionLost(
                    f"the service closed the session ({action.message})"))
        elif isinstance(action, act.CallTool):
            if self._on_tool_call is not None:
                self._on_tool_call(action)
            else:
                self.tool_calls.append(action)
        elif isinstance(action, act.ToolCallsDropped) and self._on_tools_dropped is not None:
            self._on_tools_dropped(action.call_ids)
        elif isinstance(action, (act.AskMcpApproval, act.McpCallDone)):
            if self._on_mcp is not None:
                self._on_mcp(action)
            elif isinstance(action, act.AskMcpApproval):  # nobody can say yes: no
                self.updates.put(up.Notice(f"declined {action.server_label}.{action.name}: "
                                           "nobody to approve it"))

    def _hand_out_turns(self) -> None:
        with self._turn_lock:  # in order, even when the receiver and main both finish some
            with self._state_lock:
                finished, self._finished = self._finished, []
            for turn in finished:
                self.conversation.add(turn)
                if self._on_turn is not None:
                    self._on_turn(turn)
                self.updates.put(up.TurnFinished(turn))

    # ---- microphone -> sender -------------------------------------------------------------

    def feed_mic(self, block: bytes) -> None:
        """The microphone's ``on_block``: never blocks (it may run in the audio callback)."""
        if self._stop.is_set():
            return
        block = bytes(len(block)) if self._muted else block
        at = time.monotonic()
        # The connection is down: held for the replay; else queued for the sender (under
        # the replay's lock, so the replay and live audio stay in order: replay.py).
        self.replay.hold_or(block, lambda: self._outbox.put_audio(at, block))

    @property
    def mic_drops(self) -> int:
        return self._outbox.audio_drops

    @property
    def mic_room(self) -> int:
        """Blocks ``feed_mic`` may still queue before it drops (a file fed faster than real
        time waits on this)."""
        return self._outbox.audio_room

    def _send_loop(self) -> None:
        """omnichat-send: the only writer. Blocks in ``Outbox.next`` (unblocked by a put, a
        connection change, session.updated, or stop) and in one socket write at a time."""
        try:
            while True:
                item = self._outbox.next()
                if item is None:
                    return
                try:
                    self._write(item)
                except ConnectionLost as exc:
                    self._connection_lost(item.connection, exc)
        except BaseException as exc:
            self._fail(exc)

    def _write(self, item: Outgoing) -> None:
        conn = item.connection
        with self._send_lock:
            if self._outbox.current() is not conn:
                return  # swapped while this waited: the old socket gets nothing more
            try:
                if item.probe_s is not None:
                    conn.transport.probe(item.probe_s)
                elif item.ping:
                    ping = getattr(conn.transport, "ping", None)
                    if ping is not None:
                        ping()
                elif item.setup:
                    conn.transport.send(cev.session_update(conn.session
                                                           or self.conversation.session))
                elif item.event is not None:
                    conn.transport.send(item.event)
                else:
                    conn.transport.send(cev.input_audio_append(item.audio))
            except ConnectionLost:
                if self._outbox.current() is conn:
                    raise
                return  # the socket is being replaced: this batch is lost, like a dropout
        if item.audio:
            if self._metrics is not None:
                self._metrics("audio_sent", (item.captured_at, time.monotonic(),
                                             len(item.audio) // self._mic_frame_bytes))
            offset_ms = conn.mic_clock.sent_samples * 1000 // MIC_RATE_HZ
            self.replay.sent(time.monotonic(), offset_ms, item.audio)
            conn.mic_clock = conn.mic_clock.advanced(len(item.audio) // self._mic_frame_bytes,
                                                     item.captured_at)
            self._outbox.audio_went_out(conn)

    # ---- receiver -------------------------------------------------------------------------

    def _recv_loop(self, conn: Connection) -> None:
        """omnichat-recv for ``conn``: the only reader of its socket. Blocks in ``recv``;
        unblocked by a frame or ``transport.close()``."""
        try:
            while True:
                event = conn.transport.recv()
                if event is None:
                    return
                if self._metrics is not None:
                    self._report(event)
                self._step(self._handler(event, conn), conn)
        except ConnectionLost as exc:
            self._connection_lost(conn, exc)
        except BaseException as exc:
            if conn.generation == self._generation:  # not a socket being swapped out
                self._fail(exc)
            else:  # a socket being swapped out: not a failure, but never silent
                log.debug("receiver of replaced connection %d ended with %r",
                          conn.generation, exc)

    def _report(self, event: Event) -> None:
        times: tuple[float, ...] = (time.monotonic(),)
        if event.type == "input_audio_buffer.speech_stopped":
            times += (float(event.get("audio_end_ms") or 0) / 1000.0,)
        assert self._metrics is not None
        self._metrics(event.type, times)

    def _handler(self, event: Event, conn: Connection) -> Callable[[float], list[act.Action]]:
        return lambda now: self.state.handle(event, now, conn.mic_clock)

    # ---- main thread ----------------------------------------------------------------------

    def poll(self, timeout_s: float) -> list[up.Update]:
        """Wait up to ``timeout_s`` for updates; also runs the clock-driven bookkeeping
        (never a socket operation: reconnection runs on omnichat-reconnect)."""
        self._step(self.state.tick)
        items: list[up.Update] = []
        try:
            items.append(self.updates.get(timeout=timeout_s))
        except queue.Empty:
            pass
        self._step(self.state.tick)
        while True:
            try:
                items.append(self.updates.get_nowait())
            except queue.Empty:
                return items

    @property
    def status(self) -> up.Status:
        return self.state.status

    def is_idle(self) -> bool:
        """Nobody is talking and nothing is pending: no speech, no reply, nothing queued."""
        with self._state_lock:
            return self.state.is_idle()

    @property
    def dropped_deltas(self) -> int:
        return self.state.dropped_deltas

    @property
    def last_latency_ms(self) -> float | None:
        return self.state.last_latency_ms
