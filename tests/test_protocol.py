"""The pure protocol layer: real frames from the live service round-trip unchanged, every
documented event decodes to its typed value, and bad frames raise ProtocolError."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from omnichat import protocol as p
from omnichat.errors import ProtocolError

REAL_TRAFFIC = Path(__file__).parent / "data" / "real-traffic"


def _real_frames():
    """Every event object in the recorded JSONL files (comment lines skipped)."""
    frames = []
    for path in sorted(REAL_TRAFFIC.glob("*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            obj = json.loads(line)
            if "_source" in obj or "close_code" in obj:
                continue  # provenance notes and close frames are not events
            event = obj.get("event", obj)
            frames.append(pytest.param(event, id=f"{path.stem[:24]}:{number}"))
    return frames


def _sdk_frames():
    text = (REAL_TRAFFIC / "dashscope_sdk_2.0.2_wire_frames.txt").read_text(encoding="utf-8")
    return [json.loads(line[len("SENT "):]) for line in text.splitlines()
            if line.startswith("SENT ")]


@pytest.mark.parametrize("frame", _real_frames())
def test_real_frame_round_trips_losslessly(frame):
    event = p.decode(json.dumps(frame, ensure_ascii=False))
    assert event.type == frame["type"]
    assert json.loads(p.encode(event)) == frame
    assert p.decode(p.encode(event)) == event


def test_real_frames_cover_the_main_server_events():
    types = {f.values[0]["type"] for f in _real_frames()}
    for expected in ("session.created", "session.updated", "response.created", "response.done",
                     "response.text.delta", "conversation.item.created",
                     "input_audio_buffer.speech_started", "response.function_call_arguments.done"):
        assert expected in types


def test_every_frame_the_official_sdk_sends_decodes_to_a_known_client_event():
    frames = _sdk_frames()
    assert len(frames) >= 10
    for frame in frames:
        event = p.decode(json.dumps(frame))
        assert event.known and event.type in p.CLIENT_EVENT_TYPES
        assert json.loads(p.encode(event)) == frame


def test_real_session_created_exposes_its_session():
    frame = next(f.values[0] for f in _real_frames() if f.values[0]["type"] == "session.created")
    event = p.decode(json.dumps(frame))
    assert isinstance(event, p.SessionCreated)
    assert event.session["voice"] == "Tina"
    assert event.event_id.startswith("event_")


def test_unknown_event_type_is_kept_as_a_generic_event():
    event = p.decode('{"type":"response.text.text","text":"hi","extra":{"a":1}}')
    assert type(event) is p.Event and not event.known
    assert event.get("extra") == {"a": 1}
    assert json.loads(p.encode(event)) == {"type": "response.text.text", "text": "hi",
                                           "extra": {"a": 1}}


@pytest.mark.parametrize("frame, fragment", [
    ("not json", "not JSON"),
    ("[1, 2]", "not an object"),
    ('{"event_id": "x"}', "no 'type'"),
    ('{"type": ""}', "no 'type'"),
    ('{"type": 7}', "no 'type'"),
    (b"\xff\xfe", "not UTF-8"),
    ('{"type": "response.audio.delta"}', "'delta'"),
    ('{"type": "session.update", "session": "x"}', "'session'"),
    ('{"type": "error", "error": null}', "'error'"),
])
def test_malformed_frames_raise_protocol_error(frame, fragment):
    with pytest.raises(ProtocolError, match=fragment):
        p.decode(frame)


def test_audio_payload_that_is_not_base64_raises_protocol_error():
    event = p.decode('{"type":"response.audio.delta","delta":"%%%not base64"}')
    with pytest.raises(ProtocolError, match="base64"):
        _ = event.pcm


def test_client_builders_produce_the_documented_shapes():
    pcm = bytes(range(256)) * 4
    assert p.decode(p.encode(p.input_audio_append(pcm))).pcm == pcm
    assert p.session_update({"voice": "Tina"}, event_id="event_1").data == {
        "event_id": "event_1", "type": "session.update", "session": {"voice": "Tina"}}
    assert p.response_create().data == {"type": "response.create"}
    assert p.response_create(instructions="be brief", modalities=["text"]).data["response"] == {
        "instructions": "be brief", "modalities": ["text"]}
    assert p.user_text_message("hello").data["item"] == {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]}
    assert p.function_call_output("call_1", "{}").data["item"]["type"] == "function_call_output"
    assert p.input_image_append(b"\xff\xd8\xff").data["image"] == "/9j/"
    for builder in (p.input_audio_commit, p.input_audio_clear, p.response_cancel, p.session_finish):
        assert set(builder().data) == {"type"}


def test_server_builders_start_with_a_service_style_event_id():
    event = p.error_event("Conversation has none active response")
    frame = p.encode(event)
    assert frame.startswith('{"event_id":"event_')
    decoded = p.decode(frame)
    assert isinstance(decoded, p.ErrorEvent)
    assert decoded.message == "Conversation has none active response"
    assert decoded.error == {"type": "invalid_request_error", "code": "", "param": "",
                             "message": "Conversation has none active response"}
    assert len(decoded.event_id) == len("event_") + 21


def test_server_builders_decode_to_their_typed_events():
    rid, iid = p.new_id("resp"), p.new_id("item")
    cases = [
        (p.speech_started(120, iid), p.SpeechStarted),
        (p.speech_stopped(900, iid), p.SpeechStopped),
        (p.audio_buffer_committed(iid), p.AudioCommitted),
        (p.item_created({"id": iid, "type": "message"}), p.ItemCreated),
        (p.transcription_completed(iid, "hello"), p.TranscriptionCompleted),
        (p.response_created({"id": rid, "status": "in_progress"}), p.ResponseCreated),
        (p.audio_delta(rid, iid, b"\x01\x02"), p.AudioDelta),
        (p.audio_transcript_delta(rid, iid, "Hi"), p.AudioTranscriptDelta),
        (p.text_delta(rid, iid, "Hi"), p.TextDelta),
        (p.response_done({"id": rid, "status": "completed", "usage": {"total_tokens": 3}}),
         p.ResponseDone),
        (p.function_call_arguments_done(rid, iid, p.new_call_id(), "f", "{}"),
         p.FunctionCallArgumentsDone),
    ]
    for event, cls in cases:
        decoded = p.decode(p.encode(event))
        assert type(decoded) is cls, event.type
        assert decoded == event
    assert p.decode(p.encode(cases[6][0])).pcm == b"\x01\x02"
    assert p.decode(p.encode(cases[9][0])).usage == {"total_tokens": 3}
    assert p.decode(p.encode(cases[0][0])).audio_start_ms == 120


def test_ids_have_the_service_shape():
    assert p.new_id("item").startswith("item_") and len(p.new_id("item")) == 26
    call = p.new_call_id()
    assert call.startswith("call_") and len(call) == 29 and int(call[5:], 16) >= 0
