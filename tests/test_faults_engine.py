"""The conversation survives drops, stalls and the service's time limits (issue 9).

Each test runs the engine against the real emulator over a real socket, with the faults the
emulator injects itself or a loopback proxy (tests/fault_proxy.py) that cuts or stalls the
stream. For each: the conversation goes on (the second question is answered in a new
session that knows the first) or stops with the right error; the conftest checks that no
thread is left behind.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from fault_proxy import FaultProxy
from test_engine_support import finished, session_for, speak, wait_for, wait_until

from omnichat.config.settings import Settings
from omnichat.engine import Engine
from omnichat.engine import updates as up
from omnichat.engine.reconnect import ReconnectPolicy
from omnichat.engine.state import NETWORK_STATUS
from omnichat.engine.turns import Turn
from omnichat.errors import AuthFailed, ConnectFailed, ConnectionLost, ExitCode, OmnichatError
from omnichat.transport import Backoff, WebSocketTransport

FAST_BACKOFF = Backoff(base_s=0.05, cap_s=0.2, floor_s=0.01, max_attempts=4)
LONG_REPLY = ("Once upon a time there was a very patient robot who liked to explain every "
              "small detail of the weather, the tides and the stars to anyone who listened")


def _engine(url: str, turns: list[Turn], policy: ReconnectPolicy | None = None,
            **transport_options) -> Engine:
    full = f"{url}?model={Settings().model}"
    return Engine(session_for(modalities=["text"], instructions="Answer briefly."),
                  connect=lambda: WebSocketTransport(full, None, **transport_options),
                  on_turn=turns.append,
                  reconnect=policy or ReconnectPolicy(backoff=FAST_BACKOFF))


def _status(status: up.Status):
    return lambda u: isinstance(u, up.StatusChanged) and u.status == status


def _ask(engine: Engine, speech_pcm, text: str, seen: list) -> Turn:
    speak(engine, speech_pcm(text))
    return wait_for(engine, finished("assistant"), seen=seen, timeout_s=20).turn


def _history_sent(emu, index: int) -> str:
    session = emu.wait_for_session(index=index)
    update = next(e for e in session.received if e.type == "session.update")
    return update.session["instructions"]


def _answered_in_new_session(emu, turn: Turn) -> None:
    """The reply is whole (each session's replies start over at the script's first line)."""
    assert turn.text and turn.status == "completed" and not turn.interrupted
    emu.wait_for_session(index=1)
    assert any("response.done" in c.sent_types for c in emu.connections[1:])


def _notices(seen: list) -> list[str]:
    return [u.text for u in seen if isinstance(u, up.Notice)]


def test_a_drop_mid_reply_ends_it_marked_and_the_next_question_is_answered(
        make_emulator, speech_pcm):
    emu = make_emulator(replies=[LONG_REPLY, "Paris."])
    emu.faults.close_mid_response(code=1011)
    turns: list[Turn] = []
    seen: list = []
    with _engine(emu.url, turns) as engine:
        first = _ask(engine, speech_pcm, "Tell me a story.", seen)
        assert first.status == NETWORK_STATUS and first.text  # what arrived is kept
        wait_until(engine, lambda: engine.status == up.LISTENING, seen=seen)
        second = _ask(engine, speech_pcm, "What is the capital of France?", seen)
    _answered_in_new_session(emu, second)
    assert any(_status(up.RECONNECTING)(u) for u in seen)
    assert any("reconnecting" in text for text in _notices(seen))
    history = _history_sent(emu, 1)
    assert history.startswith("Answer briefly.\n") and f"Assistant: {first.text}" in history
    assert [t.role for t in turns] == ["user", "assistant", "user", "assistant"]


def test_a_cut_while_idle_reconnects_and_the_conversation_goes_on(make_emulator, speech_pcm):
    emu = make_emulator(replies=["Hello.", "Paris."])
    proxy = FaultProxy("127.0.0.1", emu.port)
    turns: list[Turn] = []
    seen: list = []
    try:
        with _engine(proxy.url(emu.url), turns) as engine:
            _ask(engine, speech_pcm, "Hello there.", seen)
            proxy.cut()
            wait_for(engine, lambda u: isinstance(u, up.Notice) and "reconnected" in u.text,
                     seen=seen)
            second = _ask(engine, speech_pcm, "What is the capital of France?", seen)
    finally:
        proxy.close()
    _answered_in_new_session(emu, second)
    assert proxy.connections == 2
    assert "User: " in _history_sent(emu, 1) and "Assistant: Hello." in _history_sent(emu, 1)


@pytest.mark.parametrize("mid_reply", [False, True], ids=["idle", "mid-reply"])
def test_a_stalled_connection_is_found_by_the_ping_and_replaced(
        mid_reply, make_emulator, speech_pcm):
    """A peer that goes silent without closing: while idle the sender's pings go unanswered;
    mid-reply the same (the reply's own stall timer would also fire)."""
    emu = make_emulator(replies=[LONG_REPLY, "Paris."])
    proxy = FaultProxy("127.0.0.1", emu.port)
    turns: list[Turn] = []
    seen: list = []
    if mid_reply:
        emu.hold_responses(after_packets=2)
    try:
        with _engine(proxy.url(emu.url), turns, ping_interval_s=0.2, io_timeout_s=0.4) as engine:
            if mid_reply:
                speak(engine, speech_pcm("Tell me a story."))
                wait_for(engine, lambda u: isinstance(u, up.AssistantDelta), seen=seen)
            else:
                _ask(engine, speech_pcm, "Tell me a story.", seen)
            proxy.stall()
            wait_for(engine, _status(up.RECONNECTING), seen=seen)
            proxy.resume()
            emu.release_responses()
            wait_for(engine, lambda u: isinstance(u, up.Notice) and "reconnected" in u.text,
                     seen=seen)
            second = _ask(engine, speech_pcm, "What is the capital of France?", seen)
    finally:
        proxy.close()
        emu.release_responses()
    _answered_in_new_session(emu, second)
    assert any("no answer" in text and "ping" in text for text in _notices(seen))
    if mid_reply:
        assert turns[1].role == "assistant" and turns[1].status == NETWORK_STATUS


def test_a_question_asked_during_the_outage_is_replayed_and_answered(make_emulator,
                                                                    speech_pcm):
    """Found 2: what the user said while the connection was down was dropped with a line;
    now it is kept and sent first on the new connection, so it is answered."""
    emu = make_emulator(replies=["Hello.", "Paris."])
    proxy = FaultProxy("127.0.0.1", emu.port)
    turns: list[Turn] = []
    seen: list = []
    try:
        with _engine(proxy.url(emu.url), turns) as engine:
            _ask(engine, speech_pcm, "Hello there.", seen)
            emu.faults.refuse_handshake(status=503, times=2)  # the outage lasts 3 attempts
            proxy.cut()
            wait_for(engine, _status(up.RECONNECTING), seen=seen)
            speak(engine, speech_pcm("What is the capital of France?"))
            second = wait_for(engine, finished("assistant"), seen=seen, timeout_s=20).turn
    finally:
        proxy.close()
    _answered_in_new_session(emu, second)
    assert second.text == "Hello."  # the new session's first reply: it heard the question
    assert [t.role for t in turns] == ["user", "assistant", "user", "assistant"]
    assert any(text.startswith("sent again the ") for text in _notices(seen))
    assert not any("could not be sent" in text for text in _notices(seen))


def test_a_refused_key_on_reconnect_stops_at_once(make_emulator, speech_pcm):
    emu = make_emulator(replies=["Hello."])
    proxy = FaultProxy("127.0.0.1", emu.port)
    turns: list[Turn] = []
    engine = _engine(proxy.url(emu.url), turns)
    try:
        engine.start()
        _ask(engine, speech_pcm, "Hello there.", [])
        emu.faults.refuse_handshake(status=401, times=5)
        proxy.cut()
        with pytest.raises(AuthFailed, match="refused the API key"):
            wait_for(engine, lambda u: False)
    finally:
        with pytest.raises(AuthFailed):
            engine.close()
        proxy.close()
    assert len(emu.connections) == 1  # one attempt, no retry loop
    assert [t.role for t in turns] == ["user", "assistant"]


def _drop_then_fail(emu, arm, policy: ReconnectPolicy | None = None) -> BaseException:
    """Start, cut the socket, and return what the engine ends with."""
    proxy = FaultProxy("127.0.0.1", emu.port)
    engine = _engine(proxy.url(emu.url), [], policy)
    try:
        engine.start()
        arm()  # refusals apply to the next handshake: the reconnection
        proxy.cut()
        with pytest.raises(OmnichatError) as caught:
            wait_for(engine, lambda u: False)
    finally:
        with pytest.raises(OmnichatError):
            engine.close()
        proxy.close()
    return caught.value


def test_a_redirect_on_reconnect_is_not_retried(make_emulator):
    emu = make_emulator()
    error = _drop_then_fail(emu, lambda: emu.faults.refuse_handshake(status=302, times=5))
    assert isinstance(error, ConnectFailed) and "redirected" in str(error)
    assert not error.retryable and error.exit_code == ExitCode.CONNECT
    assert emu.faults.take_refusal() == 302  # one attempt used one refusal; no retry loop


def test_attempts_are_bounded_then_the_conversation_ends_with_exit_6(make_emulator):
    emu = make_emulator()
    policy = ReconnectPolicy(backoff=Backoff(base_s=0.02, cap_s=0.05, floor_s=0.01,
                                             max_attempts=3))
    error = _drop_then_fail(emu, lambda: emu.faults.refuse_handshake(status=503, times=50),
                            policy)
    assert isinstance(error, ConnectionLost)
    assert "could not be restored after 3 attempts" in str(error) and "HTTP 503" in str(error)
    assert error.exit_code == ExitCode.CONNECTION_LOST == 6 and "\n" not in str(error)
    assert len(emu.faults._refusals) == 47  # exactly three attempts


@pytest.mark.parametrize("limit, seconds", [("idle_timeout_s", 1.5), ("max_session_s", 3.0)])
def test_the_service_closing_the_session_moves_to_a_new_one(limit, seconds, make_emulator,
                                                            speech_pcm):
    """The 300 s idle close and the 120 min cap, in compressed time."""
    emu = make_emulator(replies=["Hello.", "Paris."], **{limit: seconds})
    turns: list[Turn] = []
    seen: list = []
    with _engine(emu.url, turns) as engine:
        _ask(engine, speech_pcm, "Hello there.", seen)
        wait_for(engine, lambda u: isinstance(u, up.Notice) and "new one" in u.text, seen=seen,
                 timeout_s=10)
        wait_until(engine, lambda: engine.status == up.LISTENING, seen=seen)
        second = _ask(engine, speech_pcm, "What is the capital of France?", seen)
    _answered_in_new_session(emu, second)
    assert any("closing the session" in text for text in _notices(seen))
    assert not any("connection lost" in text for text in _notices(seen))
    assert "Assistant: Hello." in _history_sent(emu, 1)
    assert [t.role for t in turns] == ["user", "assistant", "user", "assistant"]


def test_rollover_moves_to_a_fresh_session_during_a_pause_and_closes_the_old_with_1000(
        make_emulator, speech_pcm):
    emu = make_emulator(replies=["Hello.", "Paris."])
    turns: list[Turn] = []
    seen: list = []
    policy = ReconnectPolicy(backoff=FAST_BACKOFF, rollover_after_s=0.5)
    with _engine(emu.url, turns, policy) as engine:
        _ask(engine, speech_pcm, "Hello there.", seen)
        wait_until(engine, lambda: len(emu.connections) == 2, seen=seen)  # polling rolls over
        first = emu.wait_for_session(index=0)
        assert first.wait_closed(5.0) and first.connection.close_code == 1000
        assert engine.keeper is not None and engine.keeper.rollovers == 1
        engine.keeper.policy = replace(policy, rollover_after_s=None)  # no second one
        second = _ask(engine, speech_pcm, "What is the capital of France?", seen)
    _answered_in_new_session(emu, second)
    assert not any("connection lost" in text for text in _notices(seen))
    assert "Assistant: Hello." in _history_sent(emu, 1)


def test_speech_while_moving_to_a_new_session_is_kept_not_dropped(make_emulator, speech_pcm):
    """The service announcing its close (idle, cap) is a planned move: omnichat leaves the
    closing session at once, and what the user says meanwhile goes to the new one."""
    emu = make_emulator(replies=["Hello."])
    turns: list[Turn] = []
    seen: list = []
    with _engine(emu.url, turns) as engine:
        wait_until(engine, lambda: engine.status == up.LISTENING, seen=seen)
        emu.faults.send_error("Your session was closed because no response was generated "
                              "for 300 seconds.", code="response_idle_timeout")
        wait_for(engine, _status(up.RECONNECTING), seen=seen)
        speak(engine, speech_pcm("Are you still there?"))  # before the new session exists
        reply = wait_for(engine, finished("assistant"), seen=seen, timeout_s=20).turn
    assert reply.text == "Hello." and [t.role for t in turns] == ["user", "assistant"]
    assert not any("not sent" in text for text in _notices(seen))
    first = emu.wait_for_session(index=0)
    assert "input_audio_buffer.append" not in first.received_types
    assert first.wait_closed(5.0) and first.connection.close_code == 1000
