"""``echo_mode = auto`` and building the stage for a mode.

``resolve_mode(requested, saved=..., canceller=..., headset=...)``: an explicit mode wins;
``auto`` is ``off`` on a headset (no echo path), else the self-test's saved recommendation,
else ``aec`` when a canceller is installed, else ``gate``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from omnichat.echo import MODES
from omnichat.echo.canceller import INSTALL_HINT, canceller_available, make_canceller
from omnichat.echo.core import EchoCore
from omnichat.echo.reference import ReferenceTap
from omnichat.echo.stage import EchoStage

_HEADSET = re.compile(r"head(set|phone)|earphone|earbud|hands-?free|\bhfp\b|\bhsp\b|airpods",
                      re.IGNORECASE)


def is_headset(output_name: str | None, input_name: str | None = None) -> bool:
    """True when the system names the output a headset/headphones (the mic cannot hear it).

    PortAudio gives only names; PulseAudio, ALSA and CoreAudio put the form factor in them
    ("Headset", "Headphones", Bluetooth "Hands-Free"). A headset's own mic counts too.
    """
    if output_name and _HEADSET.search(output_name):
        return True
    return bool(input_name and _HEADSET.search(input_name)
                and _same_device(output_name, input_name))


def _same_device(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    stem = re.compile(r"[:,(].*$")
    return stem.sub("", a).strip().casefold() == stem.sub("", b).strip().casefold()


def resolve_mode(requested: str, *, saved: str | None = None, canceller: bool | None = None,
                 headset: bool = False) -> str:
    """The working mode (aec | gate | half-duplex | off) for ``requested``."""
    if requested not in MODES:
        raise ValueError(f"echo mode must be one of {', '.join(MODES)}, not {requested!r}")
    if requested != "auto":
        return requested
    if headset:
        return "off"
    has_aec = canceller if canceller is not None else canceller_available()
    if saved in ("gate", "half-duplex", "off") or (saved == "aec" and has_aec):
        return saved
    return "aec" if has_aec else "gate"


def build_stage(mode: str, on_output: Callable[[bytes], None], *,
                on_frame: Callable[[np.ndarray], None] | None = None,
                delay_s: float = 0.0, threaded: bool = False) -> EchoStage:
    """An ``EchoStage`` for a working mode; ``aec`` without a canceller is a ValueError with
    the install hint (the caller turns it into its own error). ``threaded``: see EchoStage."""
    canceller = make_canceller() if mode == "aec" else None
    if mode == "aec" and canceller is None:
        raise ValueError(f"echo mode 'aec' needs an echo canceller: {INSTALL_HINT}")
    core = EchoCore(mode, ReferenceTap(), canceller=canceller, delay_s=delay_s)
    return EchoStage(core, on_output, on_frame=on_frame, threaded=threaded)
