"""Run an omnichat command with a speaker that refuses 24 kHz: the resampled playback path.

Most hardware runs at 44.1 or 48 kHz and a raw ALSA device refuses the wire rate; the virtual
sound card's PulseAudio accepts any rate. This wrapper makes PortAudio refuse every output
rate but ``RATE`` (as such a device does, error -9997) and reports ``RATE`` as the device's
default, so omnichat opens the speaker at ``RATE`` and resamples (audio/device_feed.py).
Start the sound card with its speaker at the same rate (``VA_SPK_RATE=48000``) so no
resampling happens in the sound server either; ``benchmarks/bench_rig.py --speaker-rate``
does both.

    python benchmarks/forced_rate.py 48000 bench --local --speak-into rig_mic_feed
"""

from __future__ import annotations

import sys
from typing import Any


def force_output_rate(rate: int) -> None:
    from omnichat.audio import devices

    sd = devices.sounddevice_module()
    real = sd.OutputStream

    def output_stream(*args: Any, samplerate: float, **kwargs: Any) -> Any:
        if int(samplerate) != rate:
            raise sd.PortAudioError("Error opening stream: Invalid sample rate "
                                    "[PaErrorCode -9997]", -9997)
        return real(*args, samplerate=samplerate, **kwargs)

    real_default = devices.device_default_rate
    sd.OutputStream = output_stream
    devices.device_default_rate = (
        lambda device, kind: rate if kind == "output" else real_default(device, kind))


def main(argv: list[str]) -> int:
    if len(argv) < 2 or not argv[0].isdigit():
        print("usage: forced_rate.py RATE OMNICHAT-ARGS...", file=sys.stderr)
        return 2
    force_output_rate(int(argv[0]))
    from omnichat.__main__ import main as omnichat_main

    sys.argv = ["omnichat", *argv[1:]]
    omnichat_main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
