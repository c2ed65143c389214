"""Echo handling for speakers: keep the model's own voice out of the microphone.

Modules, each with one job:

* ``reference``: the played-audio tap -> the far-end reference at 16 kHz, aligned to a
  microphone frame by PortAudio's DAC/ADC times plus a measured acoustic delay.
* ``delay``: measures that acoustic delay (cross-correlation of mic and reference).
* ``canceller``: the native acoustic echo canceller (WebRTC AEC3 from the ``livekit`` wheel)
  behind a strict exactly-10-ms guard.
* ``gate``: the fallback modes ``gate`` (pass only audio clearly louder than the expected echo)
  and ``half-duplex`` (mute while the model speaks).
* ``core``: ``EchoCore``, the synchronous per-frame pipeline of one mode (no threads, no
  devices; what the tests drive).
* ``stage``: ``EchoStage``, the threaded wrapper the microphone path calls.
* ``modes``: ``echo_mode = auto`` resolution (saved self-test result, canceller, headset).
* ``bargein``: the local barge-in detector (a VAD plus a minimum speech duration).
* ``selftest``: the ``doctor --echo`` measurement (play a signal, record it, score each mode).
"""

from __future__ import annotations

MIC_RATE_HZ = 16_000
FRAME_MS = 10
FRAME_SAMPLES = MIC_RATE_HZ * FRAME_MS // 1000  # the only frame size the canceller accepts
MODES = ("auto", "aec", "gate", "half-duplex", "off")

__all__ = ["FRAME_MS", "FRAME_SAMPLES", "MIC_RATE_HZ", "MODES"]
