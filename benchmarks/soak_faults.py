"""Soak: a compressed two-hour conversation through periodic faults (issues 9 and 16).

Not a test (nothing is asserted): it prints what happened. One process runs the emulator
(``speed="fast"``), a loopback ``FaultProxy`` (tests/fault_proxy.py) and an ``Engine`` with
the reconnection policy ``talk`` uses, text replies only. The client speaks turns of
speech-like tone (about 8 s of audio-time each, fed faster than real time; the emulator's
VAD ends each turn) and waits for each reply. Every few turns one fault, in turn:

    cut       the proxy drops both sockets between turns
    stall     the link dies quietly between turns (the proxy stops forwarding, the socket
              stays open); the idle probes find it
    mid-cut   the proxy drops the sockets while a reply streams
    idle      the client pauses longer than the service's idle timeout (compressed)
    dead-ask  the link dies quietly, then the next question is spoken into it: the probes
              find it, and the question is replayed into the new session and answered
    hang      the link dies and every reconnect's handshake hangs for 2 s (TCP accepted,
              no answer) before the service comes back

and the session cap (compressed) forces rollovers. A question is only asked once the status
is "listening" again, as a user would. Reported: turns, reconnections, rollovers, lost turns
(a question with no user turn or no reply turn recorded; must be 0), replies cut by a fault
(recorded, marked interrupted_by_network; the user would ask again), the user turns replayed
after a reconnect, how long each kind of dead link took to be noticed (default probe
timings; the transport's own keep-alive ping is left at its 15 s), and the process's VmRSS
at start and end.

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
FAULTS = ("cut", "stall", "mid-cut", "idle", "dead-ask", "hang")
DETECTION_ROUNDS = 5  # of each kind, after the soak
HANG_S = 2.0  # how long reconnect handshakes hang in the "hang" fault
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
    def __init__(self, emu: Emulator, proxy: FaultProxy, rollover_s: float | None = ROLLOVER_S):
        self.emu, self.proxy = emu, proxy
        self.turns: list[Turn] = []
        self.notices: list[str] = []
        self.noticed_s: dict[str, list[float]] = {"stall": [], "dead-ask": [], "hang": []}
        self.longest_poll_s = 0.0
        url = f"{proxy.url(emu.url)}?model={Settings().model}"
        session = Settings(modalities=("text",)).session_payload()
        # Faults come every few seconds of wall time (time is compressed ~27x): the
        # flapping budget (5 drops in 2 min of real time) is off here.
        policy = ReconnectPolicy(backoff=Backoff(base_s=0.1, cap_s=1.0, floor_s=0.05),
                                 rollover_after_s=rollover_s, flap_drops=10**6)
        self.engine = Engine(session, connect=lambda: WebSocketTransport(
            url, None, connect_timeout_s=1.0), on_turn=self.turns.append, reconnect=policy)

    def wait(self, predicate, timeout_s: float = WAIT_S) -> bool:
        """Poll until ``predicate(update)`` holds for some update; every update of the
        batch is looked at (notices kept), so nothing is skipped."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            matched = False
            polled_at = time.monotonic()
            batch = self.engine.poll(0.02)
            self.longest_poll_s = max(self.longest_poll_s, time.monotonic() - polled_at)
            for update in batch:
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
        if fault == "dead-ask":  # the link dies quietly; the question goes into it
            self.proxy.stall()
            stalled_at = time.monotonic()
        for i in range(0, len(pcm), 3200):
            self.engine.feed_mic(pcm[i:i + 3200])
            if i % 32000 == 0:
                self.wait(lambda u: False, 0.0)  # let the sender keep up
        if fault == "mid-cut":  # as soon as the reply exists (or is already over)
            self.until(lambda: self.engine.state.current_response_id is not None
                       or self.replies() > before)
            self.proxy.cut()
            self.wait(_reconnecting, 5.0)
        if fault == "dead-ask":
            self.wait(_reconnecting)
            self.noticed_s[fault].append(time.monotonic() - stalled_at)
        self.until(lambda: self.replies() > before)
        self.between(fault)

    def between(self, fault: str | None) -> None:
        if fault == "cut":  # the user sees "reconnecting" before speaking again
            self.proxy.cut()
            self.wait(_reconnecting)
        elif fault in ("stall", "hang"):
            if fault == "hang":
                self.proxy.hang_connects()
            self.proxy.stall()
            stalled_at = time.monotonic()
            self.wait(_reconnecting)
            self.noticed_s[fault].append(time.monotonic() - stalled_at)
            if fault == "hang":  # the attempts hang, the keys must not: poll() stays quick
                self.wait(lambda u: False, HANG_S)
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
    report_detection(measure_detection(DETECTION_ROUNDS))


def measure_detection(rounds: int) -> dict[str, list[float]]:
    """How long a dead link takes to be noticed with the default probe timings, on sessions
    without compressed limits: idle between turns, while a reply streams (the emulator holds
    it after two deltas, then the link dies), and after the user stopped speaking (no reply
    yet). Seconds from the stall to the status "reconnecting"."""
    pcm = utterance()
    found: dict[str, list[float]] = {"idle": [], "mid-reply": [], "after-speech": []}
    with Emulator(speed="fast", replies=["Sure, go on."]) as emu:
        proxy = FaultProxy("127.0.0.1", emu.port)
        soak = Soak(emu, proxy, rollover_s=None)
        try:
            with soak.engine:
                soak.ask(pcm, None)
                for _ in range(rounds):
                    for kind in found:
                        found[kind].append(_detect(soak, pcm, kind))
        finally:
            proxy.close()
    return found


def _detect(soak: Soak, pcm: bytes, kind: str) -> float:
    soak.until(lambda: soak.engine.status == up.LISTENING and soak.engine.is_idle())
    before = soak.replies()
    if kind != "idle":
        soak.emu.hold_responses(after_packets=2 if kind == "mid-reply" else 0)
        for i in range(0, len(pcm), 3200):
            soak.engine.feed_mic(pcm[i:i + 3200])
        soak.wait(lambda u: isinstance(u, up.AssistantDelta) if kind == "mid-reply"
                  else isinstance(u, up.StatusChanged) and u.status == up.THINKING)
    soak.proxy.stall()
    stalled_at = time.monotonic()
    soak.wait(_reconnecting)
    noticed_s = time.monotonic() - stalled_at
    soak.emu.release_responses()
    soak.proxy.resume()
    if kind != "idle":  # the question is answered in the new session
        soak.until(lambda: soak.replies() > before)
    return noticed_s


def report_detection(found: dict[str, list[float]]) -> None:
    for kind, times in found.items():
        times = sorted(times)
        print(f"dead link noticed ({kind}, {len(times)}x, default probes): min "
              f"{times[0]:.1f} s, median {times[len(times) // 2]:.1f} s, max {times[-1]:.1f} s")


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
    print(f"user turns replayed into a new session (said into a dead link, answered "
          f"after the reconnect): {soak.engine.state.replayed_turns}")
    stalls = sum(len(times) for times in soak.noticed_s.values())
    print(f"dead links (stall, dead-ask, hang): {stalls}, each noticed or overtaken by a "
          "planned move (the compressed limits); detection times: below")
    print(f"longest poll() (the keys and the screen): {soak.longest_poll_s * 1000:.0f} ms")
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
