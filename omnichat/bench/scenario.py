"""Run one client through the scenario on the virtual sound card and measure it.

Order (each step has a deadline; ``run_client`` always stops what it started)::

    omnichat serve --trace (subprocess, realtime) -> recorders (speaker monitor, mic)
    -> client subprocess -> wait for its first audio frame -> turns -> barge-ins
    -> stop client (SIGINT, then SIGTERM) -> stop recorders -> stop serve -> measure

A turn: ``paplay`` a clip into ``rig_mic_feed``, wait for the reply's ``response.done`` in
the trace, then for the speaker to stay quiet. A barge-in: a clip, then once the reply has
sounded for ``barge_after_s`` a second clip over it.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omnichat.bench.clients import BENCH_KEY, KEY_ENV, ClientSpec
from omnichat.bench.measure import Figures, Track, measure
from omnichat.bench.recording import Recorder, SampleClock
from omnichat.bench.trace import TraceEvent, TraceFollower
from omnichat.errors import OmnichatError

MIC_FEED = "rig_mic_feed"
MIC_SOURCE, MIC_RATE_HZ = "rig_mic", 16_000
SPEAKER_MONITOR, SPEAKER_RATE_HZ = "rig_speaker.monitor", 24_000
# No punctuation: espeak pauses at commas and full stops, and a pause right when the user
# interrupts would look like an instant barge-in.
REPLY = ("here is a fairly long answer with many words that keeps going on and on so that "
         "there is plenty of time to interrupt me while I am still talking about it")
VOICE = "Cherry"  # the vendor samples' voice; the same voice means the same reply audio
_URL = re.compile(r"(ws://\S+?)\?model=MODEL")


@dataclass
class Scenario:
    turns: list[Path]  # clips spoken one per turn, each answered in full
    barge_ins: list[tuple[Path, Path]] = field(default_factory=list)  # (question, interruption)
    barge_after_s: float = 1.0
    reply: str = REPLY
    connect_timeout_s: float = 30.0
    reply_timeout_s: float = 30.0
    pace: str = "realtime"  # the emulator's --speed: how fast it sends reply audio


@dataclass
class Result:
    client: str
    figures: Figures
    speaker_clock: SampleClock | None
    mic_clock: SampleClock | None
    client_log: Path
    notes: list[str] = field(default_factory=list)


class BenchError(OmnichatError):
    """The scenario could not run (a process failed, a deadline passed)."""


def run_client(client: ClientSpec, scenario: Scenario, work_dir: Path,
               env: dict[str, str] | None = None) -> Result:
    work_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ if env is None else env)
    trace_path = work_dir / f"{client.name}-trace.jsonl"
    trace_path.unlink(missing_ok=True)
    (work_dir / "reply.txt").write_text(scenario.reply + "\n", encoding="utf-8")
    serve, url, pump = _start_serve(trace_path, work_dir / "reply.txt", env, scenario.pace)
    notes: list[str] = []
    follower = TraceFollower(trace_path)
    speaker = Recorder(SPEAKER_MONITOR, SPEAKER_RATE_HZ, env)
    mic = Recorder(MIC_SOURCE, MIC_RATE_HZ, env)
    log = work_dir / f"{client.name}-client.log"
    proc = None
    try:
        speaker.wait_live()
        mic.wait_live()
        proc = _start_client(client, url, env, log)
        _wait_first_audio(follower, proc, scenario.connect_timeout_s, client.name, log)
        _play_turns(scenario, follower, speaker, env, notes)
    finally:
        if proc is not None:
            _stop(proc, signal.SIGINT, notes, client.name)
        spk_samples, spk_clock = speaker.stop()
        mic_samples, mic_clock = mic.stop()
        _stop(serve, signal.SIGINT, notes, "omnichat serve")
        pump.join(timeout=5)
        follower.poll()
        follower.close()
    if spk_clock is None:
        raise BenchError("the speaker recording is too short to align")
    lead_s = reply_lead_s(scenario.reply)
    if lead_s is None:
        notes.append("reply audio lead unknown: onsets are not corrected for it")
    figures = measure(follower.events, Track(spk_samples, spk_clock),
                      Track(mic_samples, mic_clock) if mic_clock else None, lead_s or 0.0)
    return Result(client.name, figures, spk_clock, mic_clock, log, notes)


def _start_serve(trace: Path, reply_script: Path, env: dict[str, str],
                 pace: str = "realtime") -> tuple[subprocess.Popen[str], str, threading.Thread]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "omnichat", "serve", "--port", "0", "--speed", pace,
         "--trace", str(trace), "--reply-script", str(reply_script)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, env=env)
    lines: queue.Queue[str] = queue.Queue(maxsize=100)
    pump = threading.Thread(target=_pump, args=(proc, lines), name="omnichat-bench-serve-err",
                            daemon=True)
    pump.start()
    deadline = time.monotonic() + 20.0
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            break
        if match := _URL.search(line):
            return proc, match.group(1), pump
    proc.kill()
    proc.wait(timeout=5)
    raise BenchError("omnichat serve did not report its URL within 20 s")


def _pump(proc: subprocess.Popen[str], lines: queue.Queue[str]) -> None:
    """Daemon thread: reads serve's stderr until EOF (serve exits), keeps the first lines."""
    assert proc.stderr is not None
    for line in proc.stderr:
        if not lines.full():
            lines.put_nowait(line)


def _start_client(client: ClientSpec, url: str, env: dict[str, str],
                  log: Path) -> subprocess.Popen[bytes]:
    child_env = {**env, **client.env, "OMNICHAT_BENCH_URL": url, KEY_ENV: BENCH_KEY,
                 "DASHSCOPE_API_KEY": BENCH_KEY, "PYTHONUNBUFFERED": "1"}
    if client.setup and "OMNICHAT_CONFIG" in client.env:
        Path(client.env["OMNICHAT_CONFIG"]).write_text(client.setup.format(url=url),
                                                        encoding="utf-8")
    with open(log, "wb") as out:
        return subprocess.Popen(client.argv, cwd=client.cwd, env=child_env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _wait(follower: TraceFollower, match: Callable[[TraceEvent], bool], timeout_s: float, what: str,
          after: int = 0) -> tuple[int, TraceEvent]:
    found = follower.wait_for(match, timeout_s, after)
    if found is None:
        raise BenchError(f"{what} within {timeout_s:g} s")
    return found


def _wait_first_audio(follower: TraceFollower, proc: subprocess.Popen[bytes], timeout_s: float,
                      name: str, log: Path) -> None:
    """Wait for the client's first audio frame; fail at once if the client exits instead."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if follower.wait_for(lambda e: e.type == "input_audio_buffer.append", 0.5):
            return
        if proc.poll() is not None:
            raise BenchError(f"{name} exited with status {proc.returncode} before sending "
                             f"audio (see {log})")
    raise BenchError(f"{name} sent no audio within {timeout_s:g} s (see {log})")


def _play(clip: Path, env: dict[str, str]) -> None:
    done = subprocess.run(["paplay", "-d", MIC_FEED, str(clip)], env=env, timeout=60,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise BenchError(f"paplay {clip} failed: {done.stderr.strip()[:200]}")


def _out(kind: str) -> Callable[[TraceEvent], bool]:
    return lambda e: e.direction == "out" and e.type == kind


def _play_turns(scenario: Scenario, follower: TraceFollower, speaker: Recorder,
                env: dict[str, str], notes: list[str]) -> None:
    for clip in scenario.turns:
        mark = len(follower.events)
        _play(clip, env)
        _wait(follower, _out("response.done"), scenario.reply_timeout_s,
              "no response.done after a turn", mark)
        if not speaker.wait_quiet(0.5, scenario.reply_timeout_s):
            notes.append("the speaker did not go quiet after a reply")
    for question, interruption in scenario.barge_ins:
        mark = len(follower.events)
        _play(question, env)
        _wait(follower, _out("response.audio.delta"), scenario.reply_timeout_s,
              "no reply audio to interrupt", mark)
        time.sleep(scenario.barge_after_s)  # pacing: let the reply sound before interrupting
        mark = len(follower.events)
        _play(interruption, env)
        _wait(follower, _completed, scenario.reply_timeout_s,
              "no completed reply after an interruption", mark)
        if not speaker.wait_quiet(0.5, scenario.reply_timeout_s):
            notes.append("the speaker did not go quiet after an interruption")


def _completed(e: TraceEvent) -> bool:
    return (e.direction == "out" and e.type == "response.done"
            and (e.data.get("response") or {}).get("status") == "completed")


def reply_lead_s(text: str) -> float | None:
    """Silence at the start of the emulator's reply audio (the onset detector's offset).

    The reply audio is espeak speech that starts with a few ms of silence; the onset at the
    speaker is that much later than the first sample. Calibrated by synthesizing the reply as
    the emulator does; None when that is not possible.
    """
    try:
        import numpy as np

        from omnichat.bench import envelope
        from omnichat.emulator.speech import OUTPUT_RATE_HZ, synthesize
        audio = np.frombuffer(synthesize(text, VOICE), dtype="<i2")
        onset = envelope.first_loud(audio, OUTPUT_RATE_HZ)
    except (ImportError, AttributeError, OSError, ValueError):
        return None
    return None if onset is None else onset / OUTPUT_RATE_HZ


def speech_clip(text: str, path: Path) -> Path:
    """Write ``text`` spoken by espeak-ng to ``path`` (WAV; paplay resamples it)."""
    try:
        wav = subprocess.run(["espeak-ng", "--stdout", "-v", "en-us", "--", text],
                             capture_output=True, check=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise BenchError(f"espeak-ng could not speak the clips ({exc}); "
                         "install it with: apt-get install espeak-ng") from exc
    path.write_bytes(wav)
    return path


def _stop(proc: subprocess.Popen[Any], sig: int, notes: list[str], name: str) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        notes.append(f"{name} ignored {signal.Signals(sig).name} for 10 s; killed")
        proc.kill()
        proc.wait(timeout=5)
