"""``omnichat bench``'s conversation: the real engine on the user's own devices, instrumented.

One ``Engine`` with a real ``Microphone`` and ``Speaker`` (or ``--input WAV`` as the
microphone), talking to the emulator (``--local``: ``omnichat serve`` in a child process, so
this process's CPU and memory are the client's alone) or to the service. ``Probe`` records:

* the engine's metrics hook (``Engine(metrics=)``): sends, arrivals, playback writes, flushes;
* a playback tap: every block's DAC time, stream position, fade, real samples, flush count;
* the microphone's ADC time per block, passed to ``Engine.feed_mic`` as the capture time.

Both record into bounded deques (an append is all they do; they run in audio callbacks and
under the engine's state lock). The main thread drives the questions, runs the live view,
samples CPU and memory once a second, and at the end converts PortAudio's stream clock to
``time.monotonic`` (an offset measured around ``stream.time``) and hands everything to
``analysis``.

Questions: ``speak_into`` plays synthesized questions (espeak-ng) into a PulseAudio sink with
``paplay`` (the virtual sound card's ``rig_mic_feed``; or the default sink, so the speakers
play them to the microphone); ``input_wav`` sends a WAV file; with neither, the user speaks.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omnichat.audio.playback import PlaybackBuffer, PlayedBlock
from omnichat.bench.analysis import Played, Timeline, analyze
from omnichat.bench.probes import ResourceSampler, cpu_by_thread
from omnichat.bench.scenario import BenchError, speech_clip
from omnichat.engine import Engine
from omnichat.engine import updates as up

MAX_RECORDS = 500_000  # ~40 min of 5 ms blocks; older records are dropped first
POLL_S = 0.1
SAMPLE_EVERY_S = 1.0
QUESTIONS = ("What is the weather like in Hangzhou today?", "Tell me a short story please.",
             "How far away is the moon?")
INTERRUPTION = "Wait, stop, I have another question."
SHORT_REPLY = "Sure, it is sunny and warm today."
LONG_REPLY = ("here is a fairly long answer with many words that keeps going on and on so that "
              "there is plenty of time to interrupt me while I am still talking about it")


@dataclass
class LiveOptions:
    turns: int = 3
    barge_ins: int = 1
    speak_into: str | None = None
    input_wav: Path | None = None
    reply_timeout_s: float = 30.0
    barge_after_s: float = 1.0
    network_rtt_s: float = 0.0


@dataclass
class LiveResult:
    values: dict[str, list[float]] = field(default_factory=dict)
    minutes: float = 0.0
    counters: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    cpu_threads_s: dict[str, float] = field(default_factory=dict)


class Probe:
    """The recording ends: ``metrics`` (engine hook), ``tap`` (playback), ``feed`` (mic)."""

    def __init__(self) -> None:
        self.events: deque[tuple[str, tuple[float, ...]]] = deque(maxlen=MAX_RECORDS)
        self.blocks: deque[tuple[float | None, int, int, int, int]] = deque(maxlen=MAX_RECORDS)
        self.mic_offset_s: float | None = None  # monotonic - PortAudio clock, set once started
        self.adc_time: Callable[[], float | None] = lambda: None
        self.feed_engine: Callable[[bytes], None] = lambda b: None
        # (time the block was fed, its ADC time), both monotonic; the engine's own stamp is
        # taken right after ours, within microseconds.
        self.adc_of: deque[tuple[float, float]] = deque(maxlen=MAX_RECORDS)
        self.last_created = self.last_queued = float("-inf")
        self.done_after_created = False

    def metrics(self, kind: str, times: tuple[float, ...]) -> None:
        self.events.append((kind, times))
        if kind == "response.created":  # landmarks the driver waits on, kept O(1)
            self.last_created, self.done_after_created = times[0], False
        elif kind == "response.done":
            self.done_after_created = True
        elif kind == "audio_queued":
            self.last_queued = times[0]

    def tap(self, block: PlayedBlock) -> None:
        self.blocks.append((block.dac_time, block.position, block.fade, block.real,
                            block.flushes))

    def feed(self, block: bytes) -> None:
        """The microphone's ``on_block``: note the block's ADC time (monotonic clock) against
        the time the engine stamps it with, then hand it on (the engine's batching is what
        a user gets, so the bench must not change its clock)."""
        adc, offset = self.adc_time(), self.mic_offset_s
        now = time.monotonic()
        self.feed_engine(block)
        if adc is not None and offset is not None:
            self.adc_of.append((now, adc + offset))

    def newest_done(self, since: float) -> bool:
        """A ``response.created`` arrived after ``since`` and a ``response.done`` after the
        newest one (a cancelled reply may get none)."""
        return self.last_created >= since and self.done_after_created

    def played(self, offset_s: float) -> list[Played]:
        return [Played(dac + offset_s, pos, fade, real, fl)
                for dac, pos, fade, real, fl in list(self.blocks) if dac is not None]


def clock_offset_s(stream_time: Callable[[], float | None]) -> float | None:
    """``time.monotonic() - PortAudio stream time``, from the tightest of a few readings."""
    best: tuple[float, float] | None = None
    for _ in range(5):
        before = time.monotonic()
        pa = stream_time()
        after = time.monotonic()
        if pa is None:
            return None
        if best is None or after - before < best[0]:
            best = (after - before, (before + after) / 2 - pa)
    return best[1] if best else None


def reply_script(options: LiveOptions) -> str:
    """The emulator's replies in order: short answers, then long ones to interrupt."""
    lines = [SHORT_REPLY] * options.turns + [LONG_REPLY, SHORT_REPLY] * options.barge_ins
    return "\n".join(lines or [SHORT_REPLY]) + "\n"


def run_live(session: dict[str, Any], connect: Callable[[], Any], options: LiveOptions,
             view: Any, input_device: Any = None, output_device: Any = None) -> LiveResult:
    """One instrumented conversation; the figures and counters of it."""
    from omnichat.audio.microphone import Microphone, WavMicrophone
    from omnichat.audio.speaker import Speaker

    probe, result = Probe(), LiveResult()
    playback = PlaybackBuffer()
    playback.add_tap(probe.tap)
    engine = Engine(session, connect, playback, metrics=probe.metrics)
    probe.feed_engine = engine.feed_mic
    sampler = ResourceSampler()
    mic: Any
    if options.input_wav is not None:
        mic = WavMicrophone(options.input_wav, probe.feed)
    else:
        mic = Microphone(probe.feed, device=input_device)
        probe.adc_time = lambda: mic.block_adc_time
    started = time.monotonic()
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        speaker = stack.enter_context(Speaker(playback, device=output_device))
        stack.enter_context(engine)
        stack.enter_context(mic)
        if isinstance(mic, Microphone):
            probe.mic_offset_s = clock_offset_s(mic.stream_time)
        speaker_offset = clock_offset_s(speaker.stream_time)
        driver = _Driver(engine, probe, view, mic, sampler, options)
        driver.counters = lambda: _counters(engine, playback, speaker, mic)
        driver.run(Path(tmp))
        result.counters = _counters(engine, playback, speaker, mic)
        result.cpu_threads_s = cpu_by_thread()
        result.notes = [*driver.notes, f"speaker: {speaker.device_rate_hz} Hz, thread priority "
                        f"{speaker.priority}, queue {speaker.depth.idle_ms:.0f} ms idle / "
                        f"{speaker.depth.margin_ms:.0f} ms playing at the end"]
        latency_s = speaker.latency_s
    result.minutes = (time.monotonic() - started) / 60.0
    result.values = _figures(probe, speaker_offset, latency_s, options, result)
    result.values.update(sampler.values)
    return result


def _counters(engine: Engine, playback: PlaybackBuffer, speaker: Any, mic: Any) -> dict[str, int]:
    return {"underruns": playback.underruns, "device_underflows": speaker.device_underflows,
            "device_underflows_idle": speaker.idle_underflows,
            "speaker_depth_grown": speaker.depth.grown,
            "mic_blocks_dropped": engine.mic_drops, "mic_overflows": mic.stats["overflows"],
            "dropped_samples": playback.dropped_samples}


def _figures(probe: Probe, speaker_offset: float | None, latency_s: float,
             options: LiveOptions, result: LiveResult) -> dict[str, list[float]]:
    if speaker_offset is None:
        result.notes.append("the speaker reports no DAC times: wire-to-ear is not measured")
    timeline = Timeline(list(probe.events), probe.played(speaker_offset or 0.0),
                        network_rtt_s=options.network_rtt_s, adc_of=list(probe.adc_of))
    values = analyze(timeline)
    values["wire_to_ear_client"] = [v - latency_s * 1000 for v in values["wire_to_ear"]]
    return values


class _Driver:
    """The main thread's loop: questions out, updates to the view, resources sampled."""

    def __init__(self, engine: Engine, probe: Probe, view: Any, mic: Any,
                 sampler: ResourceSampler, options: LiveOptions) -> None:
        self.engine, self.probe, self.view, self.mic = engine, probe, view, mic
        self.sampler, self.options = sampler, options
        self.notes: list[str] = []
        self.counters: Callable[[], dict[str, int]] = dict
        self._next_sample = time.monotonic() + SAMPLE_EVERY_S

    def run(self, tmp: Path) -> None:
        if self.options.input_wav is not None:
            self._pump(lambda: self.mic.file_done.is_set() and self._replies_done(0.0),
                       self.options.reply_timeout_s + self.mic.file_duration_s, "the input file")
            return
        clips = self._clips(tmp)
        for k in range(self.options.turns):
            self._turn(clips[k % len(QUESTIONS)] if clips else None, k + 1)
        for _ in range(self.options.barge_ins):
            self._barge_in(clips)

    def _clips(self, tmp: Path) -> list[Path]:
        if self.options.speak_into is None:
            return []
        return [speech_clip(text, tmp / f"q{i}.wav")
                for i, text in enumerate((*QUESTIONS, INTERRUPTION))]

    def _turn(self, clip: Path | None, number: int) -> None:
        mark = time.monotonic()
        if clip is None:
            self.view.apply(up.Notice(f"ask a question ({number} of {self.options.turns}), "
                                      "then let the answer finish"))
        else:
            self._speak(clip)
        self._pump(lambda: self._replies_done(mark), self.options.reply_timeout_s +
                   (60.0 if clip is None else 0.0), "a reply")

    def _barge_in(self, clips: list[Path]) -> None:
        if not clips:
            self.view.apply(up.Notice("ask a question, and interrupt the answer after a second"))
        else:
            self._speak(clips[0])
        mark = time.monotonic()
        self._pump(lambda: self.probe.last_queued >= mark,
                   self.options.reply_timeout_s, "reply audio to interrupt")
        heard = time.monotonic()
        if clips:
            self._pump(lambda: time.monotonic() - heard >= self.options.barge_after_s, 5.0, "")
            self._speak(clips[-1])
        self._pump(lambda: self._replies_done(heard), 60.0, "the reply after an interruption")

    def _replies_done(self, since: float) -> bool:
        """A reply began after ``since``, the newest reply is done (a cancelled one may get
        no ``response.done``), and playback has drained."""
        return self.probe.newest_done(since) and self.engine.is_idle()

    def _speak(self, clip: Path) -> None:
        sink = self.options.speak_into
        argv = ["paplay", str(clip)] if sink in ("", "@DEFAULT_SINK@") else \
            ["paplay", "-d", str(sink), str(clip)]
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, text=True)
        except OSError as exc:
            raise BenchError(f"cannot play a question with paplay ({exc}); install "
                             "pulseaudio-utils, or speak from a file with --input") from exc
        try:  # the conversation goes on (view, sampling) while the question plays
            self._pump(lambda: proc.poll() is not None, 60.0, "end of a question")
        finally:
            if proc.poll() is None:
                proc.kill()
            _, err = proc.communicate(timeout=5)
        if proc.returncode != 0:
            raise BenchError(f"paplay into {sink} failed: {err.strip()[:200]}")

    def _pump(self, until: Callable[[], bool], timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not until():
            for update in self.engine.poll(POLL_S):
                self.view.apply(update)
            self.view.refresh(self.mic.level_dbfs)
            if self.engine.failed or self.engine.stopping:
                return
            now = time.monotonic()
            if now >= self._next_sample:
                self.sampler.sample(self.counters())
                self._next_sample = now + SAMPLE_EVERY_S
            if now > deadline:
                if what:
                    self.notes.append(f"no {what} within {timeout_s:.0f} s")
                return
