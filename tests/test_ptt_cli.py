"""The new flags of ``talk`` and ``ptt`` as a user meets them: pictures, camera, video,
frame rate, record; a bad value is one line and exit 2, before anything connects."""

from __future__ import annotations

import sys
import wave

import numpy as np
import pytest
from pty_session import loud_wav
from typer.testing import CliRunner

from omnichat.cli import app, camera_index_default
from omnichat.transcript import read_transcript

pytestmark = pytest.mark.timeout(60)


def _run(tmp_path, *args: str):
    result = CliRunner().invoke(app, [*args, "--transcript", str(tmp_path / "t.jsonl")])
    return result.exit_code, result.output


@pytest.mark.parametrize("flags,message", [
    (["--frame-rate", "2"], "--frame-rate 2.0: use a number of frames per second above 0"),
    (["--camera", "0", "--video", "x.mp4"], "--camera and --video both given"),
    (["--image", "missing.png"], "missing.png"),
    (["--video", "missing.mp4"], "missing.mp4"),
])
def test_a_bad_input_flag_is_one_line_before_connecting(tmp_path, flags, message):
    wav = loud_wav(tmp_path / "a.wav", 0.5)
    code, output = _run(tmp_path, "ptt", "--local", "--input", str(wav), *flags)
    assert code == 2, output
    assert message in output and output.count("\n") == 1
    assert not (tmp_path / "t.jsonl").exists() or (tmp_path / "t.jsonl").read_text() == ""


def test_without_opencv_the_camera_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)  # as if OpenCV were not installed
    code, output = _run(tmp_path, "talk", "--local", "--camera", "0", "--input",
                        str(loud_wav(tmp_path / "a.wav", 0.5)))
    assert code == 2
    assert output.strip() == ("omnichat: error: --camera needs OpenCV: pip install "
                              "'omnichat[camera]'")


def test_camera_without_an_index_means_camera_0():
    assert camera_index_default(["ptt", "--camera"]) == ["ptt", "--camera", "0"]
    assert camera_index_default(["ptt", "--camera", "--local"]) == [
        "ptt", "--camera", "0", "--local"]
    assert camera_index_default(["ptt", "--camera", "2"]) == ["ptt", "--camera", "2"]


def test_an_attached_picture_goes_with_the_first_words_and_is_shown(tmp_path):
    from PIL import Image

    Image.new("RGB", (2000, 1000), (10, 120, 200)).save(tmp_path / "wide.png")
    wav = loud_wav(tmp_path / "a.wav", 1.0)
    code, output = _run(tmp_path, "ptt", "--local", "--emulator-speed", "fast",
                        "--input-pace", "0", "--input", str(wav), "--image",
                        str(tmp_path / "wide.png"), "--output", str(tmp_path / "o.wav"),
                        "--output-pace", "0", "--record", str(tmp_path / "rec.wav"))
    assert code == 0, output
    assert "attached wide.png: 1280x640 JPEG, about 800 tokens" in output
    assert "before append audio" not in output  # not refused: it waited for the audio
    assert f"recording: {tmp_path / 'rec.wav'}" in output  # --record says where it went
    turns = read_transcript(tmp_path / "t.jsonl")  # the turns, without the session record
    assert [t["role"] for t in turns] == ["user", "assistant"]
    assert turns[1]["usage"]["input_tokens_details"]["video_tokens"] == 800  # it was seen
    with wave.open(str(tmp_path / "rec.wav"), "rb") as rec:
        assert (rec.getnchannels(), rec.getframerate()) == (2, 24_000)
        frames = np.frombuffer(rec.readframes(rec.getnframes()), "<i2")
    assert frames[0::2].std() > 100 and frames[1::2].std() > 100  # both sides were recorded
