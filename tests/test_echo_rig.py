"""The echo stage live on the virtual sound card with the echo path on: real PortAudio
streams, the output callback feeding ``on_played`` with ``outputBufferDacTime`` and the input
callback feeding ``process`` with ``inputBufferAdcTime``, exactly as ``talk`` will.

The model's speech plays through the speaker; after 3 s a second voice speaks into the mic
(double talk). The canceller must remove the echo (> 10 dB once converged: 27-35 dB measured,
14.5 dB once on a loaded CI machine) and keep the second voice (correlated with the clean
speech)."""

from __future__ import annotations

import queue
import threading

import numpy as np
import pytest
from echo_signals import espeak, espeak_wav

from omnichat.audio.devices import sounddevice_module
from omnichat.audio.wav import read_wav_mono
from omnichat.echo.canceller import canceller_available
from omnichat.echo.modes import build_stage
from omnichat.echo.offline import energy_db

FAR = "The weather today is sunny with a light breeze, and later this evening we expect rain."
NEAR = "Hello, can you hear me now?"
DOUBLE_TALK_AT_S = 3.0


class Player:
    """Output callback: plays ``signal`` (24 kHz) and reports each block to the stage."""

    def __init__(self, signal, stage):
        self.signal, self.stage, self.pos = signal, stage, 0
        self.done = threading.Event()
        self.at_double_talk = threading.Event()

    def __call__(self, outdata, frames, time_info, status):
        chunk = self.signal[self.pos:self.pos + frames]
        outdata[:chunk.size, 0] = chunk
        outdata[chunk.size:, 0] = 0
        self.stage.on_played(outdata[:, 0], self.pos, time_info.outputBufferDacTime)
        self.pos += frames
        if self.pos >= DOUBLE_TALK_AT_S * 24_000:
            self.at_double_talk.set()
        if self.pos >= self.signal.size:
            self.done.set()


@pytest.mark.skipif(not canceller_available(), reason="no canceller (pip install 'omnichat[aec]')")
def test_aec_live_removes_the_echo_and_keeps_double_talk(virtual_audio, tmp_path):
    far = espeak(tmp_path, FAR, "en-us", 24_000)
    near_wav = espeak_wav(tmp_path, NEAR, "en-gb+f3")
    near16 = read_wav_mono(near_wav, 16_000)
    signal = np.concatenate([np.zeros(2400, np.int16), far, np.zeros(12_000, np.int16)])
    processed: queue.Queue[bytes] = queue.Queue(maxsize=2000)
    raw, sd = [], sounddevice_module()
    stage = build_stage("aec", processed.put_nowait)
    player = Player(signal, stage)

    def on_input(indata, frames, time_info, status):
        raw.append(indata[:, 0].copy())
        stage.process(indata[:, 0], time_info.inputBufferAdcTime)

    virtual_audio.echo(True, 0.6)
    try:
        with sd.InputStream(samplerate=16_000, blocksize=320, channels=1, dtype="int16",
                            latency="low", callback=on_input), \
             sd.OutputStream(samplerate=24_000, blocksize=240, channels=1, dtype="int16",
                             latency="low", callback=player):
            assert player.at_double_talk.wait(15)
            talker = virtual_audio.play_into_mic(near_wav)
            assert player.done.wait(15)
            talker.wait(timeout=15)
    finally:
        virtual_audio.echo(False)
        stage.close()
    mic = np.concatenate(raw)
    out = np.frombuffer(b"".join(processed.queue), np.int16)
    assert stage.dropped_in == 0 and stage.failure is None
    echo_only = slice(int(1.8 * 16_000), int((DOUBLE_TALK_AT_S - 0.1) * 16_000))
    print(f"\nrig aec: delay {stage.core.delay_s * 1000:.0f} ms, reduction "
          f"{energy_db(mic[echo_only]) - energy_db(out[echo_only]):.1f} dB")
    assert energy_db(mic[echo_only]) - energy_db(out[echo_only]) > 10.0  # 27-35 dB measured
    assert _found(out, near16) > 0.3
    assert _found(mic, near16) > 0.3  # sanity: the second voice reached the microphone


def _found(signal, clean):
    """Best normalised correlation of ``clean`` anywhere in ``signal``."""
    s, c = signal.astype(np.float64), clean.astype(np.float64)
    size = 1 << int(np.ceil(np.log2(s.size + c.size)))
    corr = np.fft.irfft(np.fft.rfft(s, size) * np.conj(np.fft.rfft(c, size)), size)
    lags = max(1, s.size - c.size + 1)
    energy = np.cumsum(np.concatenate([[0.0], s ** 2]))
    seg = energy[c.size:c.size + lags] - energy[:lags]
    return float(np.max(corr[:lags] / (np.sqrt(seg * np.dot(c, c)) + 1e-9)))
