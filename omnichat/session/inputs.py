"""What feeds a ``talk``/``ptt`` session besides the microphone's voice: the push-to-talk gate
or the file turns, ``--record``, pictures, the camera, and the keyboard.

``open_inputs`` opens them in order on the caller's ``ExitStack`` (so they close in reverse
on every exit path) and returns ``SessionInputs``: the audio source the main loop watches
(``level_dbfs``, ``error``, ``file_done``), and the ``KeySession`` when the keyboard is live.

Audio path::

    microphone / WavMicrophone --on_block--> [MicGate: ptt only] --> tee --> engine.feed_mic
                                                                       \\-> Recorder.on_mic
    PlaybackBuffer tap --> Recorder.on_played (what the speaker or --output actually played)
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omnichat.audio.playback import PlaybackBuffer
from omnichat.engine import Engine
from omnichat.engine import updates as up
from omnichat.errors import UsageError
from omnichat.session.keys import Keyboard, KeySession
from omnichat.session.ptt import FileTurns, MicGate, file_turns

if TYPE_CHECKING:
    from omnichat.config.settings import Settings
    from omnichat.media.images import PreparedImage


@dataclass
class InputOptions:
    """The flags that feed a session (part of ``TalkOptions``)."""

    ptt: bool = False
    inputs: list[Path] = field(default_factory=list)  # --input (ptt: repeatable)
    input_pace: float = 1.0
    images: list[Path] = field(default_factory=list)
    camera: int | None = None
    video: Path | None = None
    frame_rate: float = 1.0
    record: Path | None = None
    keys: bool | None = None  # None: when stdin and stdout are terminals


@dataclass
class SessionInputs:
    source: Any  # Microphone | WavMicrophone | FileTurns: level_dbfs, error, file_done
    keys: KeySession | None
    frames: Any = None  # FrameSender: error


@dataclass
class Prepared:
    """What ``prepare_inputs`` checked and opened before any socket or device."""

    images: list[PreparedImage]
    frames: Any = None  # vision.FrameSource


def prepare_inputs(stack: contextlib.ExitStack, options: InputOptions) -> Prepared:
    """Fail early, before any socket or device, on a bad flag value, file or picture."""
    from omnichat.audio import MIC_RATE_HZ
    from omnichat.audio.wav import read_wav_mono
    from omnichat.media.images import prepare_image

    if options.camera is not None and options.video is not None:
        raise UsageError("--camera and --video both given; choose one source of frames")
    if not 0 < options.frame_rate <= 1:
        raise UsageError(f"--frame-rate {options.frame_rate}: use a number of frames per "
                         "second above 0 and at most 1 (the service's limit)")
    if len(options.inputs) > 1 and not options.ptt:
        raise UsageError("talk takes one --input file; several files are for `omnichat ptt`")
    keyboard = Keyboard.available() if options.keys is None else options.keys
    if options.ptt and not options.inputs and not keyboard:
        raise UsageError("ptt needs a terminal for its keys, or --input FILE.wav to take "
                         "turns from recordings")
    for path in options.inputs:
        read_wav_mono(path, MIC_RATE_HZ)  # UsageError (one line) on a bad file
    prepared = Prepared([prepare_image(path) for path in options.images])
    if options.camera is not None or options.video is not None:
        from omnichat.media.vision import open_source

        prepared.frames = open_source(camera=options.camera, video=options.video)
        stack.callback(prepared.frames.close)
    return prepared


def open_inputs(stack: contextlib.ExitStack, engine: Engine, settings: Settings,
                options: InputOptions, playback: PlaybackBuffer | None,
                prepared: Prepared, *, echo: bool = False) -> SessionInputs:
    """Open the audio source (with echo handling between a real microphone and speaker when
    ``echo``), the recording, the pictures, the frame thread and the keyboard."""
    feed = _recording_tee(stack, engine, playback, options.record)
    keyboard = Keyboard.available() if options.keys is None else options.keys
    gate = MicGate(engine, feed=feed) if options.ptt else None
    keys = None
    if keyboard:
        keys = KeySession(engine, gate, model=settings.model,
                          text_only=list(settings.modalities) == ["text"])
    engine.updates.put(up.InputMode("ptt" if options.ptt else "talk", keys is not None))
    if gate is not None:
        engine.updates.put(up.PushToTalkChanged(False, gate.hold))
    for image in prepared.images:
        _attached(engine, image)
    source = _audio_source(stack, engine, settings, options, gate, feed, keyboard,
                           playback if echo else None)
    frames = None
    if prepared.frames is not None:
        from omnichat.media.camera import FrameSender

        frames = stack.enter_context(FrameSender(prepared.frames, engine.command,
                                                 max_fps=options.frame_rate))
    if keys is not None:
        stack.enter_context(Keyboard(keys))
        keys.control.say(keys.hint)
    return SessionInputs(source, keys, frames)


def _attached(engine: Engine, image: PreparedImage) -> None:
    from omnichat.engine import commands as cmd

    engine.command(cmd.SendImage(image.jpeg))
    engine.updates.put(up.Notice(f"attached {image.source.name}: {image.width}x{image.height}"
                                 f" JPEG, about {image.tokens} tokens (sent with your first "
                                 "words)", level="info"))


def _recording_tee(stack: contextlib.ExitStack, engine: Engine,
                   playback: PlaybackBuffer | None,
                   path: Path | None) -> Callable[[bytes], None]:
    if path is None:
        return engine.feed_mic
    from omnichat.audio.recorder import Recorder

    latency = playback.output_latency_s if playback is not None else 0.0
    recorder = stack.enter_context(Recorder(path, output_latency_s=latency))
    if playback is not None:
        playback.add_tap(recorder.on_played)
    feed_mic = engine.feed_mic

    def tee(block: bytes) -> None:  # the microphone callback: both only copy
        feed_mic(block)
        recorder.on_mic(block)
    return tee


def _audio_source(stack: contextlib.ExitStack, engine: Engine, settings: Settings,
                  options: InputOptions, gate: MicGate | None,
                  feed: Callable[[bytes], None], keyboard: bool,
                  echo_playback: PlaybackBuffer | None = None) -> Any:
    from omnichat.audio.microphone import Microphone, WavMicrophone

    on_block = gate.on_block if gate is not None else feed
    if settings.input_channels > 1:  # a microphone array goes out as it is (docs/qwen38.md)
        engine.updates.put(up.Notice(
            f"microphone: {settings.input_channels} channels; echo handling and local "
            "barge-in are off for a microphone array (use headphones)", level="info"))
        return stack.enter_context(Microphone(on_block, device=settings.input_device,
                                              channels=settings.input_channels))
    if gate is not None and options.inputs and not keyboard:
        turns = FileTurns(engine, gate, file_turns(options.inputs), pace=options.input_pace)
        return stack.enter_context(turns)
    if options.inputs:  # talk's file, or ptt's keys over a file played as the microphone
        return stack.enter_context(WavMicrophone(options.inputs[0], on_block,
                                                 pace=options.input_pace))
    if echo_playback is None:
        return stack.enter_context(Microphone(on_block, device=settings.input_device))
    from omnichat.echo.session import open_echo

    # The echo stage takes each block off the microphone's chain and hands the processed
    # audio to on_block (the gate, or the engine) from its own thread; it closes after the
    # microphone. Push-to-talk interrupts with its key, so no local barge-in there.
    echo = stack.enter_context(open_echo(settings, engine, echo_playback, on_output=on_block,
                                         barge_in="off" if gate is not None else None))
    chosen = echo.update()
    engine.updates.put(chosen)
    engine.updates.put(up.Notice(
        f"echo handling: {chosen.mode}" + (f" ({chosen.reason})" if chosen.reason else "")
        + (f"; local barge-in: {chosen.barge_in}" if gate is None else ""), level="info"))
    mic = Microphone(on_block, device=settings.input_device,
                     stages=[echo.mic_stage(lambda: mic.block_adc_time)])
    return stack.enter_context(mic)
