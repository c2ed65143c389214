"""The files a session writes: written whatever happens to stdout, announced only when this
run wrote them, and never in folders made where the user did not mean."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from omnichat.audio.wav_writer import WavWriter
from omnichat.cli import app

SAMPLE = Path(__file__).parents[1] / "omnichat" / "data" / "sample-question.wav"
FAST = ["--input-pace", "8", "--emulator-speed", "fast", "--output-pace", "8"]


def test_a_reader_that_goes_away_does_not_stop_the_reply_audio(tmp_path):
    """``talk ... --output o.wav | head -1``: the pipe closes after one line, the
    conversation still ends normally and o.wav is complete."""
    out = tmp_path / "o.wav"
    child = subprocess.Popen(
        [sys.executable, "-m", "omnichat", "talk", "--local", "--input", str(SAMPLE),
         "--output", str(out), "--transcript", str(tmp_path / "t.jsonl"), *FAST],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    first = child.stdout.readline()
    child.stdout.close()  # what `head -1` does after its line
    _, err = child.communicate(timeout=60)
    assert first.startswith(b"[") and child.returncode == 0, err
    assert out.stat().st_size > 100_000 and b"Traceback" not in err


def test_a_failed_start_does_not_announce_an_older_file(tmp_path):
    out = tmp_path / "o.wav"
    out.write_bytes(b"RIFF from an earlier run")
    result = CliRunner().invoke(app, ["talk", "--input", str(SAMPLE), "--output", str(out),
                                      "--transcript", str(tmp_path / "t.jsonl")])
    assert result.exit_code == 5  # no key
    assert "reply audio" not in result.output and "transcript:" not in result.output
    assert out.read_bytes() == b"RIFF from an earlier run"


def test_an_output_in_a_missing_folder_outside_the_users_places_is_refused(tmp_path):
    folder = Path("/omnichat-test-no-such-folder")
    assert not folder.exists()
    try:
        result = CliRunner().invoke(app, ["talk", "--local", "--input", str(SAMPLE),
                                          "--output", str(folder / "a.wav"),
                                          "--transcript", str(tmp_path / "t.jsonl")])
        assert result.exit_code == 2
        assert result.output.strip().splitlines() == [
            f"omnichat: error: cannot write WAV '{folder}/a.wav': the folder {folder} does not "
            "exist (omnichat creates folders only under your home, the current or the "
            "temporary directory: create it first); choose another path"]
        assert not folder.exists()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    inside = tmp_path / "new" / "deeper" / "a.wav"  # the temporary directory is the user's
    writer = WavWriter(inside, 24_000)
    writer.close()
    assert inside.is_file() and oct(inside.parent.stat().st_mode & 0o777) == "0o700"


def test_audio_library_lines_never_reach_a_terminal_between_plain_lines(tmp_path, capfd,
                                                                        monkeypatch):
    """ALSA writes to fd 2 as a device opens; with stdout piped and stderr a terminal that
    line landed between omnichat's own. It is held and summarised once, after the session."""
    import io
    import os

    from omnichat.config.settings import load_settings
    from omnichat.session import talk as talk_module
    from omnichat.session.talk import TalkOptions, talk

    opened = talk_module._speaker

    def noisy_speaker(*args, **kwargs):
        os.write(2, b"ALSA lib confmisc.c:855:(parse_card) cannot find card '0'\n")
        os.write(2, b"ALSA lib pcm.c:8545:(snd_pcm_recover) underrun occurred\n")
        speaker = opened(*args, **kwargs)
        speaker.device_underflows = 2  # as a real device that ran dry twice mid-reply
        return speaker

    monkeypatch.setattr(talk_module, "_speaker", noisy_speaker)
    monkeypatch.setattr(talk_module, "_stderr_is_terminal", lambda: True, raising=False)
    out = io.StringIO()
    talk(load_settings({}), TalkOptions(local=True, input_wav=SAMPLE,
                                        output_wav=tmp_path / "o.wav",
                                        transcript=tmp_path / "t.jsonl", input_pace=8,
                                        output_pace=8, emulator_speed="fast"), stream=out)
    err = capfd.readouterr().err
    assert "qwen:" in out.getvalue()
    assert not err.startswith("ALSA") and "\nALSA" not in err
    assert err.strip().splitlines() == [
        "omnichat: note: the audio system reported 1 message during the session; the last: "
        "ALSA lib confmisc.c:855:(parse_card) cannot find card '0'"]
    # ALSA's recovery line is held back; the speaker's own count says what was heard
    assert "the sound device ran dry 2 times during a reply" in out.getvalue()
