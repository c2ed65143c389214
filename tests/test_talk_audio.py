"""``omnichat talk --local`` on real (virtual) sound devices: speech goes into the default
microphone, the reply comes out of the default speaker, and speaking over the reply
silences it. Runs on the private PulseAudio rig; skips with its reason where it cannot."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from subprocess_support import read_until
from test_engine_support import write_wav

from omnichat.audio.level import rms_dbfs
from omnichat.transcript import read_transcript

RATE_HZ = 24_000
WINDOW = RATE_HZ // 20  # 50 ms analysis windows
LOUD_DBFS = -40.0
QUIET_DBFS = -55.0
SILENCED_WITHIN_S = 0.6  # barge-in: speaker quiet this soon after the user starts talking
LEAD_S = 0.5


def test_reply_is_heard_and_barge_in_silences_it(virtual_audio, speech_pcm, tmp_path):
    virtual_audio.echo(False)
    lead = bytes(int(16_000 * LEAD_S) * 2)  # PulseAudio zeroes a new stream's start (rig P2)
    question = write_wav(tmp_path / "q.wav", lead + speech_pcm(
        "Could you please tell me a long story about the lighthouse by the sea?") + lead)
    interruption = write_wav(tmp_path / "i.wav", lead + speech_pcm("Stop, please stop.") + lead)
    transcript = tmp_path / "t.jsonl"
    recorder = virtual_audio.record_speaker()
    proc = subprocess.Popen(
        [sys.executable, "-m", "omnichat", "talk", "--local", "--transcript", str(transcript)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ))
    try:
        read_until(proc, "listening", 30)
        virtual_audio.play_into_mic(question).wait(30)
        reply_at = recorder.wait_for_reply_playing(15, "no reply on the speaker", LOUD_DBFS)
        talk_at = time.monotonic() + LEAD_S  # the user starts talking over the reply
        player = virtual_audio.play_into_mic(interruption)
        read_until(proc, "interrupted", 10)
        player.wait(15)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        audio = recorder.stop()
    assert proc.returncode == 130, err.decode()
    assert rms_dbfs(audio[reply_at - RATE_HZ // 4:reply_at + RATE_HZ // 4]) > LOUD_DBFS  # heard
    start = next(total for t, total in recorder.arrivals if t >= talk_at)
    quiet_at = next(i for i in range(start, audio.size - WINDOW, WINDOW // 5)
                    if rms_dbfs(audio[i:i + 6 * WINDOW]) < QUIET_DBFS)  # 300 ms of silence
    print(f"speaker silenced {1000 * (quiet_at - start) / RATE_HZ:.0f} ms after the user "
          "started talking over the reply")
    assert (quiet_at - start) / RATE_HZ < SILENCED_WITHIN_S
    turns = read_transcript(transcript)
    first = next(t for t in turns if t["role"] == "assistant")
    assert first["interrupted"] and first["heard"] and first["unheard"]
