"""The threaded stage, mode resolution, headset detection and the config edit."""

from __future__ import annotations

import queue
import threading

import numpy as np
import pytest

from omnichat.echo import FRAME_SAMPLES
from omnichat.echo.configedit import save_echo_mode, set_echo_mode_text
from omnichat.echo.core import EchoCore
from omnichat.echo.modes import build_stage, is_headset, resolve_mode
from omnichat.echo.reference import ReferenceTap
from omnichat.echo.stage import EchoStage
from omnichat.errors import ConfigError

if __import__("sys").version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class BlockingCore:
    """A core whose ``process`` waits for ``release``: fills the stage's queue on demand."""

    mode = "gate"

    def __init__(self):
        self.tap = ReferenceTap()
        self.release = threading.Event()
        self.entered = threading.Event()

    def process(self, block, adc_time):
        self.entered.set()
        self.release.wait(5.0)
        return block[: block.size // FRAME_SAMPLES * FRAME_SAMPLES]


def test_stage_delivers_processed_audio_from_its_own_thread():
    out: queue.Queue[bytes] = queue.Queue()
    frames = []
    core = EchoCore("half-duplex", ReferenceTap())
    with EchoStage(core, out.put_nowait, on_frame=frames.append) as stage:
        for i in range(5):
            assert stage.process(np.full(320, i + 1, np.int16), 10.0 + i * 0.02) is None
        got = b"".join(out.get(timeout=5) for _ in range(5))
    assert np.array_equal(np.frombuffer(got, np.int16), np.repeat(np.arange(1, 6), 320))
    assert len(frames) == 10 and all(f.size == FRAME_SAMPLES for f in frames)
    assert stage.dropped_in == 0


def test_a_full_queue_drops_and_counts_instead_of_blocking_the_callback():
    core = BlockingCore()
    out: queue.Queue[bytes] = queue.Queue()
    stage = EchoStage(core, out.put_nowait, queue_blocks=2)
    try:
        stage.process(np.ones(320, np.int16), 0.0)
        assert core.entered.wait(5)  # the worker holds one block; two more fill the queue
        for _ in range(5):
            stage.process(np.ones(320, np.int16), 0.0)
        assert stage.dropped_in == 3
    finally:
        core.release.set()
        stage.close()
    stage.close()  # idempotent


def test_off_passes_blocks_inline_without_a_thread():
    got = []
    stage = build_stage("off", got.append)
    stage.process(np.arange(320, dtype=np.int16), 0.0)
    assert np.frombuffer(got[0], np.int16).tolist() == list(range(320))
    assert not [t for t in threading.enumerate() if t.name == "omnichat-echo"]
    stage.close()


def test_aec_without_a_canceller_names_the_install(monkeypatch):
    monkeypatch.setattr("omnichat.echo.modes.make_canceller", lambda: None)
    with pytest.raises(ValueError, match=r"omnichat\[aec\]"):
        build_stage("aec", lambda data: None)


@pytest.mark.parametrize("requested,saved,canceller,headset,want", [
    ("gate", None, True, True, "gate"),  # explicit wins, even on a headset
    ("auto", None, True, True, "off"),
    ("auto", "half-duplex", True, False, "half-duplex"),
    ("auto", "aec", False, False, "gate"),  # saved aec, canceller since uninstalled
    ("auto", None, True, False, "aec"),
    ("auto", None, False, False, "gate"),
])
def test_auto_mode(requested, saved, canceller, headset, want):
    assert resolve_mode(requested, saved=saved, canceller=canceller, headset=headset) == want


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="auto, aec, gate, half-duplex, off"):
        resolve_mode("loud")


@pytest.mark.parametrize("output,inp,want", [
    ("Jabra Evolve 65 Headset: USB Audio (hw:2,0)", None, True),
    ("bluez_sink.AA_BB.handsfree_head_unit", None, True),
    ("Built-in Audio Headphones", "Built-in Audio Microphone", True),
    ("Built-in Audio Analog Stereo", "Built-in Audio Analog Stereo", False),
    ("HDA Intel PCH: ALC257 Analog (hw:0,0)", "USB Headset Mic", False),
    ("Logitech H390 Headset", "Logitech H390 Headset", True),
    ("rig_speaker", "rig_mic", False),
])
def test_headset_detection(output, inp, want):
    assert is_headset(output, inp) is want


def test_config_edit_keeps_the_rest_of_the_file(tmp_path):
    text = ('# mine\nregion = "cn"\n\n[audio]\n# device comment\ninput_device = "usb"\n'
            'echo_mode = "aec"  # old\n\n[sampling]\ntemperature = 0.7\n')
    new = set_echo_mode_text(text, "gate")
    assert new == text.replace('echo_mode = "aec"  # old', 'echo_mode = "gate"')
    added = set_echo_mode_text('region = "cn"\n[audio]\ninput_device = 3\n', "off")
    assert tomllib.loads(added)["audio"] == {"input_device": 3, "echo_mode": "off"}
    appended = set_echo_mode_text('region = "cn"', "half-duplex")
    assert tomllib.loads(appended) == {"region": "cn", "audio": {"echo_mode": "half-duplex"}}


def test_save_writes_atomically_and_refuses_a_broken_file(tmp_path):
    path = tmp_path / "sub" / "config.toml"
    save_echo_mode(path, "gate")
    assert tomllib.loads(path.read_text())["audio"]["echo_mode"] == "gate"
    assert path.stat().st_mode & 0o777 == 0o600
    path.write_text("region = \n")
    with pytest.raises(ConfigError, match="by hand"):
        save_echo_mode(path, "aec")
    assert path.read_text() == "region = \n"
    assert [p.name for p in path.parent.iterdir()] == ["config.toml"]
