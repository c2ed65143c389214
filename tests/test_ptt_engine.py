"""Push-to-talk's pieces against the emulator, without a terminal: the commit waits behind
the turn's audio, the gate sends only while recording, the confirm prompt, the frame thread."""

from __future__ import annotations

import base64
import threading

import numpy as np
import pytest
from test_engine_support import make_engine

from omnichat.engine import commands as cmd
from omnichat.engine import updates as up
from omnichat.session.keys import ConfirmPrompt
from omnichat.session.ptt import MicGate

BLOCK = 320  # 20 ms at 16 kHz


def _manual(emu):
    engine = make_engine(emu)
    engine.conversation.session["turn_detection"] = None  # push-to-talk: manual turns
    return engine


def _noise(blocks: int) -> list[bytes]:
    rng = np.random.default_rng(3)
    pcm = (rng.standard_normal(blocks * BLOCK) * 8000).astype("<i2")
    return [pcm[i * BLOCK:(i + 1) * BLOCK].tobytes() for i in range(blocks)]


def _appended_bytes(emu) -> int:
    return sum(len(base64.b64decode(e.get("audio"))) for e in emu.session.received
               if e.type == "input_audio_buffer.append")


def test_a_commit_goes_out_after_the_audio_queued_before_it(emulator):
    """Regression: control events jumped ahead of audio still waiting for its batch, so a
    push-to-talk commit reached the server before the end of the turn (the tail then
    started the next turn)."""
    engine = _manual(emulator)
    with engine:
        for block in _noise(2):  # 40 ms: less than one batch, so it waits in the queue
            engine.feed_mic(block)
        engine.command(cmd.Commit())
        emulator.session.wait_for("response.create", direction="received", timeout=10)
        types = emulator.session.received_types
        assert types.index("input_audio_buffer.append") < types.index(
            "input_audio_buffer.commit")
        assert _appended_bytes(emulator) == 2 * BLOCK * 2


def test_the_gate_sends_only_while_recording_and_refuses_a_short_one(emulator):
    engine = _manual(emulator)
    with engine:
        gate = MicGate(engine)
        for block in _noise(10):
            gate.on_block(block)  # the key is up: nothing goes out
        gate.start()
        for block in _noise(5):  # 100 ms: too short
            gate.on_block(block)
        assert gate.send() is not None
        emulator.session.wait_for("input_audio_buffer.clear", direction="received", timeout=10)
        assert _appended_bytes(emulator) == 5 * BLOCK * 2
        assert "input_audio_buffer.commit" not in emulator.session.received_types
        notices = [u for u in engine.poll(0) if isinstance(u, up.Notice)]
        assert any("not sent: too short" in n.text for n in notices)


def test_confirm_prompt_blocks_the_worker_until_a_key_answers():
    shown: list[up.Update] = []
    prompt = ConfirmPrompt(shown.append)
    answers: list[bool] = []
    asked = threading.Thread(target=lambda: answers.append(prompt.ask("run rm?")),
                             name="tool-worker")
    asked.start()
    while not prompt.waiting:
        asked.join(0.01)
    assert prompt.answer(True)
    asked.join(5)
    assert answers == [True]
    assert isinstance(shown[0], up.Notice) and shown[0].text == "run rm? [y/n]"
    assert not prompt.answer(False)  # nothing asked now
    assert prompt.ask("again?", timeout_s=0.0) is False


class _FakeSource:
    """Frames of a still scene, then a changed one: what the picker should pass."""

    name = "fake.mp4"

    def __init__(self) -> None:
        self.closed = False

    def frames(self):
        still = np.zeros((120, 160, 3), np.uint8)
        changed = still.copy()
        changed[:, :80] = 255
        for index in range(30):  # 3 s at 10 fps
            yield index / 10, (still if index < 15 else changed)

    def close(self) -> None:
        self.closed = True


def test_frame_thread_sends_changed_frames_at_most_once_a_second():
    from omnichat.media.camera import FrameSender

    sent: list[cmd.Command] = []
    source = _FakeSource()
    with FrameSender(source, sent.append, max_fps=1.0, pace=0) as sender:
        assert sender.finished.wait(10)
    assert source.closed
    assert len(sent) == 2 and all(isinstance(c, cmd.SendImage) for c in sent)
    assert sent[0].jpeg.startswith(b"\xff\xd8")
    assert sender.picker.skipped_still > 0 and sender.picker.skipped_rate > 0


def test_frame_thread_reads_a_synthetic_video_file(tmp_path):
    cv2 = pytest.importorskip("cv2")
    from omnichat.media.camera import FrameSender
    from omnichat.media.vision import open_source

    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 120))
    for index in range(40):  # 4 s: 2 s dark, 2 s half bright
        frame = np.zeros((120, 160, 3), np.uint8)
        if index >= 20:
            frame[:, :80] = 255
        writer.write(frame)
    writer.release()
    sent: list[cmd.Command] = []
    with FrameSender(open_source(video=path), sent.append, max_fps=0.5, pace=0) as sender:
        assert sender.finished.wait(10)
    assert len(sent) == 2  # the first frame, and the change; the still frames cost nothing
