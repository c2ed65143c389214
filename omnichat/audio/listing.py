"""``omnichat devices``: the input and output devices as a Rich table, or plain lines when piped."""

from __future__ import annotations

import sys
from typing import Literal, TextIO

from omnichat.audio.devices import NO_PORTAUDIO, DeviceInfo, list_devices
from omnichat.errors import AudioDeviceError

_NO_DEVICES = ("no audio devices found: check the sound server (PulseAudio/PipeWire) and install "
               "PortAudio's support for it ('apt-get install libportaudio2 libasound2-plugins')")


def print_devices(file: TextIO | None = None, rich: bool | None = None) -> None:
    """Print the device list; ``rich`` defaults to whether ``file`` is a terminal."""
    file = file or sys.stdout
    try:
        devices = list_devices()
    except AudioDeviceError as exc:
        if isinstance(exc.__cause__, OSError):  # the talk-only WAV hint does not apply here
            raise AudioDeviceError(NO_PORTAUDIO) from exc
        raise
    if not devices:
        raise AudioDeviceError(_NO_DEVICES)
    if rich is None:
        rich = file.isatty()
    sections = [("Input devices", "input", [d for d in devices if d.max_input_channels > 0]),
                ("Output devices", "output", [d for d in devices if d.max_output_channels > 0])]
    for title, kind, group in sections:
        if rich:
            _rich_table(file, title, kind, group)
        else:
            _plain(file, title, kind, group)


def _plain(file: TextIO, title: str, kind: str, group: list[DeviceInfo]) -> None:
    print(f"{title} (* = default):", file=file)
    if not group:
        print("  (none)", file=file)
    for d in group:
        mark = "*" if getattr(d, f"is_default_{kind}") else " "
        print(f"{mark} {d.index:>3}  {d.name}  [{d.host_api}, {d.channels(kind)} ch, "
              f"{d.default_samplerate:g} Hz]", file=file)


def _rich_table(file: TextIO, title: str, kind: str, group: list[DeviceInfo]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{title} (* = default)", title_justify="left")
    justified: tuple[tuple[str, Literal["left", "right"]], ...] = (
        ("", "left"), ("#", "right"), ("name", "left"), ("host API", "left"),
        ("channels", "right"), ("default rate", "right"))
    for column, justify in justified:
        table.add_column(column, justify=justify)
    for d in group:
        table.add_row("*" if getattr(d, f"is_default_{kind}") else "", str(d.index), d.name,
                      d.host_api, str(d.channels(kind)), f"{d.default_samplerate:g} Hz")
    Console(file=file).print(table)
