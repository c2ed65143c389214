"""Server VAD semantics on real speech (espeak-ng), all in audio time."""

from __future__ import annotations

import numpy as np
import pytest

from omnichat.audio.level import rms_dbfs as frame_dbfs
from omnichat.emulator.vad import EnergyVad, start_level_dbfs

RATE = 16_000


def silence(ms: int) -> bytes:
    return bytes(RATE * ms // 1000 * 2)


def loud_span_ms(pcm: bytes, threshold: float = 0.5) -> tuple[int, int]:
    """First and last 20 ms frame of ``pcm`` above the VAD's start level."""
    samples = np.frombuffer(pcm, dtype="<i2")
    frames = [frame_dbfs(samples[i:i + 320]) for i in range(0, len(samples) - 319, 320)]
    loud = [i for i, level in enumerate(frames) if level >= start_level_dbfs(threshold)]
    return loud[0] * 20, (loud[-1] + 1) * 20


def events(client, pcm: bytes, chunk_bytes: int = 3200) -> list[dict]:
    """Everything the emulator sent for ``pcm`` (session.finish marks the end)."""
    client.append(pcm, chunk_bytes)
    client.send("session.finish")
    return client.until("session.finished")


def vad_session(emulator, emulator_client, **turn_detection) -> object:
    client = emulator_client(emulator)
    turn = {"create_response": False} | turn_detection
    client.send("session.update", session={"turn_detection": turn})
    client.until("session.updated")
    return client


def test_start_and_end_positions_on_real_speech(emulator, emulator_client, speech_pcm):
    clip = speech_pcm("Please book a table for two at seven.")
    first, last = loud_span_ms(clip)
    client = vad_session(emulator, emulator_client)
    sent = events(client, silence(1000) + clip + silence(1200))
    started = next(e for e in sent if e["type"] == "input_audio_buffer.speech_started")
    stopped = next(e for e in sent if e["type"] == "input_audio_buffer.speech_stopped")
    assert started["audio_start_ms"] == 1000 + first
    assert abs(stopped["audio_end_ms"] - (1000 + last)) <= 100
    assert started["item_id"] == stopped["item_id"]


def test_timing_does_not_depend_on_chunking(make_emulator, emulator_client, speech_pcm):
    pcm = silence(300) + speech_pcm("Hello, is anybody there?") + silence(1000)
    results = []
    for chunk in (3200, 1000, 64_000):
        client = vad_session(make_emulator(), emulator_client)
        results.append([(e["type"], e.get("audio_start_ms"), e.get("audio_end_ms"))
                        for e in events(client, pcm, chunk) if "speech" in e["type"]])
    assert results[0] == results[1] == results[2] and len(results[0]) == 2


def test_no_stop_until_the_silence_has_lasted(emulator, emulator_client, speech_pcm):
    client = vad_session(emulator, emulator_client, silence_duration_ms=800)
    sent = events(client, speech_pcm("Wait for it.") + silence(500))
    types = [e["type"] for e in sent]
    assert "input_audio_buffer.speech_started" in types
    assert "input_audio_buffer.speech_stopped" not in types
    sent = events(client, silence(500))
    assert "input_audio_buffer.speech_stopped" in [e["type"] for e in sent]


def test_silence_duration_splits_or_joins_words(make_emulator, emulator_client, speech_pcm):
    pcm = speech_pcm("one") + silence(500) + speech_pcm("two") + silence(1500)
    counts = {}
    for silence_ms in (300, 900):
        client = vad_session(make_emulator(), emulator_client, silence_duration_ms=silence_ms)
        counts[silence_ms] = [e["type"] for e in events(client, pcm)].count(
            "input_audio_buffer.committed")
    assert counts == {300: 2, 900: 1}


def test_clicks_do_not_start_speech(emulator, emulator_client):
    click = (np.ones(RATE * 40 // 1000) * 20_000).astype("<i2").tobytes()  # 40 ms
    client = vad_session(emulator, emulator_client, threshold=-1.0)
    sent = events(client, (silence(300) + click) * 5 + silence(1000))
    assert not [e for e in sent if e["type"].startswith("input_audio_buffer.speech")]


def test_threshold_decides_what_is_speech(make_emulator, emulator_client, speech_pcm):
    quiet = (np.frombuffer(speech_pcm("Can you hear me?"), dtype="<i2") * 0.03).astype("<i2")
    pcm = silence(200) + quiet.tobytes() + silence(1200)
    heard = {}
    for threshold in (0.9, -1.0):
        client = vad_session(make_emulator(), emulator_client, threshold=threshold)
        heard[threshold] = "input_audio_buffer.speech_started" in [
            e["type"] for e in events(client, pcm)]
    assert heard == {0.9: False, -1.0: True}


def test_prefix_padding_is_part_of_the_item(make_emulator, emulator_client):
    tone = (np.sin(np.arange(RATE) * 0.2) * 12_000).astype("<i2").tobytes()
    said = {}
    for padding in (0, 500):
        client = vad_session(make_emulator(), emulator_client, prefix_padding_ms=padding,
                             silence_duration_ms=500)
        sent = events(client, silence(1000) + tone + silence(700))
        said[padding] = next(e["transcript"] for e in sent if e["type"].endswith(
            "transcription.completed"))
    assert said == {0: "[1.0 s of speech]", 500: "[1.5 s of speech]"}


def test_semantic_vad_waits_longer_after_a_short_utterance():
    short = (np.sin(np.arange(RATE // 2) * 0.2) * 12_000).astype("<i2").tobytes()  # 0.5 s
    plain = EnergyVad(threshold=0.5, silence_ms=400)
    semantic = EnergyVad(threshold=0.5, silence_ms=400, semantic=True)
    pcm = short + silence(500)
    assert [e.kind for e in plain.feed(pcm)] == ["start", "stop"]
    assert [e.kind for e in semantic.feed(pcm)] == ["start"]
    assert [e.kind for e in semantic.feed(silence(200))] == ["stop"]  # 600 ms = 1.5 x 400


@pytest.mark.parametrize("rate", [8000, 48_000])
def test_other_input_rates_keep_audio_time(emulator, emulator_client, rate):
    client = emulator_client(emulator)
    client.send("session.update", session={
        "audio": {"input": {"format": {"type": "pcm", "sample_rate": rate}}},
        "turn_detection": {"create_response": False}})
    client.until("session.updated")
    tone = (np.sin(np.arange(rate) * 0.2 * 16_000 / rate) * 12_000).astype("<i2").tobytes()
    client.append(bytes(rate * 2) + tone + bytes(rate * 2))
    started = client.until("input_audio_buffer.speech_started")[-1]
    assert started["audio_start_ms"] == 1000
