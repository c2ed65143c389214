"""The emulator's core flows through a plain websocket-client connection."""

from __future__ import annotations

import base64
import json

from websocket import create_connection

from omnichat.emulator import Emulator

MODEL = "qwen3.5-omni-plus-realtime"
SILENCE_1S = bytes(32_000)


def connect(emu, model=MODEL, **kwargs):
    ws = create_connection(f"{emu.url}?model={model}", timeout=10, **kwargs)
    created = json.loads(ws.recv())
    assert created["type"] == "session.created"
    return ws


def send(ws, type_name, **fields):
    ws.send(json.dumps({"type": type_name, **fields}))


def append(ws, pcm, chunk=3200):
    for i in range(0, len(pcm), chunk):
        send(ws, "input_audio_buffer.append", audio=base64.b64encode(pcm[i:i + chunk]).decode())


def recv_until(ws, type_name, limit=2000):
    seen = []
    for _ in range(limit):
        event = json.loads(ws.recv())
        seen.append(event)
        if event["type"] == type_name:
            return seen
    raise AssertionError(f"no {type_name}")


def test_context_manager_url_and_threads():
    with Emulator() as emu:
        assert emu.url.startswith("ws://127.0.0.1:") and emu.url.endswith("/api-ws/v1/realtime")
        assert emu.port != 0
    emu.close()  # idempotent


def test_vad_turn_gets_a_spoken_reply(emulator, speech_pcm):
    ws = connect(emulator)
    append(ws, SILENCE_1S + speech_pcm("Hello there, how are you today?") + 2 * SILENCE_1S)
    events = recv_until(ws, "response.done")
    types = [e["type"] for e in events]
    assert types[:5] == ["input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
                         "input_audio_buffer.committed", "conversation.item.created",
                         "conversation.item.input_audio_transcription.completed"]
    assert "response.audio.delta" in types and "response.audio_transcript.delta" in types
    pcm = b"".join(base64.b64decode(e["delta"]) for e in events
                   if e["type"] == "response.audio.delta")
    assert len(pcm) > 24_000  # more than half a second of 24 kHz speech
    done = events[-1]["response"]
    assert done["status"] == "completed"
    assert done["output"][0]["content"][0]["transcript"].startswith("I heard about")
    ws.close()
    session = emulator.wait_for_connection()
    assert session.received_types[0] == "input_audio_buffer.append"
