"""``EchoCore``: one echo mode applied to the microphone stream, synchronously.

No threads and no devices: ``process(block, adc_time)`` takes a 16 kHz int16 block of any
length and the PortAudio ``inputBufferAdcTime`` of its first sample, cuts it into 10 ms frames
(a remainder waits for the next block), and returns the processed frames (int16, a multiple of
10 ms; possibly empty). Per frame it looks up the far-end reference that left the DAC
``delay_s`` before the frame reached the ADC (``ReferenceTap.reference``) and applies the mode.

The delay starts at ``delay_s`` (default 0: PortAudio's timestamps cover the device buffers;
the room adds a few ms) and is refined every second the model speaks by cross-correlating the
last second of microphone audio with the reference (``estimate_delay``).

The canceller is given the reference ``AEC_LEAD_S`` early and told so (stream delay): an echo
must never reach it before its reference, and a slightly early reference costs nothing. Its
reference stays at the initial ``delay_s`` (the self-test's measurement when known): WebRTC
AEC3 finds the remaining delay itself, and moving the reference under it mid-stream forces it
to re-converge (on the rig: 2-15 dB live with the refined delay applied, 16-22 dB without, before
the jitter-free clocks).
The refined ``delay_s`` drives the gate and half-duplex and is reported.

In ``aec`` the gate's output is used until an echo has been measured (the first second of the
model's voice; always when the microphone does not hear the speaker): an unconverged AEC3 also
suppresses the user's voice over the model's, delaying barge-in by a second (on the rig, 1.2 s
instead of 0.2 s with the echo path off). Then the canceller's output passes
``ResidualCheck`` while the model speaks: output
that still correlates with what was played (the canceller re-converging after the echo's delay
moved) is replaced by silence, so it cannot reach the service's voice detector.
"""

from __future__ import annotations

import numpy as np

from omnichat.echo import FRAME_SAMPLES, MIC_RATE_HZ
from omnichat.echo.canceller import Canceller
from omnichat.echo.clock import SampleClock
from omnichat.echo.delay import estimate_delay
from omnichat.echo.gate import SPEAKING_RMS, EchoGate, HalfDuplex
from omnichat.echo.reference import ReferenceTap
from omnichat.echo.residual import WINDOW_S, ResidualCheck

FRAME_S = FRAME_SAMPLES / MIC_RATE_HZ
AEC_LEAD_S = 0.02
TAIL_S = 0.25  # the room keeps ringing this long after the reference (gate)
HALF_DUPLEX_HOLD_S = 0.8  # stay muted through the pauses between the model's sentences
GATE_WINDOW_S = 0.05  # the gate's reference level covers the echo's first 50 ms
# Until the delay is measured, the gate's window also covers this much more: device timestamps
# miss buffering the sound server adds (60 ms on the rig), and an echo that reaches the gate
# before its reference does passes as the user's voice.
UNSURE_S = 0.15
# The gate's level window also reaches this far past the measured delay: the echo's delay
# wanders by 10-20 ms under load (the sound server re-buffering), ahead of the refinement.
SLACK_S = 0.025
MAX_DELAY_S = 0.4  # delays searched by the refinement
REFINE_EVERY_FRAMES = 100  # one second
AGREE_S = 0.005  # estimates this close are the same delay
CONFIRMATIONS = 3  # estimates in a row needed to move an established delay
WORKING_MODES = ("aec", "gate", "half-duplex", "off")


class EchoCore:
    """Applies ``mode`` (aec | gate | half-duplex | off) to 10 ms frames of the microphone."""

    def __init__(self, mode: str, tap: ReferenceTap, *, canceller: Canceller | None = None,
                 delay_s: float = 0.0, refine: bool = True, gate_margin_db: float = 6.0):
        if mode not in WORKING_MODES:
            raise ValueError(f"echo mode must be one of {', '.join(WORKING_MODES)}, not {mode!r}")
        if mode == "aec" and canceller is None:
            raise ValueError("aec mode needs a canceller")
        self.mode = mode
        self.tap = tap
        self.canceller = canceller
        self.delay_s = float(delay_s)
        self.aec_delay_s = float(delay_s)  # fixed: see the module docstring
        self.refine = refine
        self.delay_ncc = 0.0
        self._gate = EchoGate(margin_db=gate_margin_db)
        self._half = HalfDuplex()
        self._carry = np.zeros(0, dtype=np.int16)
        self.clock = SampleClock(MIC_RATE_HZ)  # ADC times without callback jitter
        self._carry_time = 0.0  # ADC time of the first carried sample
        self._history = np.zeros(REFINE_EVERY_FRAMES * FRAME_SAMPLES, dtype=np.int16)
        self._frames = 0
        self._candidates: list[float] = []  # recent estimates that disagree with delay_s
        self._speaking_frames = 0
        self.residual = ResidualCheck()  # aec: silence output that is still echo
        if canceller is not None and hasattr(canceller, "stream_delay_ms"):
            canceller.stream_delay_ms = int(AEC_LEAD_S * 1000)

    def process(self, block: np.ndarray, adc_time: float) -> np.ndarray:
        """Process a block of any length; return the finished 10 ms frames."""
        block = np.asarray(block, dtype=np.int16).reshape(-1)
        adc_time = self.clock.stamp(adc_time, block.size)
        if self._carry.size == 0:
            self._carry_time = adc_time
        data = np.concatenate([self._carry, block]) if self._carry.size else block
        whole = data.size // FRAME_SAMPLES * FRAME_SAMPLES
        out = np.empty(whole, dtype=np.int16)
        for i in range(0, whole, FRAME_SAMPLES):
            frame = data[i:i + FRAME_SAMPLES]
            out[i:i + FRAME_SAMPLES] = self.process_frame(frame, self._carry_time + i / MIC_RATE_HZ)
        self._carry = data[whole:].copy()
        self._carry_time += whole / MIC_RATE_HZ
        return out

    def process_frame(self, frame: np.ndarray, adc_time: float) -> np.ndarray:
        """One exactly-10-ms frame whose first sample reached the ADC at ``adc_time``."""
        if frame.shape[0] != FRAME_SAMPLES:
            raise ValueError(f"frame must be {FRAME_SAMPLES} samples, got {frame.shape[0]}")
        self._remember(frame, adc_time)
        if self.mode == "off":
            return frame
        played_at = adc_time - self.delay_s
        if self.mode == "half-duplex":
            recent = self.tap.rms(played_at - HALF_DUPLEX_HOLD_S, played_at + FRAME_S)
            return self._half.process(frame, recent)
        recent = self.tap.rms(played_at - TAIL_S, played_at + FRAME_S)
        speaking = recent > SPEAKING_RMS
        sure = self.delay_ncc > 0.0
        if self.mode == "gate":
            return self._gated(frame, played_at, speaking, sure)
        assert self.canceller is not None
        far = self.tap.reference(adc_time - self.aec_delay_s + AEC_LEAD_S, FRAME_SAMPLES)
        out = self.canceller.process(frame, far)  # always: it converges on the echo
        if not sure:  # no echo measured yet: the canceller would also hold back the user's voice
            return self._gated(frame, played_at, speaking, sure)
        if not speaking:
            self.residual.push(out)
            return out
        lo, hi = self.residual.lags(self.delay_s, sure)
        start = adc_time + FRAME_S - WINDOW_S - hi
        reference = self.tap.reference(start, self.residual.window + int((hi - lo) * MIC_RATE_HZ))
        return self.residual.process(out, reference)

    def _gated(self, frame: np.ndarray, played_at: float, speaking: bool,
               sure: bool) -> np.ndarray:
        window = GATE_WINDOW_S + (0.0 if sure else UNSURE_S)
        level = self.tap.rms(played_at - window, played_at + FRAME_S + SLACK_S)
        return self._gate.process(frame, level, speaking=speaking)

    def _remember(self, frame: np.ndarray, adc_time: float) -> None:
        """Keep the last second of raw mic; refine the delay once per second of model speech."""
        slot = self._frames % REFINE_EVERY_FRAMES
        self._history[slot * FRAME_SAMPLES:(slot + 1) * FRAME_SAMPLES] = frame
        self._frames += 1
        if not self.refine or self.mode == "off":
            return
        if slot == REFINE_EVERY_FRAMES - 1:
            start = adc_time + FRAME_S - self._history.size / MIC_RATE_HZ
            self.refine_delay(self._history.copy(), start)

    def refine_delay(self, mic: np.ndarray, start_time: float) -> bool:
        """Re-measure the delay from ``mic`` (ADC time ``start_time``); True if it changed.

        The first clear estimate is taken; after that a different delay is adopted only when
        ``CONFIRMATIONS`` estimates in a row agree on it. Every jump makes the canceller
        re-converge, so a one-off peak (a repeated syllable, double talk) must not move it.
        """
        ref = self.tap.reference(start_time - MAX_DELAY_S,
                                 mic.size + int(MAX_DELAY_S * MIC_RATE_HZ))
        found = estimate_delay(mic, ref, MAX_DELAY_S)
        if found is None:
            return False
        if self.delay_ncc == 0.0 or abs(found.delay_s - self.delay_s) <= AGREE_S:
            self._candidates.clear()
            changed = self.delay_ncc == 0.0 and abs(found.delay_s - self.delay_s) > AGREE_S
            self.delay_ncc = max(found.ncc, 1e-6)
            if changed:
                self.delay_s = found.delay_s
            return changed
        if self._candidates and abs(found.delay_s - self._candidates[-1]) > AGREE_S:
            self._candidates.clear()
        self._candidates.append(found.delay_s)
        if len(self._candidates) < CONFIRMATIONS:
            return False
        self.delay_s = float(np.median(self._candidates))
        self.delay_ncc = found.ncc
        self._candidates.clear()
        return True
