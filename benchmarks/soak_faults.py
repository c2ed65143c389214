"""Soak: a compressed two-hour conversation through periodic faults (issue 9).

Not a test (nothing is asserted): it prints what happened. One process runs the emulator
(``speed="fast"``), a loopback ``FaultProxy`` (tests/fault_proxy.py) and an ``Engine`` with
the reconnection policy ``talk`` uses, text replies only. The client speaks turns of
speech-like tone (about 8 s of audio-time each, fed faster than real time; the emulator's
VAD ends each turn) and waits for each reply. Every few turns one fault, in turn:

    cut       the proxy drops both sockets between turns
    stall     the proxy stops forwarding (the sender's pings find it) and resumes
    mid-cut   the proxy drops the sockets while a reply streams
    idle      the client pauses longer than the service's idle timeout (compressed)

and the session cap (compressed) forces rollovers. A question is only asked once the status
is "listening" again, as a user would. Reported: turns, reconnections, rollovers, lost turns
(a question with no user turn or no reply turn recorded; must be 0), replies cut by a fault
(recorded, marked interrupted_by_network; the user would ask again), and the process's
VmRSS at start and end.

    .venv/bin/python benchmarks/soak_faults.py               # 2 h of audio-time
    .venv/bin/python benchmarks/soak_faults.py --hours 0.5
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fault_proxy import FaultProxy  # noqa: E402

from omnichat.config.settings import Settings  # noqa: E402
from omnichat.emulator import Emulator  # noqa: E402
from omnichat.engine import Engine  # noqa: E402
from omnichat.engine import updates as up  # noqa: E402
from omnichat.engine.reconnect import ReconnectPolicy  # noqa: E402
from omnichat.engine.turns import Turn  # noqa: E402
from omnichat.transport import Backoff, WebSocketTransport  # noqa: E402

RATE_HZ = 16_000
SPEECH_S = 8.0
SILENCE_S = 1.2
FAULT_EVERY = 12  # turns (about 4 s of wall time)
FAULTS = ("cut", "stall", "mid-cut", "idle")
IDLE_TIMEOUT_S = 2.0  # the service's 300 s, compressed
# The session limits are compressed further than the audio-time (~27x), so that sessions
# reach them between the faults (each fault starts a new session).
SESSION_CAP_S = 3.5  # the service's 120 min, compressed
ROLLOVER_S = 2.5  # omnichat's 110 min, compressed
WAIT_S = 60.0


def vm_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def utterance() -> bytes:
    """Tone bursts like syllables, then the silence that ends the turn."""
    t = np.arange(int(RATE_HZ * SPEECH_S)) / RATE_HZ
    voice = 0.3 * np.sin(2 * np.pi * 220 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    pcm = np.concatenate([voice, np.zeros(int(RATE_HZ * SILENCE_S))])
    return (pcm * 32767).astype(np.int16).tobytes()


class Soak:
    def __init__(self, emu: Emulator, proxy: FaultProxy):
        self.emu, self.proxy = emu, proxy
        self.turns: list[Turn] = []
        self.notices: list[str] = []
        url = f"{proxy.url(emu.url)}?model={Settings().model}"
        session = Settings(modalities=("text",)).session_payload()
        policy = ReconnectPolicy(backoff=Backoff(base_s=0.1, cap_s=1.0, floor_s=0.05),
                                 rollover_after_s=ROLLOVER_S)
        self.engine = Engine(session, connect=lambda: WebSocketTransport(
            url, None, ping_interval_s=0.5, io_timeout_s=1.0), on_turn=self.turns.append,
            reconnect=policy)

    def wait(self, predicate, timeout_s: float = WAIT_S) -> bool:
        """Poll until ``predicate(update)`` holds for some update; every update of the
        batch is looked at (notices kept), so nothing is skipped."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            matched = False
            for update in self.engine.poll(0.02):
                if isinstance(update, up.Notice):
                    self.notices.append(update.text)
                if isinstance(update, up.Failed):
                    raise update.error
                matched = matched or predicate(update)
            if matched:
                return True
        return False

    def until(self, condition, timeout_s: float = WAIT_S) -> bool:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                return False
            self.wait(lambda u: False, 0.02)
        return True

    def replies(self) -> int:
        return sum(1 for t in self.turns if t.role == "assistant")

    def ask(self, pcm: bytes, fault: str | None) -> None:
        self.until(lambda: self.engine.status == up.LISTENING and self.engine.is_idle())
        self.wait(lambda u: False, 0.05)  # a breath between turns (a rollover may come now)
        before = self.replies()
        for i in range(0, len(pcm), 3200):
            self.engine.feed_mic(pcm[i:i + 3200])
            if i % 32000 == 0:
                self.wait(lambda u: False, 0.0)  # let the sender keep up
        if fault == "mid-cut":  # as soon as the reply exists (or is already over)
            self.until(lambda: self.engine.state.current_response_id is not None
                       or self.replies() > before)
            self.proxy.cut()
            self.wait(_reconnecting, 5.0)
        self.until(lambda: self.replies() > before)
        self.between(fault)

    def between(self, fault: str | None) -> None:
        if fault == "cut":  # the user sees "reconnecting" before speaking again
            self.proxy.cut()
            self.wait(_reconnecting)
        elif fault == "stall":
            self.proxy.stall()
            self.wait(_reconnecting)
            self.proxy.resume()
        elif fault == "idle":
            self.wait(lambda u: False, IDLE_TIMEOUT_S * 1.5)


def _reconnecting(update: up.Update) -> bool:
    return isinstance(update, up.StatusChanged) and update.status == up.RECONNECTING


def run(hours: float) -> None:
    pcm = utterance()
    turns = int(hours * 3600 / (SPEECH_S + SILENCE_S))
    with Emulator(speed="fast", replies=["Sure, go on."], idle_timeout_s=IDLE_TIMEOUT_S,
                  max_session_s=SESSION_CAP_S) as emu:
        proxy = FaultProxy("127.0.0.1", emu.port)
        soak = Soak(emu, proxy)
        started = time.monotonic()
        try:
            with soak.engine:
                soak.ask(pcm, None)  # warm-up
                rss_start = vm_rss_mb()
                for n in range(1, turns):
                    fault = FAULTS[(n // FAULT_EVERY) % len(FAULTS)] \
                        if n % FAULT_EVERY == 0 else None
                    soak.ask(pcm, fault)
            rss_end = vm_rss_mb()
        finally:
            proxy.close()
        report(soak, turns, time.monotonic() - started, rss_start, rss_end)


def report(soak: Soak, asked: int, wall_s: float, rss_start: float, rss_end: float) -> None:
    users = [t for t in soak.turns if t.role == "user"]
    replies = [t for t in soak.turns if t.role == "assistant"]
    cut = [t for t in replies if t.status == "interrupted_by_network"]
    closed = sum(1 for text in soak.notices if "ended the session" in text)
    keeper = soak.engine.keeper
    assert keeper is not None
    print(f"audio-time: {asked * (SPEECH_S + SILENCE_S) / 3600:.2f} h in {wall_s:.0f} s wall")
    print(f"questions asked: {asked}; user turns recorded: {len(users)}; "
          f"replies recorded: {len(replies)} ({len(cut)} cut by a fault mid-reply, recorded "
          "as interrupted_by_network)")
    print(f"lost turns: {max(0, asked - len(users)) + max(0, asked - len(replies))}")
    print(f"reconnections: {keeper.reconnections} (of which {closed} after the service closed "
          f"the session: idle or cap); planned rollovers: {keeper.rollovers}")
    print(f"notices: {len(soak.notices)}; mic blocks dropped (queue full): "
          f"{soak.engine.mic_drops}")
    print(f"VmRSS: start {rss_start:.1f} MB, end {rss_end:.1f} MB, "
          f"growth {rss_end - rss_start:+.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=2.0, help="audio-time to converse")
    run(parser.parse_args().hours)


if __name__ == "__main__":
    main()
