"""The conversation state machine alone: event sequences in, actions out. No socket, no
emulator, no threads, no clock — time is an argument. The whole file runs in well under a
second."""

from __future__ import annotations

import base64

import pytest
from state_harness import (
    SPEAKER_HZ,
    Harness,
    capture,
    pcm,
    ready,
    response,
    transcription,
    user_speaks,
)

from omnichat.engine import actions as act
from omnichat.engine import commands as cmd
from omnichat.engine import updates as up
from omnichat.engine.reply import USER_TEXT_WAIT_S
from omnichat.errors import ServiceError, VoiceNotSupported

STORY = "Once upon a time there was a very patient robot who explained the tides"


# ---- a VAD turn ------------------------------------------------------------------------------


def test_a_vad_turn_plays_the_reply_records_both_turns_and_measures_latency():
    h = Harness()
    ready(h)
    user_speaks(h, "item_1", start_s=1.0, end_s=2.0)
    transcription(h, "item_1", "What time is it?")
    h.at(3.0)
    response(h, "resp_1", text="It is noon.", audio_samples=SPEAKER_HZ)  # 1 s of audio
    h.at(3.5).play(480)  # the first block reaches the speaker 1.5 s after the speech ended
    while h.playback.queued_samples:
        h.play(4800)
    h.tick()
    user, reply = h.turns()
    assert (user.role, user.text, user.duration_ms) == ("user", "What time is it?", 1000.0)
    assert reply.text == "It is noon." and not reply.interrupted
    assert reply.usage == {"input_tokens": 5, "output_tokens": 7}
    assert reply.latency_ms == pytest.approx(1500.0)
    assert h.updates(up.LatencyMeasured)[0].latency_ms == pytest.approx(1500.0)
    assert h.statuses() == [up.LISTENING, up.HEARING, up.THINKING, up.SPEAKING, up.LISTENING]
    assert h.state.is_idle()
    assert h.sent() == []  # the server's VAD did everything: nothing to send


def test_text_only_the_first_text_is_what_the_user_hears():
    h = Harness(audio=False)
    ready(h)
    user_speaks(h, "item_1", 1.0, 2.0)
    h.at(3.25)
    response(h, "resp_1", text="Hello there.", chunks=2)
    h.tick()
    assert h.updates(up.LatencyMeasured)[0].latency_ms == pytest.approx(1250.0)
    assert "".join(u.text for u in h.updates(up.AssistantDelta)) == "Hello there."


# ---- barge-in --------------------------------------------------------------------------------


def _talking(h: Harness) -> None:
    ready(h)
    user_speaks(h, "item_1", 1.0, 2.0)
    transcription(h, "item_1", "Tell me a story.")
    h.at(3.0)
    response(h, "resp_1", text=STORY, audio_samples=2 * SPEAKER_HZ, chunks=4, done=False)


def test_barge_in_before_the_first_heard_sample_counts_nothing_as_heard():
    h = Harness()
    _talking(h)
    user_speaks(h, "item_2", 3.1, 4.0, commit=False)  # speech_started: flush + cancel
    h.at(4.0).play(4800)  # only silence (and a fade) reaches the speaker now
    h.tick()
    reply = next(t for t in h.turns() if t.role == "assistant")
    assert reply.interrupted and reply.status == "cancelled"
    assert reply.heard == "" and reply.unheard == STORY
    assert reply.latency_ms is None and not h.updates(up.LatencyMeasured)
    assert h.sent() == ["response.cancel"]
    assert h.of(act.FlushPlayback) and h.playback.played_samples == 0
    cut = h.updates(up.Interrupted)[0]
    assert cut.heard_chars == 0 and cut.flushed_ms == pytest.approx(2000.0)


def test_barge_in_after_the_first_heard_sample_splits_heard_from_unheard():
    h = Harness()
    _talking(h)
    h.at(3.2).play(SPEAKER_HZ // 2)  # half a second of the two heard
    h.at(3.6).event("input_audio_buffer.speech_started", item_id="item_2", audio_start_ms=3600)
    reply = next(t for t in h.turns() if t.role == "assistant")
    assert reply.interrupted and reply.heard and reply.unheard
    assert STORY.startswith(reply.heard) and STORY.endswith(reply.unheard)
    assert len(reply.heard) <= len(STORY) // 4 + 1  # a quarter of the audio, at a word boundary
    assert reply.latency_ms == pytest.approx(1200.0)  # 2.0 s end of speech -> 3.2 s heard
    assert h.statuses()[-1] == up.INTERRUPTED


def test_a_cancel_racing_late_deltas_drops_them_and_the_quiet_error():
    h = Harness()
    _talking(h)
    user_speaks(h, "item_2", 3.1, 4.0)
    written = h.playback.written_samples
    # The server had already sent more of the cut reply before it saw our cancel.
    h.event("response.audio.delta", response_id="resp_1",
            delta=base64.b64encode(pcm(4800)).decode())
    h.event("response.audio_transcript.delta", response_id="resp_1", delta=" and more")
    h.event("error", error={"type": "invalid_request_error",
                            "message": "Conversation has none active response"})
    assert h.playback.written_samples == written
    assert h.state.dropped_deltas == 2
    assert not h.updates(up.Notice)
    assert not [u for u in h.updates(up.AssistantDelta) if "more" in u.text]
    # ... and the next reply plays normally.
    h.at(5.0)
    response(h, "resp_2", text="Sure.", audio_samples=4800)
    assert h.playback.written_samples == written + 4800


def test_interrupt_by_key_flushes_and_cancels_once():
    h = Harness()
    _talking(h)
    h.command(cmd.Interrupt())
    h.command(cmd.Interrupt())  # nothing left to stop
    assert h.sent() == ["response.cancel"]
    assert len(h.of(act.FlushPlayback)) == 1
    assert h.statuses()[-1] == up.LISTENING


# ---- the user's transcription: late, deltas, failed, never (defect 6) ------------------------


def test_a_late_transcription_still_puts_the_user_turn_first():
    h = Harness(audio=False)
    ready(h)
    user_speaks(h, "item_1", 1.0, 2.0)
    h.at(3.0)
    response(h, "resp_1", text="Paris.")
    assert h.turns() == []  # the reply waits for the line that came before it
    h.at(4.0)
    transcription(h, "item_1", "Capital of France?")
    assert [(t.role, t.text) for t in h.turns()] == [("user", "Capital of France?"),
                                                     ("assistant", "Paris.")]


def test_transcription_as_deltas_only_keeps_the_last_preview():
    h = Harness(audio=False)
    ready(h)
    user_speaks(h, "item_1", 1.0, 2.0)
    for text, stash in (("", "Capital"), ("Capital", " of France?")):
        h.event("conversation.item.input_audio_transcription.delta", item_id="item_1",
                text=text, stash=stash)
    h.at(3.0)
    response(h, "resp_1", text="Paris.")
    h.at(2.8 + USER_TEXT_WAIT_S).tick()
    user, reply = h.turns()
    assert (user.text, user.status) == ("Capital of France?", "untranscribed")
    assert [u.text for u in h.updates(up.UserPreview)] == ["Capital", "Capital of France?"]


def test_a_failed_transcription_keeps_the_user_turn_with_its_duration():
    h = Harness(audio=False)
    ready(h)
    user_speaks(h, "item_1", 1.0, 2.5)
    h.event("conversation.item.input_audio_transcription.failed", item_id="item_1",
            content_index=0, error={"code": "asr_error", "message": "failed"})
    h.at(4.0)
    response(h, "resp_1", text="Sorry?")
    user, reply = h.turns()
    assert (user.role, user.text, user.status) == ("user", "", "transcription_failed")
    assert user.to_record()["duration_ms"] == 1500.0


def test_a_transcription_that_never_comes_does_not_lose_the_user_turn():
    h = Harness(audio=False)
    ready(h)
    user_speaks(h, "item_1", 1.0, 2.0)
    h.at(3.0)
    response(h, "resp_1", text="Paris.")
    h.at(2.8 + USER_TEXT_WAIT_S - 0.1).tick()
    assert h.turns() == []  # still waiting a little for the text
    h.at(2.8 + USER_TEXT_WAIT_S).tick()
    assert [(t.role, t.text, t.status) for t in h.turns()] == [
        ("user", "", "untranscribed"), ("assistant", "Paris.", "completed")]
    transcription(h, "item_1", "Too late.")  # recorded already: counted, not duplicated
    assert len(h.turns()) == 2 and h.state.late_transcriptions == 1


def test_close_records_a_user_turn_still_waiting_for_its_text():
    h = Harness(audio=False)
    ready(h)
    user_speaks(h, "item_1", 1.0, 2.0)
    h.close()
    assert [(t.role, t.status) for t in h.turns()] == [("user", "untranscribed")]
    assert h.statuses()[-1] == up.CLOSED


# ---- errors ----------------------------------------------------------------------------------


def test_an_error_before_the_session_is_ready_fails_the_conversation():
    h = Harness()
    h.event("error", error={"type": "invalid_request_error", "code": "invalid_value",
                            "message": "Invalid modalities: ['audio']."})
    (fail,) = h.of(act.Fail)
    assert isinstance(fail.error, ServiceError)
    assert str(fail.error) == "the service rejected the session: Invalid modalities: ['audio']."


def test_an_error_after_ready_is_a_notice_and_the_conversation_goes_on():
    h = Harness()
    ready(h)
    h.event("error", error={"type": "server_error",
                            "message": "Internal service error: null\x1b[2J"})
    assert not h.of(act.Fail)
    assert [n.text for n in h.updates(up.Notice)] == [
        "server error: Internal service error: null"]


def test_a_refused_voice_ends_the_conversation_naming_the_voices_command():
    # Any model: session.updated accepts any voice and generation fails later; another
    # attempt with the same voice fails the same way, so the conversation ends at once.
    h = Harness(model="qwen3.8-omni-flash-realtime")
    ready(h)
    h.event("error", error={"type": "invalid_request_error", "code": "invalid_value",
                            "message": "Voice 'Nobody\x1b[2J' is not supported."})
    (fail,) = h.of(act.Fail)
    assert isinstance(fail.error, VoiceNotSupported)
    assert fail.error.exit_code == 2
    assert str(fail.error) == (
        "the service does not support voice 'Nobody' for qwen3.8-omni-flash-realtime; pick "
        "one from `omnichat voices -m qwen3.8-omni-flash-realtime` and set it with --voice")


@pytest.mark.parametrize(("code", "message", "reason"), [
    ("response_idle_timeout",
     "Your session was closed because no response was generated for 300 seconds.",
     act.CloseReason.IDLE),
    ("session_expired",
     "Your session was closed because it reached the maximum duration of 120 minutes.",
     act.CloseReason.SESSION_LIMIT),
])
def test_idle_close_and_session_cap_errors_announce_the_close(code, message, reason):
    h = Harness()
    ready(h)
    h.event("error", error={"type": "invalid_request_error", "code": code, "message": message})
    (closing,) = h.of(act.ServiceClosing)
    assert (closing.reason, closing.message) == (reason, message)
    assert h.updates(up.Notice)[0].text == f"the service is closing the session: {message}"
    assert not h.of(act.Fail)


# ---- typed text, manual commit, tools, images, mute ------------------------------------------


def test_a_typed_text_turn_interrupts_the_answer_and_gets_its_own():
    h = Harness()
    _talking(h)
    h.at(4.0).command(cmd.SendText("Stop, tell me a joke."))
    assert h.sent() == ["response.cancel", "conversation.item.create", "response.create"]
    create = [a.event for a in h.of(act.Send)][1]
    assert create.data["item"]["content"][0]["text"] == "Stop, tell me a joke."
    assert h.state.status == up.THINKING
    h.at(4.5)
    response(h, "resp_2", text="Why did the robot...", audio_samples=4800)
    h.at(5.0).play(4800)
    while h.playback.queued_samples:
        h.play(4800)
    h.tick()
    roles = [(t.role, t.text) for t in h.turns()]
    assert roles == [("user", "Tell me a story."), ("assistant", STORY),
                     ("user", "Stop, tell me a joke."), ("assistant", "Why did the robot...")]
    assert h.turns()[-1].latency_ms == pytest.approx(1000.0)


def test_a_manual_commit_turn():
    h = Harness(audio=False)
    ready(h)
    h.at(2.0).command(cmd.Commit())
    assert h.sent() == ["input_audio_buffer.commit", "response.create"]
    h.event("input_audio_buffer.committed", item_id="item_1")
    h.at(2.5)
    response(h, "resp_1", text="Yes.")
    transcription(h, "item_1", "Can you hear me?")
    assert [(t.role, t.text) for t in h.turns()] == [("user", "Can you hear me?"),
                                                     ("assistant", "Yes.")]
    assert h.turns()[1].latency_ms == pytest.approx(500.0)
    h.command(cmd.ClearInput())
    assert h.sent()[-1] == "input_audio_buffer.clear"


def test_images_wait_for_audio_and_mute_is_passed_on():
    h = Harness()
    ready(h)
    (send,) = h.command(cmd.SendImage(b"\xff\xd8jpeg"))
    assert send.event.type == "input_image_buffer.append" and send.after_audio
    assert h.command(cmd.SetMute(True)) == [act.SetMicMuted(True)]


def test_tool_results_after_a_barge_in_are_dropped():
    h = Harness(audio=False)
    ready(h)
    h.event("response.created", response={"id": "resp_1"})
    h.event("response.function_call_arguments.done", response_id="resp_1", call_id="call_1",
            name="weather", arguments="{}")
    h.event("response.done", response={"id": "resp_1", "status": "completed"})
    assert h.of(act.CallTool) == [act.CallTool("resp_1", "call_1", "weather", "{}")]
    user_speaks(h, "item_2", 5.0, 6.0)  # the user went on before the result came
    h.command(cmd.ToolResult("call_1", "sunny"))
    assert "conversation.item.create" not in h.sent() and "response.create" not in h.sent()


# ---- the no-reply notice and the stall (tick) ------------------------------------------------


def test_no_reply_ten_seconds_after_speech_is_said_once():
    h = Harness()
    ready(h)
    user_speaks(h, "item_1", 1.0, 2.0)
    h.at(12.7).tick()
    assert not h.updates(up.Notice)
    h.at(12.9).tick()
    h.at(30.0).tick()
    assert [n.text for n in h.updates(up.Notice)] == [
        "no reply 10 s after you stopped speaking; go on talking, or Ctrl+C to end"]


def test_a_reply_that_stops_streaming_for_20_s_is_a_stall():
    h = Harness()
    _talking(h)
    h.at(22.9).tick()
    assert not h.of(act.Stalled)
    h.at(23.1).tick()
    h.at(30.0).tick()
    (stalled,) = h.of(act.Stalled)
    assert stalled.silent_s == pytest.approx(20.1)


# ---- real captures (tests/data/real-traffic) ---------------------------------------------------


def test_the_real_text_and_tools_session_replays_with_the_same_sends():
    """Feed the real server frames; play the user's part with commands; the state sends what
    the real client sent (after session.update), and answers the two parallel calls once."""
    h = Harness(audio=False)
    expected: list[str] = []
    calls: dict[str, str] = {"test_color": "蓝色", "test_shape": "方块"}
    for frame in capture("omugw_qwen3.5-omni-flash-realtime_text_tools.jsonl"):
        event = frame.get("event")
        if event is None:
            continue
        if frame["dir"] == "receive":
            h.event(event.pop("type"), **event)
            for call in h.of(act.CallTool):
                if call.call_id in calls.values() or call.name not in calls:
                    continue
                calls[call.call_id] = calls.pop(call.name)
        elif event["type"] == "conversation.item.create" and event["item"]["type"] == "message":
            h.command(cmd.SendText(event["item"]["content"][0]["text"]))
        elif event["type"] == "conversation.item.create":
            call_id = event["item"]["call_id"]
            h.command(cmd.ToolResult(call_id, calls[call_id]))
        if frame["dir"] == "send" and event["type"] != "session.update":
            expected.append(event["type"])
    assert h.sent() == expected
    assert [t.role for t in h.turns()] == ["user", "assistant", "user", "assistant",
                                            "assistant"]
    assert h.turns()[-1].text == "蓝色方块。颜色：蓝色，形状：方块。"
    assert len(h.of(act.CallTool)) == 2


def test_the_real_translation_turn_keeps_the_user_first_when_the_reply_starts_early():
    """The sibling model answers while the user still talks; its transcription comes last."""
    h = Harness(audio=False)
    for i, frame in enumerate(capture("livetranslate_sibling_AlbusWei_text_turn.jsonl")):
        event = dict(frame["event"])
        h.at(i * 0.1).event(event.pop("type"), **event)
    h.tick()
    assert [(t.role, t.text[:5]) for t in h.turns()] == [("user", "今天天气很"),
                                                         ("assistant", "The w")]
    assert h.turns()[0].duration_ms == 4600.0


def test_the_real_translation_audio_turn_plays_its_audio():
    h = Harness()
    ready(h)
    for i, frame in enumerate(capture("livetranslate_sibling_AlbusWei_audio_turn.jsonl")):
        event = dict(frame["event"])
        h.at(i * 0.1).event(event.pop("type"), **event)
    assert h.playback.written_samples > 0
    while h.playback.queued_samples:
        h.play(4800)
    h.at(10.0).tick()  # no transcription in this capture: the user's turn stays, untranscribed
    assert [(t.role, t.status) for t in h.turns()] == [("user", "untranscribed"),
                                                       ("assistant", "completed")]
    assert h.turns()[1].text.startswith("The weather is very nice today")


def test_a_typed_turn_refused_while_the_servers_own_reply_runs_is_asked_again_after_it():
    """The VAD started a reply the client has not seen yet when the typed text's
    response.create arrived: the refusal is quiet and the create is sent once that reply is
    done, so what was typed still gets its answer."""
    h = Harness(audio=False)
    ready(h)
    h.command(cmd.SendText("Go on."))
    h.event("response.created", response={"id": "resp_vad"})
    h.event("error", error={"type": "invalid_request_error",
                            "message": "Conversation already has an active response"})
    assert h.sent() == ["conversation.item.create", "response.create"]
    assert not h.updates(up.Notice)
    h.event("response.done", response={"id": "resp_vad", "status": "completed"})
    assert h.sent() == ["conversation.item.create", "response.create", "response.create"]
