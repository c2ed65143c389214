"""Audio devices through PortAudio: the only module that imports ``sounddevice``.

The import is lazy so WAV-file and ``--local`` runs work where PortAudio is missing. Every
PortAudio failure is turned into an ``AudioDeviceError`` whose text names the fix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from omnichat.errors import AudioDeviceError

NO_PORTAUDIO = "PortAudio library not found: install it with 'apt-get install libportaudio2'"
# --local needs a sound card too; only WAV files do without one.
_NO_PORTAUDIO = f"{NO_PORTAUDIO} (or talk through WAV files: --input and --output)"
_KINDS = {"input": 0, "output": 1}


def sounddevice_module() -> Any:
    """Import and return ``sounddevice``; a missing PortAudio becomes an AudioDeviceError."""
    try:
        import sounddevice
    except OSError as exc:  # the wheel raises OSError when libportaudio cannot be loaded
        raise AudioDeviceError(_NO_PORTAUDIO) from exc
    return sounddevice


@dataclass(frozen=True)
class DeviceInfo:
    index: int
    name: str
    host_api: str
    max_input_channels: int
    max_output_channels: int
    default_samplerate: float
    is_default_input: bool
    is_default_output: bool

    def channels(self, kind: str) -> int:
        return self.max_input_channels if kind == "input" else self.max_output_channels


def list_devices() -> list[DeviceInfo]:
    """Every device PortAudio knows, with the default input and output marked."""
    sd = sounddevice_module()
    try:
        raw = sd.query_devices()
        apis = sd.query_hostapis()
        default_in, default_out = _defaults(sd)
    except sd.PortAudioError as exc:
        raise AudioDeviceError(f"cannot list audio devices: {exc}") from exc
    return [
        DeviceInfo(index=d["index"], name=d["name"], host_api=apis[d["hostapi"]]["name"],
                   max_input_channels=d["max_input_channels"],
                   max_output_channels=d["max_output_channels"],
                   default_samplerate=float(d["default_samplerate"]),
                   is_default_input=d["index"] == default_in,
                   is_default_output=d["index"] == default_out)
        for d in raw
    ]


def _defaults(sd: Any) -> tuple[int, int]:
    default = sd.default.device
    return int(default[0]), int(default[1])


def resolve_device(spec: str | int | None, kind: str) -> int | None:
    """Turn ``--input-device``/``--output-device`` into a PortAudio index.

    ``spec`` is an index or a case-insensitive name substring (an exact name wins over
    substrings). ``None`` means the system default and returns ``None`` when one exists.
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be 'input' or 'output', not {kind!r}")
    devices = [d for d in list_devices() if d.channels(kind) > 0]
    if not devices:
        raise AudioDeviceError(
            f"no audio {kind} device found: check the sound server and 'omnichat devices', "
            "install PortAudio's ALSA/PulseAudio support ('apt-get install libportaudio2 "
            "libasound2-plugins'), or talk through WAV files: --input and --output")
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        if any(getattr(d, f"is_default_{kind}") for d in devices):
            return None
        return devices[0].index  # PortAudio has no default but a usable device exists
    if isinstance(spec, int) or spec.strip().isdigit():
        return _by_index(int(spec), kind, devices)
    return _by_name(spec.strip(), kind, devices)


def _by_index(index: int, kind: str, devices: list[DeviceInfo]) -> int:
    if any(d.index == index for d in devices):
        return index
    raise AudioDeviceError(f"no {kind} device with index {index}; "
                           f"run 'omnichat devices' to list them")


def _by_name(spec: str, kind: str, devices: list[DeviceInfo]) -> int:
    wanted = spec.casefold()
    exact = [d for d in devices if d.name.casefold() == wanted]
    if len(exact) == 1:
        return exact[0].index
    matches = exact or [d for d in devices if wanted in d.name.casefold()]
    if len(matches) == 1:
        return matches[0].index
    if not matches:
        names = ", ".join(f"{d.index}: {d.name}" for d in devices)
        raise AudioDeviceError(f"no {kind} device matches '{spec}' (have {names}); "
                               "run 'omnichat devices' and give an index or a longer name")
    names = ", ".join(f"{d.index}: {d.name}" for d in matches)
    raise AudioDeviceError(f"{kind} device '{spec}' is ambiguous ({names}); "
                           "run 'omnichat devices' and give an index or a longer name")


def rescan() -> None:
    """Make PortAudio rebuild its device list (it caches it at initialisation)."""
    sd = sounddevice_module()
    sd._terminate()
    sd._initialize()


def device_default_rate(device: int | None, kind: str) -> int:
    """The device's default sample rate, the fallback when a device refuses the wire rate."""
    sd = sounddevice_module()
    try:
        return int(sd.query_devices(device, kind)["default_samplerate"])
    except (sd.PortAudioError, ValueError) as exc:
        raise AudioDeviceError(f"cannot query the {kind} device: {exc}; "
                               "run 'omnichat devices'") from exc


def is_rate_error(exc: Exception) -> bool:
    """True when PortAudio refused a sample rate (paInvalidSampleRate, -9997)."""
    text = str(exc)
    code = getattr(exc, "args", (None, None))
    return "-9997" in text or "sample rate" in text.lower() or (
        len(code) > 1 and code[1] == -9997)


def open_stream(kind: str, device_spec: str | int | None, wire_rate_hz: int,
                open_at: Callable[[Any, int | None, int], Any],
                open_failed: Callable[[Exception], AudioDeviceError]) -> Any:
    """Open a ``kind`` stream at the wire rate or, when the device refuses it, at the device's
    own default rate (the caller's ``open_at(sd, index, rate)`` then sets up resampling).

    Every PortAudio failure becomes ``open_failed(exc)``: one sentence with the fix.
    """
    sd = sounddevice_module()
    index = resolve_device(device_spec, kind)
    try:
        return open_at(sd, index, wire_rate_hz)
    except sd.PortAudioError as exc:
        if not is_rate_error(exc):
            raise open_failed(exc) from exc
    try:
        return open_at(sd, index, device_default_rate(index, kind))
    except sd.PortAudioError as exc:
        raise open_failed(exc) from exc


def start_stream(stream: Any, open_failed: Callable[[Exception], AudioDeviceError]) -> None:
    """Start an opened stream; on failure close it and raise ``open_failed(exc)``."""
    sd = sounddevice_module()
    try:
        stream.start()
    except sd.PortAudioError as exc:
        stream.close()
        raise open_failed(exc) from exc


def stream_latency_s(sd: Any, index: int | None, kind: str, block_s: float,
                     min_blocks: int = 2) -> float:
    """PortAudio's 'low' latency, but at least ``min_blocks`` blocks.

    At 44.1/48 kHz ALSA reports ~9 ms as 'low', less than one 10 ms block. The resampled
    stream then underran in bursts (20 ms was not enough either; 40 ms was clean in every
    rig run), and each ALSA underrun recovery dropped the queued audio.
    """
    try:
        low = float(sd.query_devices(index, kind)[f"default_low_{kind}_latency"])
    except (sd.PortAudioError, ValueError, KeyError, TypeError):
        low = 0.0
    return max(low, min_blocks * block_s)


# A running stream's callback comes every block (5-20 ms). Nothing for this long means the
# device or the sound server is gone (unplugged, the server died): PortAudio itself only
# prints to stderr and stops calling.
DEVICE_SILENT_S = 2.0


def device_lost(kind: str, last_callback_at: float, now: float) -> AudioDeviceError | None:
    """The one-line error for a stream whose callbacks stopped, or None while they come."""
    silent_s = now - last_callback_at
    if last_callback_at <= 0 or silent_s < DEVICE_SILENT_S:
        return None
    return AudioDeviceError(
        f"the {kind} device stopped: nothing from it for {silent_s:.0f} s (unplugged, or "
        "the sound server went away); check 'omnichat devices' and start again")
