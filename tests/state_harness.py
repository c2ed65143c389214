"""Drive a ``ConversationState`` by hand (no socket, no threads, no clock): feed server events
and commands at chosen times, carry out its actions on a real ``PlaybackBuffer``, and play
blocks through the real tap and ``HeardWatch`` to say when audio was heard."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from omnichat.audio.playback import PlaybackBuffer
from omnichat.engine import actions as act
from omnichat.engine import updates as up
from omnichat.engine.clocks import MicClock
from omnichat.engine.heard import HeardWatch
from omnichat.engine.state import ConversationState
from omnichat.protocol.events import Event, from_dict

ANCHOR = (0.0, datetime(2026, 1, 1, tzinfo=timezone.utc))
REAL_TRAFFIC = Path(__file__).parent / "data" / "real-traffic"
SPEAKER_HZ = 24_000


def pcm(samples: int, value: int = 1000) -> bytes:
    return np.full(samples, value, dtype="<i2").tobytes()


class Harness:
    """One state, its playback buffer and what came out of it, in order."""

    def __init__(self, audio: bool = True, **options: Any):
        self.now = 0.0
        self.playback = PlaybackBuffer() if audio else None
        self.state = ConversationState(self.playback, wall_anchor=ANCHOR, **options)
        self.watch = HeardWatch(clock=lambda: self.now)
        if self.playback is not None:
            self.playback.add_tap(self.watch.on_block)
        self.mic = MicClock()
        self.actions: list[act.Action] = []

    # ---- inputs -----------------------------------------------------------------------------

    def at(self, now: float) -> Harness:
        self.now = now
        return self

    def event(self, type_: str, **fields: Any) -> list[act.Action]:
        return self.handle(from_dict({"type": type_, **fields}))

    def handle(self, event: Event) -> list[act.Action]:
        return self._run(self.state.handle(event, self.now, self.mic))

    def command(self, command: Any) -> list[act.Action]:
        return self._run(self.state.command(command, self.now))

    def tick(self) -> list[act.Action]:
        return self._run(self.state.tick(self.now))

    def close(self) -> list[act.Action]:
        return self._run(self.state.close(self.now))

    def play(self, samples: int) -> int:
        """The speaker takes one block of ``samples``; the tap reports it."""
        assert self.playback is not None
        n = self.playback.read_into(np.zeros(samples, dtype=np.int16))
        for response_id, at in self.watch.take():
            self._run(self.state.heard(response_id, at, self.now))
        return n

    def _run(self, actions: list[act.Action]) -> list[act.Action]:
        for action in actions:
            pb = self.playback
            if isinstance(action, act.PlayAudio) and pb is not None:
                pb.write(action.pcm)
            elif isinstance(action, act.FlushPlayback) and pb is not None:
                pb.flush()
            elif isinstance(action, act.WatchHeard) and pb is not None:
                self.watch.watch(action.response_id, action.start, pb.flushes)
        self.actions += actions
        return actions

    # ---- what came out ----------------------------------------------------------------------

    def sent(self) -> list[str]:
        return [a.event.type for a in self.actions if isinstance(a, act.Send)]

    def turns(self) -> list[Any]:
        return [a.turn for a in self.actions if isinstance(a, act.RecordTurn)]

    def updates(self, kind: type) -> list[Any]:
        return [a.update for a in self.actions
                if isinstance(a, act.ViewUpdate) and isinstance(a.update, kind)]

    def of(self, kind: type) -> list[Any]:
        return [a for a in self.actions if isinstance(a, kind)]

    def statuses(self) -> list[up.Status]:
        return [u.status for u in self.updates(up.StatusChanged)]


# ---- server events, shaped like docs/protocol.md §4 ----------------------------------------------


def ready(h: Harness) -> None:
    h.event("session.updated", session={})


def user_speaks(h: Harness, item: str, start_s: float, end_s: float, vad_wait_s: float = 0.8,
                *, commit: bool = True) -> None:
    """speech_started at ``start_s``; speech_stopped (and committed) once the VAD waited."""
    h.at(start_s).event("input_audio_buffer.speech_started", item_id=item,
                        audio_start_ms=int(start_s * 1000))
    stop_at = end_s + vad_wait_s
    h.mic = MicClock(int(stop_at * 16_000), stop_at)  # audio sent up to now, in real time
    h.at(stop_at).event("input_audio_buffer.speech_stopped", item_id=item,
                        audio_end_ms=int(end_s * 1000))
    if commit:
        h.event("input_audio_buffer.committed", item_id=item)


def response(h: Harness, rid: str, *, text: str = "", audio_samples: int = 0,
             chunks: int = 1, done: bool = True) -> None:
    h.event("response.created", response={"id": rid, "status": "in_progress"})
    words = text.split(" ")
    per = max(1, len(words) // chunks)
    for i in range(chunks):
        part = " ".join(words[i * per:(i + 1) * per if i < chunks - 1 else None])
        if part:
            h.event("response.audio_transcript.delta", response_id=rid,
                    delta=part + ("" if i == chunks - 1 else " "))
        if audio_samples:
            h.event("response.audio.delta", response_id=rid,
                    delta=base64.b64encode(pcm(audio_samples // chunks)).decode())
    if done:
        finish(h, rid, text)


def finish(h: Harness, rid: str, text: str = "") -> None:
    h.event("response.audio_transcript.done", response_id=rid, transcript=text)
    h.event("response.audio.done", response_id=rid)
    h.event("response.done", response={"id": rid, "status": "completed",
                                       "usage": {"input_tokens": 5, "output_tokens": 7}})


def transcription(h: Harness, item: str, text: str) -> None:
    h.event("conversation.item.input_audio_transcription.completed", item_id=item,
            content_index=0, transcript=text)


def capture(name: str) -> list[dict[str, Any]]:
    """The frames of a real capture, each {dir?, event}, the header line skipped."""
    frames = []
    for line in (REAL_TRAFFIC / name).read_text(encoding="utf-8").splitlines():
        data = json.loads(line)
        if "_source" in data:
            continue
        frames.append(data if "event" in data or "close_code" in data else {"event": data})
    return frames
