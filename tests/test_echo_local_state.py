"""Local barge-in in the pure state machine: ``LocalSpeech`` cuts a talking reply at once; the
server's ``speech_started`` confirms the turn, or after ``LOCAL_CONFIRM_S`` the screen says the
service did not hear the user and the conversation goes back to listening."""

from __future__ import annotations

from state_harness import SPEAKER_HZ, Harness, ready, response, transcription, user_speaks

from omnichat.engine import actions as act
from omnichat.engine import commands as cmd
from omnichat.engine import updates as up
from omnichat.engine.state import LOCAL_CONFIRM_S, LOCAL_UNCONFIRMED

STORY = "Once upon a time a lighthouse keeper counted ships in the long dark winter nights"


def _talking(h: Harness) -> None:
    ready(h)
    user_speaks(h, "item_1", 1.0, 2.0)
    transcription(h, "item_1", "Tell me a story.")
    h.at(3.0)
    response(h, "resp_1", text=STORY, audio_samples=2 * SPEAKER_HZ, chunks=4, done=False)
    h.at(3.5).play(SPEAKER_HZ // 2)  # half a second of the reply was heard


def test_local_speech_cuts_the_reply_before_the_server_hears_it():
    h = Harness()
    _talking(h)
    h.at(3.6).command(cmd.LocalSpeech())
    assert h.sent()[-1] == "response.cancel"
    assert len(h.of(act.FlushPlayback)) == 1
    assert h.statuses()[-1] == up.INTERRUPTED
    # The server's VAD confirms: the user's turn goes on as usual, nothing is cut twice.
    user_speaks(h, "item_2", 3.4, 4.5, commit=False)
    assert h.sent().count("response.cancel") == 1
    assert len(h.of(act.FlushPlayback)) == 1
    h.at(3.4 + LOCAL_CONFIRM_S + 5).tick()
    assert LOCAL_UNCONFIRMED not in [n.text for n in h.updates(up.Notice)]


def test_confirmation_keeps_the_interrupted_status_while_the_user_speaks():
    h = Harness()
    _talking(h)
    h.at(3.6).command(cmd.LocalSpeech())
    h.at(3.8).event("input_audio_buffer.speech_started", item_id="item_2", audio_start_ms=3400)
    assert h.state.status == up.INTERRUPTED


def test_unconfirmed_local_barge_in_is_dropped_and_said():
    h = Harness()
    _talking(h)
    h.at(3.6).command(cmd.LocalSpeech())
    h.at(3.6 + LOCAL_CONFIRM_S - 0.1).tick()
    assert not h.updates(up.Notice)
    h.at(3.6 + LOCAL_CONFIRM_S + 0.1).tick()
    assert [n.text for n in h.updates(up.Notice)] == [LOCAL_UNCONFIRMED]
    assert h.statuses()[-1] == up.LISTENING
    assert h.turns()[-1].interrupted  # the reply is recorded as cut where it was heard
    h.at(10.0).tick()
    assert len(h.updates(up.Notice)) == 1  # said once


def test_local_speech_without_a_talking_reply_does_nothing():
    h = Harness()
    ready(h)
    h.at(1.0).command(cmd.LocalSpeech())  # the user starts a turn: the server's VAD handles it
    assert h.sent() == [] and not h.of(act.FlushPlayback)
    h.at(1.0 + 2 * LOCAL_CONFIRM_S).tick()
    assert not h.updates(up.Notice)
    assert h.state.status == up.LISTENING


def test_local_speech_after_the_server_heard_the_user_is_ignored():
    h = Harness()
    _talking(h)
    h.at(3.6).event("input_audio_buffer.speech_started", item_id="item_2", audio_start_ms=3400)
    cancels = h.sent().count("response.cancel")
    h.at(3.7).command(cmd.LocalSpeech())
    assert h.sent().count("response.cancel") == cancels
    h.at(3.7 + 2 * LOCAL_CONFIRM_S).tick()
    assert LOCAL_UNCONFIRMED not in [n.text for n in h.updates(up.Notice)]
