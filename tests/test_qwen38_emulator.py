"""The emulator speaks qwen3.8 (docs/qwen38.md): the nested audio object and its checks,
audio.output.voice over voice, microphone-array input, its ranges, MCP entries only where
supported, and the late voice error on every model (also when the VAD starts the reply)."""

from __future__ import annotations

import numpy as np
import pytest

QWEN38 = "qwen3.8-omni-flash-realtime"
QWEN35 = "qwen3.5-omni-plus-realtime"
RATE = 16_000


def _utterance(channels: int = 1) -> bytes:
    """0.3 s silence, 1 s of a loud tone, 1.2 s silence; the tone on the first channel only."""
    t = np.arange(RATE) / RATE
    tone = (9000 * np.sin(2 * np.pi * 300 * t)).astype("<i2")
    mono = np.concatenate([np.zeros(RATE * 3 // 10, "<i2"), tone,
                           np.zeros(RATE * 12 // 10, "<i2")])
    frames = np.zeros((mono.size, channels), "<i2")
    frames[:, 0] = mono
    return frames.tobytes()


def _session(client, **session) -> dict:
    client.send("session.update", session=session)
    event = client.until("session.updated")[-1] if "error" not in session else None
    return event


def _rejected(client, **session) -> dict:
    client.send("session.update", session=session)
    event = client.recv()
    assert event["type"] == "error", event
    return event["error"]


def _audio(channels: int, **output) -> dict:
    fmt = {"type": "pcm", "sample_rate": 16000, "sample_format": "s16le",
           "channels": channels, "packing": "interleaved",
           "channel_layout": "mono" if channels == 1 else "raw_mic_array"}
    return {"input": {"format": fmt}, **({"output": output} if output else {})}


def test_the_nested_audio_object_is_accepted_and_echoed_on_qwen38(emulator, emulator_client):
    client = emulator_client(emulator, model=QWEN38)
    assert client.created["session"]["voice"] == "Tina"
    echoed = _session(client, audio=_audio(2, voice="Ethan"),
                      video={"input": {"representation_compact": "normal"}})
    assert echoed["session"]["audio"]["input"]["format"]["channels"] == 2
    assert echoed["session"]["video"] == {"input": {"representation_compact": "normal"}}


@pytest.mark.parametrize("model, session, param", [
    (QWEN38, {"audio": _audio(3)}, "session.audio.input.format.channels"),
    (QWEN38, {"audio": {"input": {"format": {"channels": 2, "sample_rate": 48000}}}},
     "session.audio.input.format"),
    (QWEN38, {"audio": {"input": {"format": {"channels": 2, "channel_layout": "foa_ambix"}}}},
     "session.audio.input.format.channel_layout"),
    (QWEN38, {"max_tokens": 65_537}, "session.max_tokens"),
    (QWEN35, {"audio": _audio(2)}, "session.audio.input.format.sample_format"),
    (QWEN35, {"audio": {"output": {"voice": "Tina"}}}, "session.audio.output.voice"),
    (QWEN35, {"video": {"input": {"representation_compact": "normal"}}}, "session.video"),
    (QWEN35, {"tools": [{"type": "mcp", "server_label": "docs",
                         "server_url": "http://127.0.0.1:9/mcp", "require_approval": "always"}]},
     "session.tools"),
])
def test_qwen38_fields_are_checked_per_model(emulator, emulator_client, model, session, param):
    client = emulator_client(emulator, model=model)
    assert _rejected(client, **session)["param"] == param


def test_qwen38_takes_its_own_ranges(emulator, emulator_client):
    client = emulator_client(emulator, model=QWEN38)
    echoed = _session(client, max_tokens=65_536, repetition_penalty=0)
    assert echoed["session"]["max_tokens"] == 65_536


def test_audio_output_voice_wins_over_voice(emulator, emulator_client):
    client = emulator_client(emulator, model=QWEN38)
    _session(client, voice="Tina", audio={"output": {"voice": "Nobody"}},
             turn_detection=None)
    client.send("response.create")
    assert client.recv()["error"]["message"] == "Voice 'Nobody' is not supported."


@pytest.mark.parametrize("model", [QWEN35, "qwen3-omni-flash-realtime", QWEN38])
def test_the_late_voice_error_comes_when_the_vad_starts_a_reply(model, emulator,
                                                               emulator_client):
    client = emulator_client(emulator, model=model)
    echoed = _session(client, voice="Nobody")
    assert echoed["session"]["voice"] == "Nobody"  # accepted: the service checks later
    client.append(_utterance())
    seen = client.until("error")
    assert "input_audio_buffer.speech_stopped" in [e["type"] for e in seen]
    assert seen[-1]["error"]["message"] == "Voice 'Nobody' is not supported."
    assert "response.created" not in [e["type"] for e in seen]


def _input_audio_tokens(client) -> tuple[int, list[str]]:
    done = client.until("response.done")
    return (done[-1]["response"]["usage"]["input_tokens_details"]["audio_tokens"],
            [e["type"] for e in done])


def test_two_channel_input_is_heard_on_its_first_channel_and_costs_twice(emulator,
                                                                          emulator_client):
    stereo = emulator_client(emulator, model=QWEN38)
    _session(stereo, audio=_audio(2))
    stereo.append(_utterance(2), chunk_bytes=6400)
    stereo_tokens, types = _input_audio_tokens(stereo)
    assert "input_audio_buffer.speech_started" in types
    mono = emulator_client(emulator, model=QWEN38)
    _session(mono, audio=_audio(1))
    mono.append(_utterance(1))
    mono_tokens, _ = _input_audio_tokens(mono)
    assert mono_tokens > 0 and stereo_tokens == 2 * mono_tokens


def test_mcp_credentials_are_neither_echoed_nor_traced(make_emulator, emulator_client,
                                                       tmp_path):
    trace = tmp_path / "trace.jsonl"
    emulator = make_emulator(trace=trace)
    client = emulator_client(emulator, model=QWEN38)
    tool = {"type": "mcp", "server_label": "docs", "server_url": "http://127.0.0.1:9/mcp",
            "authorization": "tok-secret-123", "headers": {"X-Key": "hdr-secret-456"},
            "require_approval": "never"}
    echoed = _session(client, tools=[tool])
    assert echoed["session"]["tools"][0]["authorization"] == "***"
    assert echoed["session"]["tools"][0]["headers"] == {"X-Key": "***"}
    client.close()
    emulator.close()
    text = trace.read_text()
    assert '"server_label":"docs"' in text  # the session.update was traced, masked
    assert "tok-secret-123" not in text + str(echoed) and "hdr-secret-456" not in text
