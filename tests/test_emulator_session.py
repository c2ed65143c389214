"""Session lifecycle, responses, barge-in/cancel, images, usage and every documented error."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from fixtures_emulator import RawClient
from PIL import Image

from omnichat.emulator.usage import TEMPLATE_TOKENS

SILENCE_1S = bytes(32_000)
TONE_1S = (np.sin(np.arange(16_000) * 0.2) * 12_000).astype("<i2").tobytes()  # speech to a VAD


def jpeg(width=480, height=480, quality=80) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (90, 140, 200)).save(buffer, "JPEG", quality=quality)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def error_of(client: RawClient) -> dict:
    event = client.until("error")[-1]
    return event["error"]


def manual(client: RawClient, **session) -> dict:
    client.send("session.update", session={"turn_detection": None, **session})
    return client.until("session.updated")[-1]["session"]


# --- lifecycle ----------------------------------------------------------------------------------


def test_session_created_has_the_real_shape_and_model_defaults(emulator, emulator_client):
    session = emulator_client(emulator, model="qwen3-omni-flash-realtime").created["session"]
    assert list(session)[0] == "object" and list(session)[-1] == "id"
    assert session["voice"] == "Cherry" and session["model"] == "qwen3-omni-flash-realtime"
    assert session["input_audio_transcription"] == {"model": "gummy-realtime-v1"}
    assert session["turn_detection"] == {"type": "server_vad", "threshold": 0.5,
                                         "prefix_padding_ms": 300, "silence_duration_ms": 800,
                                         "create_response": True, "interrupt_response": True}


def test_session_update_merges_and_echoes_everything(emulator, emulator_client):
    client = emulator_client(emulator)
    client.send("session.update", session={"instructions": "be brief", "max_tokens": 128})
    session = client.until("session.updated")[-1]["session"]
    assert list(session)[:3] == ["id", "object", "model"]
    assert session["instructions"] == "be brief" and session["max_tokens"] == 128
    assert session["voice"] == "Tina" and session["turn_detection"]["type"] == "server_vad"
    client.send("session.update", session={"turn_detection": {"silence_duration_ms": 500}})
    session = client.until("session.updated")[-1]["session"]
    assert session["turn_detection"]["silence_duration_ms"] == 500
    assert session["turn_detection"]["threshold"] == 0.5 and session["instructions"] == "be brief"


def test_manual_commit_then_response_create(emulator, emulator_client):
    client = emulator_client(emulator)
    manual(client)
    client.append(TONE_1S)
    client.send("input_audio_buffer.commit")
    events = client.until("conversation.item.input_audio_transcription.completed")
    assert [e["type"] for e in events] == ["input_audio_buffer.committed",
                                           "conversation.item.created",
                                           "conversation.item.input_audio_transcription.completed"]
    assert events[-1]["transcript"] == "[1.0 s of speech]"
    client.send("response.create", response={"instructions": None})
    events = client.until("response.done")
    types = [e["type"] for e in events]
    assert types[:4] == ["response.created", "response.output_item.added",
                         "conversation.item.created", "response.content_part.added"]
    assert types[-5:] == ["response.audio_transcript.done", "response.audio.done",
                          "response.content_part.done", "response.output_item.done",
                          "response.done"]
    assert events[-1]["response"]["output"][0]["content"][0]["transcript"] == \
        "I heard about 1.0 seconds of speech."


def test_clear_empties_the_buffer(emulator, emulator_client):
    client = emulator_client(emulator)
    manual(client)
    client.append(TONE_1S)
    client.send("input_audio_buffer.clear")
    client.until("input_audio_buffer.cleared")
    client.send("input_audio_buffer.commit")
    assert error_of(client)["code"] == "input_audio_buffer_commit_empty"


def test_text_only_session_gets_text_events_and_no_audio(emulator, emulator_client):
    client = emulator_client(emulator)
    manual(client, modalities=["text"])
    client.send("conversation.item.create", item={
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi there"}]})
    item = client.until("conversation.item.created")[-1]["item"]
    assert item["status"] == "completed" and item["content"][0]["text"] == "hi there"
    client.send("response.create")
    events = client.until("response.done")
    types = {e["type"] for e in events}
    assert "response.text.delta" in types and "response.text.done" in types
    assert not any(t.startswith("response.audio") for t in types)
    text = "".join(e["delta"] for e in events if e["type"] == "response.text.delta")
    assert text == "I read 2 words."
    assert events[-1]["response"]["usage"]["output_tokens_details"] == {"text_tokens": 4}


def test_reply_script_cycles_per_session(make_emulator, emulator_client, tmp_path):
    script = tmp_path / "replies.txt"
    script.write_text("First answer.\n\nSecond answer.\n")
    client = emulator_client(make_emulator(reply_script=script))
    manual(client, modalities=["text"])
    said = []
    for _ in range(3):
        client.send("response.create")
        said.append(client.until("response.text.done")[-1]["text"])
    assert said == ["First answer.", "Second answer.", "First answer."]


def test_transcripts_supplied_by_the_test(make_emulator, emulator_client):
    client = emulator_client(make_emulator(transcripts=["what is the time"]))
    manual(client)
    client.append(TONE_1S)
    client.send("input_audio_buffer.commit")
    event = client.until("conversation.item.input_audio_transcription.completed")[-1]
    assert event["transcript"] == "what is the time"


def test_session_finish(emulator, emulator_client):
    client = emulator_client(emulator)
    client.send("session.finish")
    assert client.until("session.finished")


# --- barge-in and cancel ------------------------------------------------------------------------


def _active_response(emulator, client):
    emulator.hold_responses(after_packets=1)
    manual(client)
    client.send("response.create")
    return client.until("response.audio.delta")


def test_response_cancel_ends_the_item_without_response_done(emulator, emulator_client):
    client = emulator_client(emulator)
    _active_response(emulator, client)
    client.send("response.cancel")
    events = client.until("response.output_item.done")
    assert [e["type"] for e in events][-4:] == ["response.audio_transcript.done",
                                                "response.audio.done",
                                                "response.content_part.done",
                                                "response.output_item.done"]
    assert events[-1]["item"]["status"] == "incomplete"
    emulator.release_responses()
    client.send("session.finish")  # a marker: nothing of the response may come before it
    assert [e["type"] for e in client.until("session.finished")] == ["session.finished"]
    session = emulator.wait_for_connection()
    assert "response.done" not in session.sent_types
    assert session.received_types[-2:] == ["response.cancel", "session.finish"]


def test_cancel_can_be_configured_to_send_response_done(make_emulator, emulator_client):
    emu = make_emulator(cancel_response_done="cancelled")
    client = emulator_client(emu)
    _active_response(emu, client)
    client.send("response.cancel")
    done = client.until("response.done")[-1]["response"]
    assert done["status"] == "cancelled" and done["output"][0]["status"] == "incomplete"
    emu.release_responses()


def test_speech_during_a_response_interrupts_it(emulator, emulator_client):
    client = emulator_client(emulator)
    emulator.hold_responses(after_packets=1)
    client.append(TONE_1S + SILENCE_1S)  # a VAD turn -> response
    client.until("response.audio.delta")
    client.append(TONE_1S)
    events = client.until("input_audio_buffer.speech_started")
    events += client.until("response.output_item.done")
    assert events[-1]["item"]["status"] == "incomplete"
    emulator.release_responses()
    client.append(SILENCE_1S)  # the new turn ends and gets its own, complete response
    events = client.until("response.done")
    assert events[-1]["response"]["status"] == "completed"
    first_response = [e for e in events if e["type"] == "response.done"]
    assert len(first_response) == 1


def test_interrupt_response_false_keeps_the_response(emulator, emulator_client):
    client = emulator_client(emulator)
    client.send("session.update", session={"turn_detection": {"interrupt_response": False}})
    client.until("session.updated")
    emulator.hold_responses(after_packets=1)
    client.append(TONE_1S + SILENCE_1S)
    client.until("response.audio.delta")
    client.append(TONE_1S)
    client.until("input_audio_buffer.speech_started")
    emulator.release_responses()
    assert client.until("response.done")[-1]["response"]["status"] == "completed"


# --- images and usage ---------------------------------------------------------------------------


def test_image_usage_and_audio_tokens(emulator, emulator_client):
    client = emulator_client(emulator)
    manual(client)
    client.append(TONE_1S * 2)
    client.send("input_image_buffer.append", image=jpeg(480, 480))
    client.send("input_audio_buffer.commit")
    client.send("response.create")
    done = client.until("response.done")[-1]["response"]
    assert done["output"][0]["content"][0]["transcript"] == \
        "I heard about 2.0 seconds of speech and 1 image."
    usage = done["usage"]
    # Audio and image turns still read the chat template: a text-token baseline.
    assert usage["input_tokens_details"] == {"text_tokens": TEMPLATE_TOKENS,
                                             "audio_tokens": 14, "video_tokens": 225}
    out = usage["output_tokens_details"]
    assert out["audio_tokens"] > 0 and out["text_tokens"] == 12  # 48 characters / 4
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert "plugins" not in usage


@pytest.mark.parametrize("model, audio_tokens, video_tokens", [
    ("qwen3-omni-flash-realtime", 25, 225),  # 12.5 tokens/s, 32 px patches
    ("qwen-omni-turbo-realtime", 50, 289),  # 25 tokens/s, 28 px patches (476/28 = 17)
])
def test_token_rules_per_model(emulator, emulator_client, model, audio_tokens, video_tokens):
    client = emulator_client(emulator, model=model)
    manual(client)
    client.append(TONE_1S * 2)
    client.send("input_image_buffer.append", image=jpeg(480, 480))
    client.send("input_audio_buffer.commit")
    client.send("response.create")
    usage = client.until("response.done")[-1]["response"]["usage"]
    assert usage["input_tokens_details"] == {"text_tokens": TEMPLATE_TOKENS,
                                             "audio_tokens": audio_tokens,
                                             "video_tokens": video_tokens}


def test_search_adds_plugins_to_usage(emulator, emulator_client):
    client = emulator_client(emulator)
    manual(client, modalities=["text"], enable_search=True,
           search_options={"enable_source": True})
    client.send("response.create")
    usage = client.until("response.done")[-1]["response"]["usage"]
    assert usage["plugins"] == {"search": {"count": 1, "strategy": "agent"}}


# --- documented errors --------------------------------------------------------------------------


@pytest.mark.parametrize("session, code, param, message", [
    ({"modalities": ["audio"]}, "invalid_value", "session.modalities",
     "Invalid modalities: ['audio']. Supported combinations are: ['text'] and ['audio', 'text']."),
    ({"turn_detection": {"threshold": 1.5}}, "invalid_value",
     "session.turn_detection.threshold", None),
    ({"turn_detection": {"silence_duration_ms": 100}}, "invalid_value",
     "session.turn_detection.silence_duration_ms", None),
    ({"turn_detection": {"type": "smart_turn"}}, "invalid_value",
     "session.turn_detection.type", "Unsupported turn_detection.type"),
    ({"voice": ""}, "invalid_value", "session.voice", None),
])
def test_invalid_session_values(emulator, emulator_client, session, code, param, message):
    client = emulator_client(emulator)
    client.send("session.update", session=session)
    error = error_of(client)
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", code, param)
    if message:
        assert error["message"] == message
    client.send("session.update", session={})
    assert client.until("session.updated")[-1]["session"]["modalities"] == ["text", "audio"]


def test_semantic_vad_only_on_qwen35(emulator, emulator_client):
    ok = emulator_client(emulator)
    ok.send("session.update", session={"turn_detection": {"type": "semantic_vad"}})
    assert ok.until("session.updated")[-1]["session"]["turn_detection"]["type"] == "semantic_vad"
    flash = emulator_client(emulator, model="qwen3-omni-flash-realtime")
    flash.send("session.update", session={"turn_detection": {"type": "semantic_vad"}})
    assert error_of(flash)["message"] == "Unsupported turn_detection.type"


def test_unknown_voice_fails_at_generation(emulator, emulator_client):
    client = emulator_client(emulator)
    manual(client, voice="NoSuchVoiceZZZ")
    client.send("response.create")
    assert error_of(client)["message"] == "Voice 'NoSuchVoiceZZZ' is not supported."
    manual(client, voice="Chelsie")  # a turbo voice, not a qwen3.5 one
    client.send("response.create")
    assert error_of(client)["message"] == "Voice 'Chelsie' is not supported."


def test_cherry_speaks_on_qwen35_as_the_vendor_samples_expect(emulator, emulator_client):
    client = emulator_client(emulator)
    manual(client, voice="Cherry")
    client.send("response.create")
    events = client.until("response.done")
    assert "error" not in [e["type"] for e in events]
    assert "response.audio.delta" in [e["type"] for e in events]
    assert events[-1]["response"]["status"] == "completed"


def test_voice_cannot_change_after_audio(emulator, emulator_client):
    client = emulator_client(emulator)
    manual(client)
    client.send("response.create")
    client.until("response.done")
    client.send("session.update", session={"voice": "Ethan"})
    assert error_of(client)["code"] == "cannot_update_voice"


def test_image_before_audio(emulator, emulator_client):
    client = emulator_client(emulator)
    client.send("input_image_buffer.append", image=jpeg())
    assert error_of(client)["message"] == "Error append image before append audio."


@pytest.mark.parametrize("image, words", [
    (base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(64)).decode(), "only JPEG"),
    ("not base64!", "base64"),
    (jpeg(2560, 1440, quality=10), "1080p"),
])
def test_bad_images(emulator, emulator_client, image, words):
    client = emulator_client(emulator)
    client.append(SILENCE_1S)
    client.send("input_image_buffer.append", image=image)
    assert words in error_of(client)["message"]


def test_image_size_limit(make_emulator, emulator_client):
    client = emulator_client(make_emulator(image_limit_b64_bytes=1000))
    client.append(SILENCE_1S)
    client.send("input_image_buffer.append", image=jpeg())
    assert "too large" in error_of(client)["message"]


def test_cancel_without_response(emulator, emulator_client):
    client = emulator_client(emulator)
    client.send("response.cancel")
    error = error_of(client)
    assert error == {"type": "invalid_request_error", "code": "",
                     "message": "Conversation has none active response", "param": ""}


def test_response_create_while_active(emulator, emulator_client):
    client = emulator_client(emulator)
    _active_response(emulator, client)
    client.send("response.create")
    assert error_of(client)["message"] == "Conversation already has an active response"
    emulator.release_responses()
    client.until("response.done")


def test_image_item_is_an_invalid_video_file(emulator, emulator_client):
    client = emulator_client(emulator)
    client.send("conversation.item.create", item={
        "type": "message", "role": "user",
        "content": [{"type": "input_image", "image_url": "data:image/jpeg;base64,/9j/"}]})
    assert error_of(client)["message"] == "Invalid video file."


def test_function_call_output_item(emulator, emulator_client):
    client = emulator_client(emulator)
    client.send("conversation.item.create",
                item={"type": "function_call_output", "call_id": "call_1", "output": "42"})
    item = client.until("conversation.item.created")[-1]["item"]
    assert item["type"] == "function_call_output" and item["output"] == "42"


@pytest.mark.parametrize("response, param, message", [
    ({"modalities": 5}, "response.modalities",
     "Invalid modalities: 5. Supported combinations are: ['text'] and ['audio', 'text']."),
    ({"modalities": ["audio"]}, "response.modalities", None),
    ({"instructions": 7}, "response.instructions", None),
    ("text", "response", None),
])
def test_invalid_response_create_fields_are_validation_errors(emulator, emulator_client,
                                                              response, param, message):
    """Issue 16: `modalities: 5` got internal_error; it is a validation error like
    session.update's, and the connection goes on."""
    client = emulator_client(emulator)
    manual(client, modalities=["text"])
    client.send("response.create", response=response)
    error = error_of(client)
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error",
                                                              "invalid_value", param)
    if message:
        assert error["message"] == message
    client.send("response.create", response={"modalities": ["text"]})
    assert client.until("response.done")[-1]["response"]["status"] == "completed"
