"""A microphone array (qwen3.8, docs/qwen38.md): a 2-channel source on the virtual sound card
(``rig_stereo_mic``) captured by a real PortAudio stream, sent interleaved with the
2-channel layout to the emulator, whose VAD hears the first channel. Skips with its reason
where the rig cannot run."""

from __future__ import annotations

import subprocess
import time
import wave
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from omnichat.audio.microphone import Microphone
from omnichat.cli import app
from omnichat.config.settings import Settings, TurnDetection
from omnichat.engine import Engine
from omnichat.engine import updates as up
from omnichat.transport import WebSocketTransport

QWEN38 = "qwen3.8-omni-flash-realtime"
RATE = 16_000
LEFT_HZ, RIGHT_HZ = 300.0, 1000.0


def _stereo_wav(path: Path) -> Path:
    """0.3 s silence, 0.7 s of a loud 300 Hz tone on the left and a softer 1 kHz tone on the
    right, 0.6 s silence (the service's VAD needs the pause to end the turn)."""
    t = np.arange(int(0.7 * RATE)) / RATE
    frames = np.zeros((int(1.6 * RATE), 2))
    start = RATE * 3 // 10
    frames[start:start + t.size, 0] = 0.4 * np.sin(2 * np.pi * LEFT_HZ * t)
    frames[start:start + t.size, 1] = 0.15 * np.sin(2 * np.pi * RIGHT_HZ * t)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(2)
        handle.setsampwidth(2)
        handle.setframerate(RATE)
        handle.writeframes((frames * 32767).astype("<i2").tobytes())
    return path


def _strongest_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(float)))
    return float(np.fft.rfftfreq(samples.size, 1 / RATE)[int(np.argmax(spectrum))])


def test_a_two_channel_microphone_reaches_the_service_interleaved(virtual_audio, emulator,
                                                                  tmp_path):
    settings = Settings(model=QWEN38, modalities=("text",), input_channels=2,
                        turn_detection=TurnDetection(silence_duration_ms=300))
    url = f"{emulator.url}?model={QWEN38}"
    engine = Engine(settings.session_payload(), connect=lambda: WebSocketTransport(url, None),
                    mic_channels=2)
    seen: list = []
    with engine, Microphone(engine.feed_mic, device="rig_stereo_mic", channels=2):
        player = subprocess.Popen(["paplay", "-d", "rig_stereo_mic_feed",
                                   str(_stereo_wav(tmp_path / "array.wav"))],
                                  stderr=subprocess.PIPE)
        player.wait(30)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(
                isinstance(u, up.TurnFinished) and u.turn.role == "assistant" for u in seen):
            seen.extend(engine.poll(0.05))
    session = emulator.connection.received[0].session
    assert session["audio"]["input"]["format"] == {
        "type": "pcm", "sample_rate": 16000, "sample_format": "s16le", "channels": 2,
        "packing": "interleaved", "channel_layout": "raw_mic_array"}
    assert "input_audio_buffer.speech_stopped" in emulator.connection.sent_types
    turns = [u.turn for u in seen if isinstance(u, up.TurnFinished)]
    assert [t.role for t in turns][-2:] == ["user", "assistant"], seen
    pcm = b"".join(e.pcm for e in emulator.connection.received
                   if e.type == "input_audio_buffer.append")
    frames = np.frombuffer(pcm[:len(pcm) // 4 * 4], dtype="<i2").reshape(-1, 2)
    onset = int(np.argmax(np.abs(frames[:, 0]) > 3000))
    tone = frames[onset + RATE // 10:onset + RATE // 10 + RATE // 2]  # 0.5 s inside the tone
    assert onset > 0 and tone.shape[0] == RATE // 2
    # The left channel is the left channel: nothing mixed, swapped or duplicated.
    assert abs(_strongest_hz(tone[:, 0]) - LEFT_HZ) < 5
    assert abs(_strongest_hz(tone[:, 1]) - RIGHT_HZ) < 5
    usage = [t.usage for t in turns if t.role == "assistant"][-1]
    print(f"2-channel turn: usage {usage}")


def test_input_channels_are_refused_elsewhere_in_one_line():
    result = CliRunner().invoke(app, ["talk", "--local", "--input-channels", "2"])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0
    assert "2 input channels are not supported by qwen3.5-omni-plus-realtime" in result.output


def test_a_microphone_array_refuses_the_mono_file_paths(tmp_path):
    from test_engine_support import write_wav

    question = write_wav(tmp_path / "q.wav", bytes(3200))
    result = CliRunner().invoke(app, ["talk", "--local", "-m", QWEN38, "--input-channels", "2",
                                      "--input", str(question)])
    assert result.exit_code == 2
    assert "--input and --record work with one channel" in result.output
