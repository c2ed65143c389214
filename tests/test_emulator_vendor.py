"""The vendor guide's own WebSocket sample client (tests/vendor, unchanged) against the emulator.

The guide's vad_mode.py / manual mode scripts read a microphone through pyaudio; this thin
driver feeds the same client methods audio from espeak-ng instead and leaves the protocol
code untouched. Only the URL and key differ from the guide.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "vendor"))

from omni_realtime_client import OmniRealtimeClient, TurnDetectionMode

MODEL = "qwen3.5-omni-plus-realtime"
KEY = "sk-vendor-sample"


async def run_turn(emu, mode, pcm: bytes) -> list[bytes]:
    done = asyncio.Event()
    audio: list[bytes] = []
    client = OmniRealtimeClient(base_url=emu.url, api_key=KEY, model=MODEL,
                                turn_detection_mode=mode, on_audio_delta=audio.append,
                                extra_event_handlers={
                                    # response.done is consumed by the sample's own branch
                                    "response.output_item.done": lambda e: done.set()})
    await client.connect()
    reader = asyncio.create_task(client.handle_messages())
    for i in range(0, len(pcm), 3200):
        await client.stream_audio(pcm[i:i + 3200])
    if mode is TurnDetectionMode.MANUAL:
        await client.commit_audio_buffer()
        await client.create_response()
    await asyncio.wait_for(done.wait(), timeout=20)
    await client.close()
    await asyncio.wait_for(reader, timeout=10)
    return audio


def test_vendor_client_vad_turn(make_emulator, speech_pcm):
    emu = make_emulator(api_key=KEY)
    pcm = bytes(16_000) + speech_pcm("Good morning, please tell me a story.") + bytes(64_000)
    audio = asyncio.run(run_turn(emu, TurnDetectionMode.SERVER_VAD, pcm))
    assert sum(map(len, audio)) > 24_000
    session = emu.wait_for_connection()
    session.wait_for("response.done")
    assert session.config["turn_detection"]["prefix_padding_ms"] == 500  # the sample's value
    assert "input_audio_buffer.speech_stopped" in session.sent_types


def test_vendor_client_manual_turn(make_emulator, speech_pcm):
    emu = make_emulator(api_key=KEY)
    audio = asyncio.run(run_turn(emu, TurnDetectionMode.MANUAL, speech_pcm("What time is it?")))
    assert audio
    session = emu.wait_for_connection()
    session.wait_for("response.done")
    assert session.received_types[-2:] == ["input_audio_buffer.commit", "response.create"]
    assert "input_audio_buffer.speech_started" not in session.sent_types
