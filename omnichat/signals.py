"""SIGTERM and SIGHUP end omnichat the way Ctrl+C does: cleanly, with one line.

``install()`` (main thread only) makes the first SIGTERM or SIGHUP raise ``Terminated`` in
the main thread. It derives from ``KeyboardInterrupt``, so every path that already handles
Ctrl+C runs unchanged: the ``ExitStack`` in ``talk`` unwinds, the engine closes and finishes
the reply that was cut, the transcript gets that turn, the ``--output`` WAV is finalised.
Later signals are only recorded, so that clean-up is not cut short itself (``kill -9`` is
still there for an impatient supervisor). The exit code is 128 + the signal number (143 for
SIGTERM, 129 for SIGHUP), as shells report a process killed by it. A SIGHUP that was
ignored when omnichat started (``nohup``) stays ignored.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

HANDLED = (signal.SIGTERM, signal.SIGHUP)

_received: list[int] = []  # signal numbers seen, in order; written only by the main thread


class Terminated(KeyboardInterrupt):
    """The process was asked to end by a signal; ``exit_code`` is 128 + its number."""

    def __init__(self, signum: int):
        self.signum = signum
        self.exit_code = 128 + signum
        self.name = signal.Signals(signum).name
        super().__init__(f"terminated ({self.name})")


def install() -> None:
    """Handle SIGTERM and SIGHUP from now on; a no-op outside the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in HANDLED:
        if signal.getsignal(signum) is signal.SIG_IGN:
            continue  # nohup and friends asked for it to be ignored
        signal.signal(signum, _on_signal)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    if len(_received) == 1:
        raise Terminated(signum)


def received() -> int | None:
    """The first handled signal this process got, if any."""
    return _received[0] if _received else None


def exit_code(default: int) -> int:
    """128 + the first signal received, or ``default`` when none was."""
    first = received()
    return 128 + first if first is not None else default
