"""``EchoSession``: the echo mode and the local barge-in detector on ``talk``'s audio path.

What ``talk`` does with it (docs/echo.md)::

    speaker callback  PlaybackBuffer tap -> session.on_played   (copies into the reference)
    mic callback      Microphone stage   -> session.mic_stage   (queues; returns None)
    omnichat-echo     EchoCore -> on_frame: BargeInDetector -> on_local_speech()
                               -> on_output: engine.feed_mic (the processed audio goes up)

``choose_mode(requested, input_device, output_device)`` resolves ``echo_mode = auto`` with the
device names (a headset gets ``off``) and says why, for the status line.

The stage always runs its own thread ``omnichat-echo`` when the detector is on (even in mode
``off``), so the voice detector never runs inside PortAudio's callback. Callbacks only copy:
``on_played`` takes one bounded copy under the reference's short lock (it runs under the
playback buffer's lock), ``mic_stage`` one copy into a bounded queue.

Threads: the echo worker (owned by ``EchoStage``) calls ``on_local_speech`` — the engine's
``command(LocalSpeech())``, which takes the engine's state lock briefly — and ``on_output``.
``close()`` stops and joins it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from omnichat.echo.bargein import BargeInDetector
from omnichat.echo.canceller import INSTALL_HINT, canceller_available
from omnichat.echo.modes import build_stage, is_headset, resolve_mode
from omnichat.engine.commands import LocalSpeech
from omnichat.engine.updates import EchoModeChosen
from omnichat.errors import UsageError


@dataclass(frozen=True)
class ModeChoice:
    mode: str  # the working mode: aec | gate | half-duplex | off
    reason: str  # why, in words: "echo canceller", "headset", "set by --echo", ...


def choose_mode(requested: str, input_device: str | int | None = None,
                output_device: str | int | None = None, *,
                canceller: bool | None = None) -> ModeChoice:
    """The working mode for ``requested``; ``aec`` asked for without a canceller is a
    ``UsageError`` naming the install (``auto`` falls back to ``gate`` instead)."""
    has_aec = canceller_available() if canceller is None else canceller
    if requested == "aec" and not has_aec:
        raise UsageError(f"echo_mode \"aec\" needs the echo canceller: {INSTALL_HINT}; or use "
                         "--echo gate (or half-duplex)")
    if requested != "auto":
        return ModeChoice(requested, "as set")
    out_name, in_name = device_name(output_device, "output"), device_name(input_device, "input")
    if is_headset(out_name, in_name):
        return ModeChoice("off", f"headset: {out_name}")
    mode = resolve_mode("auto", canceller=has_aec)
    reason = "echo canceller" if mode == "aec" else "no echo canceller installed"
    return ModeChoice(mode, reason)


def device_name(spec: str | int | None, kind: str) -> str | None:
    """The PortAudio name of the device ``spec`` selects (None when it cannot be told)."""
    from omnichat.audio import devices
    from omnichat.errors import AudioDeviceError

    try:
        index = devices.resolve_device(spec, kind)
        listed = devices.list_devices()
    except AudioDeviceError:
        return None
    for d in listed:
        if (d.index == index) if index is not None else getattr(d, f"is_default_{kind}"):
            return d.name
    return None


def open_echo(settings: Any, engine: Any, playback: Any, *,
              on_output: Callable[[bytes], None] | None = None,
              barge_in: str | None = None) -> EchoSession:
    """``talk``'s echo handling for ``settings`` (echo_mode, barge_in, the devices): the
    processed microphone goes to ``on_output`` (``engine.feed_mic`` by default), local
    barge-in to ``engine.command``, and the playback tap feeds the reference. ``barge_in``
    overrides the setting (push-to-talk: "off"). Close it after the microphone."""
    choice = choose_mode(settings.echo_mode, settings.input_device, settings.output_device)

    def local_speech() -> None:  # frames still queued when the engine stops change nothing
        if not engine.stopping:
            engine.command(LocalSpeech())

    session = EchoSession(choice.mode, on_output or engine.feed_mic, local_speech,
                          barge_in=barge_in or settings.barge_in, reason=choice.reason)
    playback.add_tap(session.on_played)
    return session


class EchoSession:
    """One mode's stage plus the local barge-in detector; a context manager."""

    def __init__(self, mode: str, on_output: Callable[[bytes], None],
                 on_local_speech: Callable[[], None], *, barge_in: str = "medium",
                 delay_s: float = 0.0, detector: BargeInDetector | None = None,
                 clock: Callable[[], float] = time.monotonic, reason: str = ""):
        self.mode = mode
        self.barge_in = barge_in if detector is None else detector.sensitivity
        self.reason = reason
        self._on_local_speech = on_local_speech
        self.detector = detector if detector is not None else (
            BargeInDetector(barge_in) if barge_in != "off" else None)
        self.local_barge_ins = 0
        self._clock = clock  # stands in for PortAudio's clock when a block has no ADC time
        self.stage = build_stage(mode, on_output, delay_s=delay_s,
                                 on_frame=self._on_frame if self.detector else None,
                                 threaded=self.detector is not None)

    def on_played(self, block: Any) -> None:
        """The playback tap (``PlayedBlock``): in the output callback, copy only."""
        dac_time = block.dac_time
        self.stage.on_played(block.samples, block.position,
                             self._clock() if dac_time is None else dac_time)

    def mic_stage(self, adc_time: Callable[[], float | None]) -> Callable[[np.ndarray], None]:
        """A ``Microphone`` stage: hands each block to the worker and drops it from the chain
        (the worker delivers the processed audio). ``adc_time`` reads the block's ADC time."""
        def stage(block: np.ndarray) -> None:
            if self.stage.failure is not None:  # the microphone keeps it as its error
                raise self.stage.failure
            at = adc_time()
            self.stage.process(block, self._clock() if at is None else at)
        return stage

    def _on_frame(self, frame: np.ndarray) -> None:
        if self.detector is not None and self.detector.feed(frame):
            self.local_barge_ins += 1
            self._on_local_speech()

    def update(self) -> EchoModeChosen:
        """What the status line shows about echo handling."""
        return EchoModeChosen(self.mode, self.reason, self.barge_in)

    @property
    def failure(self) -> BaseException | None:
        return self.stage.failure

    def close(self) -> None:
        self.stage.close()

    def __enter__(self) -> EchoSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
