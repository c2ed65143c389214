"""Latency figures from what the engine's metrics hook and the playback tap recorded.

Pure: no devices, no threads. Inputs, all on ``time.monotonic()`` (DAC/ADC times converted by
the caller):

* ``events``: ``(kind, times)`` in the order the engine reported them (``Engine(metrics=)``);
* ``blocks``: the playback tap's ``Played`` records, in play order;
* ``adc_of``: (time a microphone block was fed to the engine, its ADC time), in order; the
  engine's ``audio_sent`` names a batch by its last block's feed time. Without them (a file
  as microphone) the feed time stands in for the ADC time.

Figures (ms): ``mic_to_wire`` (the oldest sample of each batch sent: ADC time -> its send),
``mic_device`` (ADC time -> the block's callback: the input device's part), ``mic_to_wire_client``
(``mic_to_wire`` minus the median ``mic_device``),
``wire_to_ear`` (a reply's first ``response.audio.delta`` arrival -> its first sample at the
DAC), ``barge_in`` (``speech_started`` arrival -> the end of the flush's fade at the DAC, when a
reply was playing), ``barge_in_local`` (the same from a local ``interrupt``), ``eos_to_heard``
(the user's end of speech at the ADC -> the reply's first sample at the DAC) split into
``eos_client`` (end of speech -> its send, plus the reply's wire -> ear), ``eos_network`` (the
measured round trip; 0 on loopback) and ``eos_server`` (the rest: the VAD's silence window
and the model's first audio).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field

MIC_RATE_HZ = 16_000
SPEAKER_RATE_HZ = 24_000
PLAYING_BEFORE_S = 0.1  # a flush is a barge-in only if reply audio played this recently
FLUSH_AFTER_S = 1.0  # a flush this long after speech_started is not its barge-in


@dataclass(frozen=True)
class Played:
    """One block the speaker played: its DAC time (monotonic), its first real sample's stream
    position, the fade and real sample counts and the flush count (``PlayedBlock``)."""

    dac_t: float
    position: int
    fade: int
    real: int
    flushes: int


@dataclass
class Timeline:
    """The recorded run: engine events, played blocks, the mic block size and the RTT."""

    events: Sequence[tuple[str, tuple[float, ...]]]
    blocks: Sequence[Played]
    mic_block_samples: int = MIC_RATE_HZ * 20 // 1000
    network_rtt_s: float = 0.0
    adc_of: Sequence[tuple[float, float]] = ()
    values: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, seconds: float) -> None:
        self.values.setdefault(name, []).append(seconds * 1000.0)


def analyze(timeline: Timeline) -> dict[str, list[float]]:
    """Every latency figure's values in ms, by name (see the module)."""
    for name in ("mic_to_wire", "mic_device", "mic_to_wire_client", "wire_to_ear", "barge_in",
                 "barge_in_local", "eos_to_heard", "eos_client", "eos_network", "eos_server"):
        timeline.values.setdefault(name, [])
    batches = _batches(timeline)
    starts = _reply_starts(timeline)
    _eos_split(timeline, batches, starts)
    _barge_ins(timeline)
    return timeline.values


def _batches(tl: Timeline) -> list[tuple[int, float, float]]:
    """(first sample index, first sample's ADC time, send time) per audio batch sent."""
    feeds = [fed for fed, _ in tl.adc_of]
    device = sorted(fed - at for fed, at in tl.adc_of)
    for d in device:
        tl.add("mic_device", d)
    device_s = device[len(device) // 2] if device else 0.0
    out, index = [], 0
    for kind, times in tl.events:
        if kind != "audio_sent":
            continue
        fed_last, sent, samples = times[0], times[1], int(times[2])
        last = _adc_time(tl.adc_of, feeds, fed_last)
        first = last - (samples - tl.mic_block_samples) / MIC_RATE_HZ
        out.append((index, first, sent))
        tl.add("mic_to_wire", sent - first)
        tl.add("mic_to_wire_client", sent - first - device_s)
        index += samples
    return out


def _adc_time(adc_of: Sequence[tuple[float, float]], feeds: list[float], fed: float) -> float:
    """The ADC time of the block fed at ``fed``: the newest feed noted at or before it (the
    bench notes the time just before the engine stamps its own)."""
    k = bisect.bisect_right(feeds, fed) - 1
    if k < 0 or fed - feeds[k] > 0.005:
        return fed
    return adc_of[k][1]


def heard_at(blocks: Sequence[Played], position: int) -> float | None:
    """When stream position ``position`` reached the DAC, or None if it never played."""
    for b in blocks:
        if b.real and b.position <= position < b.position + b.real:
            return b.dac_t + (b.fade + position - b.position) / SPEAKER_RATE_HZ
        if b.position > position:
            return None  # skipped: flushed before it played
    return None


def _reply_starts(tl: Timeline) -> list[tuple[float, float, float | None]]:
    """(first delta arrival, heard at, speech_stopped audio end) per reply with audio."""
    out = []
    awaiting, arrival, audio_end = False, 0.0, None
    for kind, times in tl.events:
        if kind == "input_audio_buffer.speech_stopped":
            audio_end = times[1] if len(times) > 1 else None
        elif kind == "response.created":
            awaiting = True
        elif kind == "response.audio.delta":
            arrival = times[0]
        elif kind == "audio_queued" and awaiting:
            awaiting = False
            heard = heard_at(tl.blocks, int(times[1]))
            if heard is not None:
                tl.add("wire_to_ear", heard - arrival)
            out.append((arrival, heard if heard is not None else float("nan"), audio_end))
            audio_end = None
    return out


def _eos_split(tl: Timeline, batches: list[tuple[int, float, float]],
               starts: list[tuple[float, float, float | None]]) -> None:
    indices = [b[0] for b in batches]
    for arrival, heard, audio_end in starts:
        if audio_end is None or heard != heard or not batches:
            continue
        eos_index = int(audio_end * MIC_RATE_HZ)
        k = bisect.bisect_right(indices, eos_index) - 1
        if k < 0:
            continue
        first_index, first_adc, sent = batches[k]
        eos_adc = first_adc + (eos_index - first_index) / MIC_RATE_HZ
        tl.add("eos_to_heard", heard - eos_adc)
        tl.add("eos_client", (sent - eos_adc) + (heard - arrival))
        network = min(tl.network_rtt_s, max(0.0, arrival - sent))
        tl.add("eos_network", network)
        tl.add("eos_server", arrival - sent - network)


def _barge_ins(tl: Timeline) -> None:
    pending: list[tuple[str, float]] = []
    for kind, times in tl.events:
        if kind == "input_audio_buffer.speech_started":
            pending.append(("barge_in", times[0]))
        elif kind == "interrupt":
            pending.append(("barge_in_local", times[0]))
        elif kind == "flush":
            for name, t in pending:
                silent = _silent_after(tl.blocks, int(times[1]), t)
                if silent is not None and times[0] - t <= FLUSH_AFTER_S:
                    tl.add(name, silent - t)
            pending = []


def _silent_after(blocks: Sequence[Played], flushes: int, t: float) -> float | None:
    """The end of the fade of the first block after flush ``flushes``, if a reply was
    playing just before ``t``."""
    playing = False
    for b in blocks:
        if b.flushes < flushes:
            playing = playing or (b.real > 0 and b.dac_t >= t - PLAYING_BEFORE_S)
        elif b.flushes >= flushes:
            return b.dac_t + b.fade / SPEAKER_RATE_HZ if playing else None
    return None
