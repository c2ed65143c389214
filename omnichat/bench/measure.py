"""Per-turn figures from the speaker and microphone recordings and the emulator's trace.

All times are ``time.monotonic()`` seconds; recordings are placed on that clock by their
``SampleClock`` (see ``recording.py``). Per response that carried audio:

* ``wire_to_ear``: the trace time of its first ``response.audio.delta`` to the onset of sound
  at the speaker monitor after it. Skipped when the speaker was still sounding just before
  (the previous reply overlapped), because the onset cannot be told apart then.
* ``eos_to_heard``: the user's end of speech at the microphone (the last loud sample between
  the emulator's ``speech_started`` and ``speech_stopped``) to that onset; split into
  ``mic_to_vad`` (client capture + the VAD's silence window, to ``speech_stopped``),
  ``server`` (``speech_stopped`` to the first delta) and ``wire_to_ear``.
* ``added_silence``: for a reply played to the end, how much longer it sounded than the audio
  it was sent (onset to last loud sample, minus the audio's duration); > 0 means the client
  inserted silence (underruns, dropouts). Leading/trailing silence in the audio only shortens
  the span, so this is a lower bound on inserted silence.

Per ``speech_started`` that arrived while a reply was sounding: ``barge_in``, from its trace
time to the start of the first quiet run (``envelope.silence_from``) at the speaker.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from omnichat.bench import envelope
from omnichat.bench.figures import Summary, summarize
from omnichat.bench.recording import SampleClock
from omnichat.bench.trace import TraceEvent

SPEAKER_RATE_HZ = 24_000
OVERLAP_GUARD_S = 0.05  # speaker loud this close before a first delta: onset is ambiguous
LOUD_BEFORE_BARGE_S = 0.1  # a barge-in counts only if the speaker sounded this recently
# Onsets earlier than the delta by more than this are clock errors. The recording's clock is
# within about 5 ms of the true time (recording.py) and the rig's sink renders in 10 ms blocks;
# a reply that reaches the DAC as its audio arrives (omnichat's speaker runs empty between
# replies, as the vendor samples' do) can read up to a block early.
NOT_BEFORE_S = 0.010


@dataclass
class Track:
    """A recording and its clock."""

    samples: np.ndarray
    clock: SampleClock

    def index(self, t: float) -> int:
        return max(0, min(self.samples.size, self.clock.index_at(t)))

    def loud_between(self, t_from: float, t_to: float) -> bool:
        i, j = self.index(t_from), self.index(t_to)
        return envelope.first_loud(self.samples, self.clock.rate_hz, i, j) is not None


@dataclass
class Response:
    """What the trace says about one response."""

    id: str
    created_t: float
    first_delta_t: float | None = None
    audio_samples: int = 0
    done_t: float | None = None
    status: str | None = None
    speech_started_t: float | None = None  # the user turn it answers
    speech_stopped_t: float | None = None


@dataclass
class Figures:
    """Raw per-turn values in ms, by figure name; ``summaries()`` condenses them."""

    values: dict[str, list[float]] = field(default_factory=lambda: {
        name: [] for name in ("eos_to_heard", "wire_to_ear", "mic_to_vad", "server",
                              "barge_in", "added_silence")})
    skipped: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, seconds: float) -> None:
        self.values[name].append(seconds * 1000.0)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def summaries(self) -> dict[str, Summary]:
        return {name: summarize(v) for name, v in self.values.items()}


def responses(events: list[TraceEvent]) -> list[Response]:
    """Responses in order, each with the user turn (VAD events) that preceded it."""
    found: dict[str, Response] = {}
    started = stopped = None
    for e in (e for e in events if e.direction == "out"):
        if e.type == "input_audio_buffer.speech_started":
            started, stopped = e.t, None
        elif e.type == "input_audio_buffer.speech_stopped":
            stopped = e.t
        elif e.type == "response.created" and e.response_id:
            found[e.response_id] = Response(e.response_id, e.t, speech_started_t=started,
                                            speech_stopped_t=stopped)
        elif (r := found.get(e.response_id or "")) is not None:
            _update(r, e)
    return list(found.values())


def _update(r: Response, e: TraceEvent) -> None:
    if e.type == "response.audio.delta":
        r.first_delta_t = e.t if r.first_delta_t is None else r.first_delta_t
        r.audio_samples += e.audio_samples
    elif e.type == "response.done":
        r.done_t = e.t
        r.status = str((e.data.get("response") or {}).get("status", ""))


def measure(events: list[TraceEvent], speaker: Track, mic: Track | None,
            lead_s: float = 0.0) -> Figures:
    """Figures for every reply and interruption; ``lead_s`` is the reply audio's own leading
    silence, subtracted from each onset."""
    figures = Figures()
    replies = [r for r in responses(events) if r.first_delta_t is not None]
    for i, r in enumerate(replies):
        until = replies[i + 1].first_delta_t if i + 1 < len(replies) else None
        _measure_reply(r, until, speaker, mic, figures, lead_s)
    for e in events:
        if e.direction == "out" and e.type == "input_audio_buffer.speech_started":
            _measure_barge_in(e.t, speaker, figures)
    return figures


def _measure_reply(r: Response, until: float | None, speaker: Track, mic: Track | None,
                   figures: Figures, lead_s: float) -> None:
    assert r.first_delta_t is not None
    t_delta = r.first_delta_t
    if speaker.loud_between(t_delta - OVERLAP_GUARD_S, t_delta - NOT_BEFORE_S):
        figures.skip("speaker still sounding when the reply began")
        return
    start = speaker.index(t_delta - NOT_BEFORE_S)
    end = speaker.index(until) if until is not None else speaker.samples.size
    onset = envelope.first_loud(speaker.samples, SPEAKER_RATE_HZ, start, end)
    if onset is None:
        figures.skip("reply never heard")
        return
    heard_t = speaker.clock.time_of(onset) - lead_s
    figures.add("wire_to_ear", heard_t - t_delta)
    _split_turn(r, heard_t, mic, figures)
    if r.status == "completed":
        last = envelope.last_loud(speaker.samples, SPEAKER_RATE_HZ, onset, end)
        if last is not None:
            span_s = (last - onset) / SPEAKER_RATE_HZ + lead_s
            figures.add("added_silence", max(0.0, span_s - r.audio_samples / SPEAKER_RATE_HZ))


def _split_turn(r: Response, heard_t: float, mic: Track | None, figures: Figures) -> None:
    if mic is None or r.speech_started_t is None or r.speech_stopped_t is None:
        return
    i, j = mic.index(r.speech_started_t - 1.0), mic.index(r.speech_stopped_t)
    eos = envelope.last_loud(mic.samples, mic.clock.rate_hz, i, j)
    if eos is None:
        figures.skip("no speech at the microphone before speech_stopped")
        return
    eos_t = mic.clock.time_of(eos)
    assert r.first_delta_t is not None
    figures.add("eos_to_heard", heard_t - eos_t)
    figures.add("mic_to_vad", r.speech_stopped_t - eos_t)
    figures.add("server", r.first_delta_t - r.speech_stopped_t)


def _measure_barge_in(t_started: float, speaker: Track, figures: Figures) -> None:
    if not speaker.loud_between(t_started - LOUD_BEFORE_BARGE_S, t_started):
        return  # nothing was playing: not an interruption
    quiet = envelope.silence_from(speaker.samples, SPEAKER_RATE_HZ, speaker.index(t_started))
    if quiet is None:
        figures.skip("speaker never went quiet after speech_started")
        return
    figures.add("barge_in", max(0.0, speaker.clock.time_of(quiet) - t_started))
