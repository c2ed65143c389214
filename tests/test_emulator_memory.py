"""The emulator keeps nothing per frame unless a test asks (defect 4 of issue 7).

A two-hour conversation used to hold every frame sent and received, audio included, and every
finished connection (about 0.75 GB, also inside ``talk --local``). Memory is measured here
with tracemalloc over many turns on a real socket: allocation sizes, not time.
"""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np
from fixtures_emulator import RawClient

from omnichat.emulator import Emulator

TONE_1S = (np.sin(np.arange(16_000) * 0.2) * 12_000).astype("<i2").tobytes()
TURNS = 5


def manual_turn(client: RawClient) -> None:
    client.append(TONE_1S * 2)
    client.send("input_audio_buffer.commit")
    client.send("response.create")
    client.until("response.done")


def held_bytes() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def test_without_recording_memory_does_not_grow_with_turns():
    with Emulator(speed="fast", replies=["Sure, here it is."]) as emu:
        client = RawClient(emu)
        client.send("session.update", session={"turn_detection": None})
        client.until("session.updated")
        manual_turn(client)  # warm caches (reply speech, imports)
        tracemalloc.start()
        try:
            before = held_bytes()
            for _ in range(TURNS):
                manual_turn(client)
            grown = held_bytes() - before
        finally:
            tracemalloc.stop()
        client.close()
    # Each turn moves ~85 kB of base64 audio in and ~40 kB out: keeping them would be ~1 MB.
    assert grown < 300_000, f"{grown} bytes retained after {TURNS} turns"


def test_finished_connections_are_forgotten_without_recording():
    with Emulator(speed="fast") as emu:
        for _ in range(3):
            client = RawClient(emu)
            client.close()
        emu.wait_until_idle(timeout=5.0)
        assert emu.connections == []


def test_recording_is_bounded_and_summarises_payloads_past_its_budget(make_emulator,
                                                                      emulator_client):
    emu = make_emulator(record_max_payload_bytes=50_000, record_max_events=30,
                        replies=["Sure, here it is."])
    client = emulator_client(emu)
    client.send("session.update", session={"turn_detection": None})
    for _ in range(3):
        manual_turn(client)
    recording = emu.wait_for_connection().recording
    assert recording is not None
    assert recording.payload_chars_held() <= 50_000 + 200 * 30  # plus "<N base64 chars>" marks
    assert len(recording.received) == len(recording.sent) == 30
    summarised = [e for e in recording.sent if e["type"] == "response.audio.delta"]
    assert summarised and all(e["delta"].endswith(" base64 chars>") for e in summarised)
