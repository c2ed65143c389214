"""The echo self-test behind ``omnichat doctor --echo``.

``record_echo`` plays a 3 s speech-like test signal through the speaker while recording the
microphone, with the same timestamps ``talk`` uses (``outputBufferDacTime`` into a
``ReferenceTap``, ``inputBufferAdcTime`` per captured block). ``score_echo`` then measures the
echo (delay after the timestamps, level relative to what was played) and runs every mode over
the same recording, reporting how much of the echo each removes, and recommends a mode.

The two PortAudio callbacks only copy into preallocated arrays. The calling thread blocks on
two Events (played everything / recorded past the end) with deadlines.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from omnichat.audio.devices import resolve_device, sounddevice_module
from omnichat.audio.resample import resample
from omnichat.echo import FRAME_SAMPLES, MIC_RATE_HZ
from omnichat.echo.canceller import make_canceller
from omnichat.echo.core import EchoCore
from omnichat.echo.delay import estimate_delay
from omnichat.echo.offline import energy_db, run_mode
from omnichat.echo.reference import SPEAKER_RATE_HZ, ReferenceTap
from omnichat.errors import AudioDeviceError

SIGNAL_S = 2.0
LEAD_S, TAIL_S = 0.3, 0.5  # silence before and after the signal
SCORE_LAST_S = 0.8  # reduction is scored over the signal's last 0.8 s (after convergence)
NO_ECHO_DB = -45.0  # echo below this relative to the played level: no echo path
MAX_DB = 60.0


def echo_test_signal(rate_hz: int = SPEAKER_RATE_HZ, seed: int = 7) -> np.ndarray:
    """Speech-like noise (300-3400 Hz, 4 Hz syllable envelope, -20 dBFS) framed by silence."""
    rng = np.random.default_rng(seed)
    n = int(SIGNAL_S * rate_hz)
    spectrum = np.fft.rfft(rng.normal(0, 1, n))
    freqs = np.fft.rfftfreq(n, 1 / rate_hz)
    spectrum[(freqs < 300) | (freqs > 3400)] = 0
    noise = np.fft.irfft(spectrum, n)
    t = np.arange(n) / rate_hz
    envelope = 0.35 + 0.65 * np.abs(np.sin(np.pi * 4 * t + rng.uniform(0, 1)))
    x = noise * envelope
    x *= 3277 / np.sqrt(np.mean(x ** 2))  # -20 dBFS RMS
    pad = np.zeros(int(LEAD_S * rate_hz)), np.zeros(int(TAIL_S * rate_hz))
    out: np.ndarray = np.clip(np.concatenate([pad[0], x, pad[1]]), -32768, 32767)
    return out.astype(np.int16)


@dataclass
class Recording:
    tap: ReferenceTap
    mic: np.ndarray  # 16 kHz int16
    adc_start: float  # ADC time of mic[0]
    signal_start: float  # DAC time of the test signal's first sample
    played_rms: float


@dataclass(frozen=True)
class EchoReport:
    heard: bool
    delay_ms: float | None
    level_db: float | None  # echo level relative to the played signal
    reductions_db: dict[str, float] = field(default_factory=dict)
    recommended: str = "off"
    reason: str = ""

    def lines(self) -> list[str]:
        """What was measured; the recommendation is ``recommendation`` (said once)."""
        if not self.heard:
            return ["echo: none heard (headphones, or the microphone cannot hear the speaker)"]
        out = [f"echo: delay {self.delay_ms:.0f} ms after the device timestamps, "
               f"level {self.level_db:+.1f} dB relative to what was played"]
        for mode, db in self.reductions_db.items():
            out.append(f"echo: {mode:<11} removes {db:4.1f} dB of echo")
        return out

    @property
    def recommendation(self) -> str:
        return f"recommended echo_mode = \"{self.recommended}\" ({self.reason})"


class _Capture:
    """Preallocated recording filled by the input callback."""

    def __init__(self, max_samples: int, rate_hz: int):
        self.rate_hz = rate_hz
        self.data = np.zeros(max_samples, dtype=np.int16)
        self.count = 0
        self.first_adc: float | None = None
        self.until: float | None = None  # stop once an ADC time passes this
        self.done = threading.Event()

    def callback(self, indata: Any, frames: int, time_info: Any, status: Any) -> None:
        if self.first_adc is None:
            self.first_adc = float(time_info.inputBufferAdcTime)
        n = min(frames, self.data.size - self.count)
        self.data[self.count:self.count + n] = indata[:n, 0]
        self.count += n
        if n < frames or (self.until is not None and time_info.inputBufferAdcTime > self.until):
            self.done.set()


class _Player:
    """Plays ``signal`` from the output callback and reports each block to the tap."""

    def __init__(self, signal: np.ndarray, tap: ReferenceTap):
        self.signal, self.tap = signal, tap
        self.pos = 0
        self.first_dac: float | None = None
        self.done = threading.Event()

    def callback(self, outdata: Any, frames: int, time_info: Any, status: Any) -> None:
        chunk = self.signal[self.pos:self.pos + frames]
        outdata[:chunk.size, 0] = chunk
        outdata[chunk.size:, 0] = 0
        if self.first_dac is None:
            self.first_dac = float(time_info.outputBufferDacTime)
        self.tap.on_played(outdata[:, 0], self.pos, float(time_info.outputBufferDacTime))
        self.pos += frames
        if self.pos >= self.signal.size:
            self.done.set()


def _open(sd: Any, kind: str, device: int | None, rates: tuple[int, ...], callback: Any) -> Any:
    """Open at the first accepted rate (the wire rate, then the device's default)."""
    cls = sd.InputStream if kind == "input" else sd.OutputStream
    last: Exception | None = None
    for rate in rates:
        try:
            return cls(samplerate=rate, blocksize=rate // 100, channels=1, dtype="int16",
                       device=device, latency="low", callback=callback)
        except sd.PortAudioError as exc:
            last = exc
    raise AudioDeviceError(f"cannot open the {kind} device for the echo test: {last}; "
                           "check 'omnichat devices'")


def _device_rate(sd: Any, device: int | None, kind: str) -> int:
    try:
        return int(sd.query_devices(device, kind)["default_samplerate"])
    except (sd.PortAudioError, ValueError, KeyError):
        return MIC_RATE_HZ if kind == "input" else SPEAKER_RATE_HZ


def record_echo(input_device: str | int | None = None, output_device: str | int | None = None,
                timeout_s: float = 10.0) -> Recording:
    """Play the test signal and record the microphone meanwhile (about 4 s)."""
    sd = sounddevice_module()
    in_index = resolve_device(input_device, "input")
    out_index = resolve_device(output_device, "output")
    in_rates = (MIC_RATE_HZ, _device_rate(sd, in_index, "input"))
    out_rates = (SPEAKER_RATE_HZ, _device_rate(sd, out_index, "output"))
    capture = _Capture(int((SIGNAL_S + LEAD_S + TAIL_S + 3.0) * max(in_rates)), 0)
    instream = _open(sd, "input", in_index, in_rates, capture.callback)
    capture.rate_hz = int(instream.samplerate)
    try:
        out_rate = out_rates[0]
        tap = ReferenceTap(rate_hz=out_rate, history_s=SIGNAL_S + LEAD_S + TAIL_S + 2.0)
        player = _Player(echo_test_signal(out_rate), tap)
        outstream = _open(sd, "output", out_index, out_rates, player.callback)
        if int(outstream.samplerate) != out_rate:  # the device refused 24 kHz
            outstream.close()
            out_rate = int(outstream.samplerate)
            tap = ReferenceTap(rate_hz=out_rate, history_s=SIGNAL_S + LEAD_S + TAIL_S + 2.0)
            player = _Player(echo_test_signal(out_rate), tap)
            outstream = _open(sd, "output", out_index, (out_rate,), player.callback)
        _play_and_record(instream, outstream, player, capture, timeout_s)
    finally:
        instream.close()
    return _recording(tap, player, capture, out_rate)


def _play_and_record(instream: Any, outstream: Any, player: _Player, capture: _Capture,
                     timeout_s: float) -> None:
    try:
        instream.start()
        outstream.start()
        if not player.done.wait(timeout_s):
            raise AudioDeviceError(f"the speaker did not play the echo test within {timeout_s} s;"
                                   " check the output device with 'omnichat devices'")
        # record until the signal's last sample, plus the longest echo searched, has come back
        capture.until = (player.first_dac or 0.0) + player.signal.size / player.tap.rate_hz
        if not capture.done.wait(timeout_s):
            raise AudioDeviceError(f"the microphone delivered nothing within {timeout_s} s; "
                                   "check the input device with 'omnichat devices'")
    finally:
        outstream.close()
        instream.stop()


def _recording(tap: ReferenceTap, player: _Player, capture: _Capture, out_rate: int) -> Recording:
    mic = capture.data[:capture.count]
    if capture.rate_hz != MIC_RATE_HZ:
        mic = resample(mic, capture.rate_hz, MIC_RATE_HZ)
    signal = player.signal[int(LEAD_S * out_rate):-int(TAIL_S * out_rate)]
    return Recording(tap=tap, mic=mic, adc_start=capture.first_adc or 0.0,
                     signal_start=(player.first_dac or 0.0) + LEAD_S,
                     played_rms=float(np.sqrt(np.mean(signal.astype(np.float64) ** 2))))


def score_echo(rec: Recording, modes: tuple[str, ...] = ("aec", "gate", "half-duplex"),
               canceller_factory: Any = make_canceller) -> EchoReport:
    """Measure the echo in ``rec`` and what each mode removes; recommend one."""
    ref = rec.tap.reference(rec.adc_start - 0.5, rec.mic.size + MIC_RATE_HZ // 2)
    found = estimate_delay(rec.mic, ref, 0.5)
    level_db = 20 * np.log10(found.gain) if found is not None and found.gain > 0 else None
    if found is None or level_db is None or level_db < NO_ECHO_DB:
        return EchoReport(False, None, None, {}, "off", "no echo to handle")
    lo, hi = _score_span(rec, found.delay_s)
    reductions: dict[str, float] = {}
    for mode in modes:
        canceller = canceller_factory() if mode == "aec" else None
        if mode == "aec" and canceller is None:
            continue
        core = EchoCore(mode, rec.tap, canceller=canceller, delay_s=found.delay_s, refine=False)
        out = run_mode(core, _blocks(rec))
        drop = energy_db(rec.mic[lo:hi]) - energy_db(out[lo:hi])
        reductions[mode] = float(min(drop, MAX_DB))
    mode, reason = recommend(float(level_db), reductions)
    return EchoReport(True, found.delay_s * 1000, float(level_db), reductions, mode, reason)


def _score_span(rec: Recording, delay_s: float) -> tuple[int, int]:
    """Mic sample range holding the echo of the signal's last ``SCORE_LAST_S`` seconds."""
    end = rec.signal_start + SIGNAL_S + delay_s - rec.adc_start
    hi = min(rec.mic.size, int(end * MIC_RATE_HZ))
    return max(0, hi - int(SCORE_LAST_S * MIC_RATE_HZ)), hi


def _blocks(rec: Recording) -> list[tuple[np.ndarray, float]]:
    step = 2 * FRAME_SAMPLES
    return [(rec.mic[i:i + step], rec.adc_start + i / MIC_RATE_HZ)
            for i in range(0, rec.mic.size, step)]


def recommend(level_db: float, reductions: dict[str, float]) -> tuple[str, str]:
    """aec when it removes >= 20 dB; else gate when the echo is quieter than the user is
    likely to be; else half-duplex."""
    if reductions.get("aec", 0.0) >= 20.0:
        return "aec", f"the canceller removes {reductions['aec']:.0f} dB and keeps double talk"
    if "aec" not in reductions and level_db < -6.0:
        return "gate", "no canceller installed; the echo is quiet enough to gate"
    if level_db < -6.0:
        return "gate", "the canceller did not converge; the echo is quiet enough to gate"
    return "half-duplex", "the echo is loud; use headphones to talk over the model"


def run_echo_selftest(input_device: str | int | None = None,
                      output_device: str | int | None = None) -> EchoReport:
    return score_echo(record_echo(input_device, output_device))
