"""Device listing and resolution against a stand-in sounddevice; the `omnichat devices` command."""

from __future__ import annotations

import builtins
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from omnichat.audio import devices
from omnichat.cli import app
from omnichat.errors import AudioDeviceError


class FakeSounddevice:
    class PortAudioError(Exception):
        pass

    def __init__(self, rows, default=(0, 1)):
        self._rows = [dict(index=i, hostapi=0, default_samplerate=48000.0, **row)
                      for i, row in enumerate(rows)]
        self.default = type("Default", (), {"device": list(default)})()

    def query_devices(self):
        return self._rows

    def query_hostapis(self):
        return [{"name": "ALSA"}]


MACHINE = [
    dict(name="HDA Intel PCH: ALC257 Analog (hw:0,0)", max_input_channels=2, max_output_channels=2),
    dict(name="USB Headset: Audio (hw:1,0)", max_input_channels=1, max_output_channels=2),
    dict(name="HDMI 0 (hw:0,3)", max_input_channels=0, max_output_channels=8),
    dict(name="rig_speaker", max_input_channels=0, max_output_channels=2),
    dict(name="rig_speaker_monitor", max_input_channels=2, max_output_channels=2),
]


@pytest.fixture
def fake_sd(monkeypatch):
    fake = FakeSounddevice(MACHINE)
    monkeypatch.setattr(devices, "sounddevice_module", lambda: fake)
    return fake


def test_list_devices_marks_defaults(fake_sd):
    listed = devices.list_devices()
    assert [d.index for d in listed] == [0, 1, 2, 3, 4]
    assert listed[0].is_default_input and listed[1].is_default_output
    assert listed[2].host_api == "ALSA" and listed[2].max_output_channels == 8


@pytest.mark.parametrize(("spec", "kind", "index"), [
    (None, "input", None), ("", "output", None), (1, "input", 1), ("2", "output", 2),
    ("usb", "input", 1), ("HDMI", "output", 2), ("rig_speaker", "output", 3),  # exact name wins
    ("monitor", "input", 4),
])
def test_resolve_device(fake_sd, spec, kind, index):
    assert devices.resolve_device(spec, kind) == index


@pytest.mark.parametrize(("spec", "kind", "words"), [
    ("hw:", "input", ["ambiguous", "0: HDA Intel", "1: USB Headset", "omnichat devices"]),
    ("bluetooth", "output", ["no output device matches 'bluetooth'", "omnichat devices"]),
    (2, "input", ["no input device with index 2", "omnichat devices"]),  # HDMI has no input
])
def test_resolve_device_errors_name_the_candidates(fake_sd, spec, kind, words):
    with pytest.raises(AudioDeviceError) as info:
        devices.resolve_device(spec, kind)
    for word in words:
        assert word in str(info.value)


def test_no_device_at_all_gives_the_fix(monkeypatch):
    monkeypatch.setattr(devices, "sounddevice_module", lambda: FakeSounddevice([], (-1, -1)))
    with pytest.raises(AudioDeviceError, match="no audio input device found.*--input and --output"):
        devices.resolve_device(None, "input")


def test_no_default_but_a_device_picks_the_first_usable(monkeypatch):
    monkeypatch.setattr(devices, "sounddevice_module", lambda: FakeSounddevice(MACHINE, (-1, -1)))
    assert devices.resolve_device(None, "output") == 0


def test_missing_portaudio_is_one_sentence_with_the_fix(monkeypatch):
    real_import = builtins.__import__

    def failing_import(name, *args, **kwargs):
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(builtins, "__import__", failing_import)
    with pytest.raises(AudioDeviceError, match="libportaudio2.*--input and --output"):
        devices.sounddevice_module()


def test_devices_command_plain_when_piped(fake_sd):
    result = CliRunner().invoke(app, ["devices"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "Input devices (* = default):"
    assert "*   0  HDA Intel PCH: ALC257 Analog (hw:0,0)  [ALSA, 2 ch, 48000 Hz]" in lines
    assert "Output devices (* = default):" in lines
    assert "*   1  USB Headset: Audio (hw:1,0)  [ALSA, 2 ch, 48000 Hz]" in lines
    assert "    2  HDMI 0 (hw:0,3)  [ALSA, 8 ch, 48000 Hz]" in lines


def test_devices_command_rich_table(fake_sd):
    from io import StringIO

    from omnichat.audio.listing import print_devices

    out = StringIO()
    print_devices(out, rich=True)
    assert "Input devices" in out.getvalue() and "USB Headset" in out.getvalue()


def test_devices_command_without_devices_exits_with_the_audio_code(monkeypatch):
    monkeypatch.setattr(devices, "sounddevice_module", lambda: FakeSounddevice([], (-1, -1)))
    result = CliRunner().invoke(app, ["devices"])
    assert result.exit_code == 3
    assert result.output.count("\n") == 1 and "apt-get install libportaudio2" in result.output


def test_audio_modules_do_not_import_sounddevice():
    code = ("import sys, omnichat.audio.playback, omnichat.audio.speaker, "
            "omnichat.audio.microphone, omnichat.audio.listing; "
            "assert 'sounddevice' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
