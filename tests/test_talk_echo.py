"""``omnichat talk --local`` on laptop speakers: the virtual sound card with its speaker-to-mic
echo path on (50 ms later, gain 0.6), a question played into the microphone, the reply played
by the speaker and heard again by the microphone.

* ``aec``, ``gate``, ``half-duplex``: the reply plays to its end; the model's own voice never
  interrupts it. ``off``: it does (the test of the test: the echo path is real).
* ``aec``: a second voice over the reply (double talk) still interrupts it.
* local barge-in: with the service's VAD made deaf to quiet speech, only the local detector
  hears the user; it silences the speaker, and the screen says the service did not hear (that
  notice comes only when no ``speech_started`` followed the local cut).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from test_engine_support import write_wav

from omnichat.audio.level import rms_dbfs
from omnichat.echo.canceller import canceller_available
from omnichat.engine.state import LOCAL_UNCONFIRMED
from omnichat.transcript import read_transcript

ECHO_GAIN = 0.6
RATE_HZ = 24_000
WINDOW = RATE_HZ // 20  # 50 ms
LOUD_DBFS = -40.0
QUIET_DBFS = -55.0
LEAD_S = 0.5  # PulseAudio zeroes a new stream's start (rig P2)
QUESTION = "Hello there."
needs_aec = pytest.mark.skipif(not canceller_available(),
                               reason="no canceller (pip install 'omnichat[aec]')")


class Talk:
    """``omnichat talk --local`` in a subprocess; a reader thread collects its stdout."""

    def __init__(self, tmp_path: Path, *args: str, env: dict[str, str] | None = None):
        self.transcript = tmp_path / "t.jsonl"
        self.proc = subprocess.Popen(
            [sys.executable, "-X", "faulthandler", "-m", "omnichat", "talk", "--local",
             "--emulator-speed", "fast", "--transcript", str(self.transcript), *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**os.environ, **(env or {})})
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, name="test-talk-stdout")
        self._reader.start()

    def _read(self) -> None:
        for raw in self.proc.stdout:
            with self._changed:
                self.lines.append(raw.decode(errors="replace"))
                self._changed.notify_all()
        with self._changed:
            self.lines.append("<eof>")
            self._changed.notify_all()

    @property
    def out(self) -> str:
        return "".join(self.lines)

    def wait_for(self, needle: str, timeout_s: float) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: needle in self.out or "<eof>" in self.out,
                                          timeout_s) or needle not in self.out:
                raise AssertionError(f"no {needle!r} within {timeout_s} s; got {self.out!r}")

    def stop(self) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:  # a hang: -X faulthandler prints every thread
            self.proc.send_signal(signal.SIGABRT)
            self.proc.wait()
        self._reader.join(timeout=5)
        return self.proc.returncode, self.proc.stderr.read().decode(errors="replace")

    def turns(self) -> list[dict]:
        return read_transcript(self.transcript)


@pytest.fixture
def echo_on(virtual_audio):
    virtual_audio.echo(True, ECHO_GAIN)
    yield virtual_audio
    virtual_audio.echo(False)


def _wav(tmp_path: Path, name: str, pcm: bytes, gain: float = 1.0) -> Path:
    lead = bytes(int(16_000 * LEAD_S) * 2)
    samples = np.frombuffer(pcm, "<i2").astype(np.float64) * gain
    return write_wav(tmp_path / name, lead + samples.astype("<i2").tobytes() + lead)


def _converse(echo_on, tmp_path, speech_pcm, mode: str) -> tuple[Talk, str]:
    """Ask one question on speakers in ``mode``; return once the reply's turn is final."""
    question = _wav(tmp_path, "q.wav", speech_pcm(QUESTION))
    talk = Talk(tmp_path, "--echo", mode)
    try:
        talk.wait_for("listening", 30)
        echo_on.play_into_mic(question).wait(30)
        talk.wait_for("qwen:", 30)  # the reply played to its end, or was cut
    finally:
        code, err = talk.stop()
    assert code == 130, err
    return talk, err


@pytest.mark.parametrize("mode", [pytest.param("aec", marks=needs_aec), "gate", "half-duplex"])
def test_the_model_does_not_interrupt_itself_on_speakers(echo_on, tmp_path, speech_pcm, mode):
    talk, _ = _converse(echo_on, tmp_path, speech_pcm, mode)
    assert "interrupted" not in talk.out, talk.out
    reply = next(t for t in talk.turns() if t["role"] == "assistant")
    assert not reply.get("interrupted"), reply
    assert "I heard about" in reply["text"]


def test_with_echo_off_the_model_interrupts_itself(echo_on, tmp_path, speech_pcm):
    talk, _ = _converse(echo_on, tmp_path, speech_pcm, "off")
    assert "interrupted" in talk.out, talk.out  # the echo path is real: this test can fail
    reply = next(t for t in talk.turns() if t["role"] == "assistant")
    assert reply["interrupted"], reply


def _speak_over_the_reply(echo_on, tmp_path, talk: Talk, question: Path,
                          interruption: Path) -> float:
    """Ask, wait for the reply on the speaker, speak over it; return the milliseconds from
    the start of the user's speech to 300 ms of silence at the speaker."""
    recorder = echo_on.record_speaker()
    try:
        talk.wait_for("listening", 30)
        echo_on.play_into_mic(question).wait(30)
        recorder.wait_for_reply_playing(20, "no reply", LOUD_DBFS)
        talk_at = time.monotonic() + LEAD_S
        echo_on.play_into_mic(interruption).wait(15)
        talk.wait_for("interrupted", 10)
    finally:
        audio = recorder.stop()
    start = next(total for t, total in recorder.arrivals if t >= talk_at)
    quiet_at = next(i for i in range(start, audio.size - WINDOW, WINDOW // 5)
                    if rms_dbfs(audio[i:i + 6 * WINDOW]) < QUIET_DBFS)
    return 1000 * (quiet_at - start) / RATE_HZ


@needs_aec
def test_double_talk_in_aec_interrupts_the_reply(echo_on, tmp_path, speech_pcm):
    question = _wav(tmp_path, "q.wav", speech_pcm(QUESTION))
    interruption = _wav(tmp_path, "i.wav", speech_pcm("Stop, please stop."))
    talk = Talk(tmp_path, "--echo", "aec")
    try:
        ms = _speak_over_the_reply(echo_on, tmp_path, talk, question, interruption)
    finally:
        code, err = talk.stop()
    print(f"aec double talk: speaker silent {ms:.0f} ms after the user started")
    assert code == 130, err
    reply = next(t for t in talk.turns() if t["role"] == "assistant")
    assert reply["interrupted"] and reply["heard"], reply


def test_local_barge_in_silences_the_reply_the_service_did_not_hear(virtual_audio, tmp_path,
                                                                    speech_pcm):
    """On headphones (no echo path, ``--echo off``) the service's VAD starts only above
    -30 dBFS (threshold 1) and the user speaks softly (every 20 ms frame below -33 dBFS): only
    the local detector hears the interruption. It cuts the reply at once; the service never
    confirms it, so the screen says so and the conversation goes on."""
    virtual_audio.echo(False)
    config = tmp_path / "config.toml"
    config.write_text("[turn_detection]\nthreshold = 1.0\n")
    question = _wav(tmp_path, "q.wav", speech_pcm(QUESTION))
    soft = speech_pcm("Wait, stop please.")
    samples = np.frombuffer(soft, "<i2")
    loudest = max(rms_dbfs(samples[i:i + 320]) for i in range(0, samples.size - 320, 320))
    interruption = _wav(tmp_path, "i.wav", soft, gain=10 ** ((-33.0 - loudest) / 20))
    talk = Talk(tmp_path, "--echo", "off", env={"OMNICHAT_CONFIG": str(config)})
    try:
        ms = _speak_over_the_reply(virtual_audio, tmp_path, talk, question, interruption)
        talk.wait_for(LOCAL_UNCONFIRMED, 10)
    finally:
        code, err = talk.stop()
    print(f"local barge-in: speaker silent {ms:.0f} ms after the user started")
    assert code == 130, err
    reply = next(t for t in talk.turns() if t["role"] == "assistant")
    assert reply["interrupted"], reply
    assert len([t for t in talk.turns() if t["role"] == "user"]) == 1  # the service never heard

