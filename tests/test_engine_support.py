"""Helpers shared by the engine/talk tests (no tests here): build an engine on an emulator,
speak into it, and wait on its updates with deadlines instead of sleeps."""

from __future__ import annotations

import time
import wave
from collections.abc import Callable
from pathlib import Path

from omnichat.config.settings import Settings
from omnichat.engine import Engine
from omnichat.engine import updates as up
from omnichat.transport import WebSocketTransport

SILENCE_S = 1.2  # > the default 800 ms VAD silence: ends the user's turn


def session_for(**overrides) -> dict:
    session = Settings().session_payload()
    turn = overrides.pop("turn_detection", None)
    if turn:
        session["turn_detection"].update(turn)
    session.update(overrides)
    return session


def make_engine(emu, playback=None, on_turn=None, transport_cls=WebSocketTransport,
                engine_options: dict | None = None, **session):
    url = f"{emu.url}?model={Settings().model}"
    return Engine(session_for(**session), connect=lambda: transport_cls(url, None),
                  playback=playback, on_turn=on_turn, **(engine_options or {}))


def speak(engine: Engine, pcm: bytes, silence_s: float = SILENCE_S, lead_s: float = 0.3) -> None:
    """Feed an utterance framed by silence, 100 ms per block, as fast as the queue takes it."""
    data = bytes(int(16_000 * lead_s) * 2) + pcm + bytes(int(16_000 * silence_s) * 2)
    for i in range(0, len(data), 3200):
        engine.feed_mic(data[i:i + 3200])


def wait_for(engine: Engine, predicate: Callable[[up.Update], bool], timeout_s: float = 15.0,
             seen: list | None = None) -> up.Update:
    """Poll the engine until an update matches and return it. Every update polled reaches
    ``seen``, also those after the match in the same batch (a reconnection's updates come in
    one batch); a ``Failed`` update raises its error."""
    seen = [] if seen is None else seen
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        batch = engine.poll(0.05)
        seen.extend(batch)
        for update in batch:
            if isinstance(update, up.Failed):
                raise update.error
        match = next((u for u in batch if predicate(u)), None)
        if match is not None:
            return match
    raise AssertionError(f"no matching update within {timeout_s} s; seen {seen}")


def wait_until(engine: Engine, condition: Callable[[], bool], timeout_s: float = 15.0,
               seen: list | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        for update in engine.poll(0.02):
            if seen is not None:
                seen.append(update)


def finished(role: str) -> Callable[[up.Update], bool]:
    return lambda u: isinstance(u, up.TurnFinished) and u.turn.role == role


def write_wav(path: Path, pcm: bytes, rate_hz: int = 16_000) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate_hz)
        w.writeframes(pcm)
    return path
