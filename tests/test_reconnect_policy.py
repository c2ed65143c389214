"""The pure reconnection policy: when to try again, what the new session is told."""

from __future__ import annotations

from omnichat.engine import updates as up
from omnichat.engine.reconnect import (
    HISTORY_HEADER,
    Reconnector,
    ReconnectPolicy,
    history_lines,
    session_with_history,
)
from omnichat.engine.turns import Turn
from omnichat.errors import AuthFailed, ConnectFailed, ConnectionLost
from omnichat.transport import Backoff


def _policy(attempts: int = 3) -> ReconnectPolicy:
    return ReconnectPolicy(backoff=Backoff(base_s=1.0, cap_s=4.0, floor_s=0.5,
                                           max_attempts=attempts, uniform=lambda lo, hi: hi))


def test_the_first_attempt_is_at_once_then_backoff_then_one_final_line():
    keeper = Reconnector(_policy(attempts=3))
    notices = keeper.lost(100.0, ConnectionLost("dropped"), planned=False)
    assert [n.text for n in notices] == ["connection lost (dropped); reconnecting"]
    assert keeper.lost(100.5, ConnectionLost("again"), planned=False) == []  # same outage
    assert keeper.due(100.0)
    refused = ConnectFailed("HTTP 503", retryable=True)
    assert keeper.attempt_failed(100.0, refused) is None and not keeper.due(100.9)
    assert keeper.due(101.0)  # 1 s: attempt 0's ceiling (jitter pinned to its top)
    assert keeper.attempt_failed(101.0, refused) is None and keeper.outage.next_at == 103.0
    final = keeper.attempt_failed(103.0, refused)
    assert isinstance(final, ConnectionLost) and not final.retryable
    assert str(final) == ("the connection could not be restored after 3 attempts over 3 s; "
                          "the last one: HTTP 503")


def test_what_retrying_cannot_fix_ends_at_the_first_attempt():
    keeper = Reconnector(_policy())
    keeper.lost(0.0, ConnectionLost("dropped"), planned=False)
    refused = AuthFailed("the service refused the API key")
    assert keeper.attempt_failed(0.0, refused) is refused
    assert keeper.attempt_failed(0.0, ConnectFailed("redirected")).retryable is False


def test_restoring_reports_the_outage_and_the_speech_lost_or_replayed():
    keeper = Reconnector(_policy())
    keeper.lost(10.0, ConnectionLost("dropped"), planned=False)
    texts = [n.text for n in keeper.restored(12.5, dropped_audio_s=2.04)]
    assert texts == ["reconnected after 2.5 s",
                     "2.0 s of what you said while the connection was down could not be sent "
                     "(longer than omnichat keeps); please say it again"]
    keeper.lost(30.0, ConnectionLost("dropped"), planned=False)
    texts = [n.text for n in keeper.restored(31.0, dropped_audio_s=0.0, replayed_s=3.2)]
    assert texts[1] == "sent again the 3.2 s of audio the lost connection may have swallowed"
    assert keeper.reconnections == 2 and keeper.outage is None
    keeper.lost(20.0, ConnectionLost("idle"), planned=True)  # the service closed on purpose
    assert keeper.restored(20.1, 0.0) == []


def test_rollover_waits_for_a_pause_and_the_age():
    keeper = Reconnector(ReconnectPolicy(rollover_after_s=60.0))
    assert not keeper.rollover_due(59.0, 0.0, idle=True)
    assert not keeper.rollover_due(61.0, 0.0, idle=False)
    assert keeper.rollover_due(61.0, 0.0, idle=True)
    assert not Reconnector(ReconnectPolicy(rollover_after_s=None)).rollover_due(1e9, 0, True)


def test_history_keeps_the_newest_turns_whole_within_both_budgets():
    turns = [Turn("user", f"question {n}") if n % 2 == 0 else Turn("assistant", f"answer {n}")
             for n in range(10)]
    assert history_lines(turns, 3, 1000) == ["Assistant: answer 7", "User: question 8",
                                             "Assistant: answer 9"]
    assert history_lines(turns, 10, 40) == ["User: question 8", "Assistant: answer 9"]
    assert history_lines(turns, 0, 1000) == [] and history_lines(turns, 10, 5) == []


def test_an_interrupted_reply_replays_what_was_heard_and_empty_turns_are_skipped():
    turns = [Turn("user", "tell me"), Turn("assistant", "one two three", interrupted=True,
                                           heard="one", unheard="two three"),
             Turn("user", ""), Turn("assistant", "  spaced\n out ")]
    assert history_lines(turns, 10, 1000) == ["User: tell me", "Assistant: one",
                                              "Assistant: spaced out"]


def test_the_session_gets_the_history_after_its_own_instructions():
    session = {"instructions": "Be brief.", "voice": "Tina"}
    replayed = session_with_history(session, [Turn("user", "hi")], 20, 4000)
    assert replayed["instructions"] == f"Be brief.\n{HISTORY_HEADER}\nUser: hi"
    assert replayed["voice"] == "Tina" and session["instructions"] == "Be brief."
    assert session_with_history({}, [], 20, 4000) == {}
    fresh = session_with_history({}, [Turn("user", "hi")], 20, 4000)
    assert fresh["instructions"].startswith(HISTORY_HEADER)
    assert isinstance(Reconnector(ReconnectPolicy()).lost(0, ConnectionLost("x"), True)[0],
                      up.Notice)


# ---- the state across a reconnection (pure, tests/state_harness.py) ---------------------------


def _streaming(h, rid: str, at: float) -> None:
    from state_harness import response, transcription, user_speaks

    user_speaks(h, f"item_{rid}", at, at + 1.0)
    transcription(h, f"item_{rid}", "Tell me a story.")
    response(h, rid, text="once upon a time", audio_samples=48_000, chunks=2, done=False)


def test_a_reply_cut_by_the_network_is_marked_flushed_and_the_status_says_reconnecting():
    from state_harness import Harness, ready

    from omnichat.engine import actions as act
    from omnichat.engine.state import NETWORK_STATUS

    h = Harness()
    ready(h)
    _streaming(h, "resp_1", 1.0)
    h.actions.clear()
    h._run(h.state.disconnected(h.now))
    assert any(isinstance(a, act.FlushPlayback) for a in h.actions)
    (reply,) = [t for t in h.turns() if t.role == "assistant"]
    assert reply.status == NETWORK_STATUS and reply.to_record()["status"] == NETWORK_STATUS
    assert h.statuses()[-1] == up.RECONNECTING


def test_the_stall_timer_works_again_on_the_new_connection():
    """Regression: the stall was reported once per conversation, so after one stall and a
    reconnection a second hung reply was never noticed."""
    from state_harness import Harness, ready

    from omnichat.engine import actions as act

    h = Harness()
    ready(h)
    _streaming(h, "resp_1", 1.0)
    h.at(h.now + 20.5).tick()
    assert len(h.of(act.Stalled)) == 1
    h._run(h.state.disconnected(h.now))
    ready(h)
    _streaming(h, "resp_2", h.now + 1.0)
    h.at(h.now + 20.5).tick()
    assert len(h.of(act.Stalled)) == 2


def test_drops_after_successful_handshakes_back_off_and_end_the_session_when_they_flap():
    """Found 7: a server that accepts and then drops got `reconnected after 0.0 s` about once
    a second, forever; the backoff started over after every handshake."""
    keeper = Reconnector(_policy(attempts=8))
    first_waits = []
    for n in range(4):
        now = 10.0 * n
        keeper.lost(now, ConnectionLost("dropped"), planned=False, mid_reply=True)
        assert keeper.flapping() is None
        first_waits.append(keeper.outage.next_at - now)
        keeper.restored(now + 1.0, 0.0)
    assert first_waits == [0.0, 1.0, 2.0, 4.0]  # grows across drops (jitter at its top)
    keeper.lost(40.0, ConnectionLost("dropped mid-reply"), planned=False, mid_reply=True)
    final = keeper.flapping()
    assert isinstance(final, ConnectionLost) and not final.retryable
    assert str(final).startswith("the service keeps dropping the connection mid-reply: "
                                 "5 drops in 40 s")


def test_drops_far_apart_and_announced_closes_do_not_count_as_flapping():
    keeper = Reconnector(_policy())
    for n in range(6):  # one drop every 2 minutes: a flaky network, not a flapping server
        keeper.lost(130.0 * n, ConnectionLost("dropped"), planned=False)
        assert keeper.flapping() is None and keeper.outage.next_at == 130.0 * n
        keeper.restored(130.0 * n + 1, 0.0)
    for n in range(6):  # the service said it closes (idle, cap): planned, not counted
        keeper.lost(1000.0 + n, ConnectionLost("idle"), planned=True)
        assert keeper.flapping() is None
        keeper.restored(1000.5 + n, 0.0)
