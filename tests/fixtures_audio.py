"""The virtual sound card for real-audio tests: a private PulseAudio daemon per test session.

``virtual_audio`` (session scope) runs ``tests/rig/virtual-audio.sh start`` once, in a fresh
``VA_DIR`` so parallel sessions and a user's own sound server are never touched, exports its
env into ``os.environ`` (so subprocesses such as ``omnichat talk`` inherit it) and makes
PortAudio rescan. The defaults then are ``rig_mic`` (input) and ``rig_speaker`` (output).

It skips with the reason where the machine cannot run the rig (not root and packages missing,
no PortAudio); with ``CI`` set it fails instead, because CI must run these tests.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

RIG_SCRIPT = Path(__file__).resolve().parent / "rig" / "virtual-audio.sh"
RIG_ENV = ("VA_DIR", "PULSE_SERVER", "PULSE_COOKIE", "ALSA_CONFIG_PATH")
SPEAKER_RATE_HZ = 24_000


class SpeakerRecorder:
    """``parec`` of the speaker monitor; a reader thread timestamps each chunk as it arrives."""

    def __init__(self, source: str = "rig_speaker.monitor", rate_hz: int = SPEAKER_RATE_HZ):
        self.rate_hz = rate_hz
        self._proc = subprocess.Popen(
            ["parec", "-d", source, "--raw", f"--rate={rate_hz}", "--channels=1",
             "--format=s16le", "--latency-msec=10"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self._chunks: list[bytes] = []
        self.arrivals: list[tuple[float, int]] = []  # (monotonic time, total samples so far)
        self.started = threading.Event()  # first bytes arrived: the recording is live
        self._arrived = threading.Condition()  # notified by the reader on every chunk and at EOF
        self._ended = False
        self._thread = threading.Thread(target=self._read_loop, name="rig-parec-reader")
        self._thread.start()
        if not self.started.wait(5.0):
            self.stop()
            raise RuntimeError("parec delivered nothing within 5 s")

    def _read_loop(self) -> None:
        """Thread ``rig-parec-reader``: owns the appends; unblocked by parec's output or EOF."""
        fd, total = self._proc.stdout.fileno(), 0
        while chunk := os.read(fd, 4800):
            total += len(chunk) // 2
            with self._arrived:
                self._chunks.append(chunk)
                self.arrivals.append((time.monotonic(), total))
                self._arrived.notify_all()
            self.started.set()
        with self._arrived:
            self._ended = True
            self._arrived.notify_all()

    def recorded(self) -> np.ndarray:
        """Everything recorded so far, int16 at ``rate_hz`` (the recording goes on)."""
        with self._arrived:
            data = b"".join(self._chunks)
        return np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2")

    def wait_until(self, condition: Callable[[np.ndarray], bool], timeout_s: float,
                   what: str) -> np.ndarray:
        """Wait until ``condition(recorded())`` holds, re-checked as each chunk arrives;
        AssertionError ``"{what} within {timeout_s} s"`` at the deadline or if parec ends."""
        deadline = time.monotonic() + timeout_s
        with self._arrived:
            while True:
                audio = self.recorded()
                if condition(audio):
                    return audio
                left = deadline - time.monotonic()
                if left <= 0 or self._ended:
                    raise AssertionError(f"{what} within {timeout_s} s")
                self._arrived.wait(left)

    def wait_for_reply_playing(self, timeout_s: float, what: str,
                               loud_dbfs: float = -40.0) -> int:
        """Wait until something new turns loud on the speaker (a 50 ms window over
        ``loud_dbfs``), then until half a second more of it has played (5 s at most); the
        sample index where it was first loud."""
        from omnichat.audio.level import rms_dbfs

        window, base = self.rate_hz // 20, len(self.recorded())
        reply_at = len(self.wait_until(
            lambda audio: audio.size > base and rms_dbfs(audio[-window:]) > loud_dbfs,
            timeout_s, what))
        self.wait_until(lambda audio: audio.size > reply_at + self.rate_hz // 2, 5,
                        "reply stalled")
        return reply_at

    def time_of_sample(self, index: int) -> float:
        """Monotonic time at which recorded sample ``index`` had arrived (upper bound)."""
        for t, total in self.arrivals:
            if total > index:
                return t
        return float("inf")

    def stop(self) -> np.ndarray:
        """End the recording and return it as int16 at ``rate_hz``."""
        if self._proc.poll() is None:
            self._proc.terminate()
        self._proc.wait(timeout=5)
        self._thread.join(timeout=5)
        data = b"".join(self._chunks)
        return np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").copy()


class VirtualAudio:
    """Handle to the running rig, yielded by the ``virtual_audio`` fixture."""

    mic_device = "rig_mic"  # the default input
    speaker_device = "rig_speaker"  # the default output
    mic_feed = "rig_mic_feed"  # PulseAudio sink: what is played here is heard by rig_mic
    speaker_monitor = "rig_speaker.monitor"

    def __init__(self, va_dir: Path, env: dict[str, str]):
        self.va_dir = va_dir
        self.env = env

    def play_into_mic(self, wav_path: Path | str) -> subprocess.Popen:
        """Start ``paplay`` of ``wav_path`` into the mic; ``.wait(timeout)`` on the handle."""
        return subprocess.Popen(["paplay", "-d", self.mic_feed, str(wav_path)],
                                stderr=subprocess.PIPE)

    def record_speaker(self) -> SpeakerRecorder:
        """Start recording what the speaker plays; ``stop()`` returns int16 at 24 kHz."""
        return SpeakerRecorder(self.speaker_monitor, SPEAKER_RATE_HZ)

    def echo(self, on: bool, gain: float = 1.0) -> None:
        """Route the speaker into the mic (~50 ms later, linear ``gain``), or mute that path."""
        # pactl reads "1" as a raw volume (near mute) and "60%" as cubic: give a decimal factor
        args = ["echo", "on", f"{gain:.4f}"] if on else ["echo", "off"]
        _run_rig(*args, va_dir=self.va_dir).check_returncode()


def _run_rig(*args: str, va_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "VA_DIR": str(va_dir)}
    try:
        return subprocess.run(["bash", str(RIG_SCRIPT), *args], env=env, capture_output=True,
                              text=True, timeout=180)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(args, 124, "", f"virtual-audio.sh {args[0]} "
                                                           f"timed out after 180 s")


def _in_ci() -> bool:
    """CI=true/1/yes (what CI services set); CI=false or 0 is a developer's machine."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _cannot_run(reason: str):
    if _in_ci():
        pytest.fail(f"virtual audio rig did not start (CI must run audio tests): {reason}")
    pytest.skip(f"virtual audio rig unavailable: {reason}")


def _rescan_portaudio() -> None:
    from omnichat.audio import devices
    from omnichat.errors import AudioDeviceError
    try:
        devices.rescan()
        names = [d.name for d in devices.list_devices()]
    except AudioDeviceError as exc:
        _cannot_run(str(exc))
    if "rig_mic" not in names:
        _cannot_run(f"PortAudio does not list rig_mic after a rescan (has {names})")


@pytest.fixture(scope="session")
def virtual_audio():
    """Start the private PulseAudio rig once per session; yields a ``VirtualAudio``."""
    if shutil.which("bash") is None:
        _cannot_run("bash not found")
    va_dir = Path(tempfile.mkdtemp(prefix="omnichat-va-", dir="/tmp"))  # short: socket path
    saved = {name: os.environ.get(name) for name in RIG_ENV}
    result = _run_rig("start", va_dir=va_dir)
    if result.returncode != 0:
        shutil.rmtree(va_dir, ignore_errors=True)
        lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
        _cannot_run(lines[-1] if lines else f"virtual-audio.sh exited {result.returncode}")
    env = {}
    for line in result.stdout.splitlines():  # export NAME='value'
        name, _, value = line.removeprefix("export ").partition("=")
        env[name] = shlex.split(value)[0]
    os.environ.update(env)
    try:
        _rescan_portaudio()
        yield VirtualAudio(va_dir, env)
    finally:
        _run_rig("stop", va_dir=va_dir)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(va_dir, ignore_errors=True)
