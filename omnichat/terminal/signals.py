"""SIGTERM and SIGHUP end omnichat the way Ctrl+C does: cleanly, with one line.

``install()`` (main thread only) makes the first SIGTERM or SIGHUP raise ``Terminated`` in
the main thread. It derives from ``KeyboardInterrupt``, so every path that already handles
Ctrl+C runs unchanged: the ``ExitStack`` in ``talk`` unwinds, the engine closes and finishes
the reply that was cut, the transcript gets that turn, the ``--output`` WAV is finalised.
Later signals are only recorded, so that clean-up is not cut short itself (``kill -9`` is
still there for an impatient supervisor). The exit code is 128 + the signal number (143 for
SIGTERM, 129 for SIGHUP), as shells report a process killed by it. A SIGHUP that was
ignored when omnichat started (``nohup``) stays ignored; a handled one also points the
standard streams that were the (now gone) terminal at /dev/null.
"""

from __future__ import annotations

import os
import signal
import stat
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
    if signum == signal.SIGHUP:
        detach_terminal()
    if len(_received) == 1:
        raise Terminated(signum)


def detach_terminal() -> None:
    """After a hang-up the terminal is gone and writing to it fails (EIO): point the standard
    streams that were a terminal at /dev/null, so the clean-up cannot fail on a print."""
    try:
        null = os.open(os.devnull, os.O_RDWR)
    except OSError:
        return
    for fd in (0, 1, 2):
        try:  # isatty() is False on a terminal that hung up: any character device will do
            if stat.S_ISCHR(os.fstat(fd).st_mode):
                os.dup2(null, fd)
        except OSError:
            pass
    os.close(null)


def hang_up() -> Terminated:
    """The terminal went away (a write gave EIO before SIGHUP arrived): end as for SIGHUP.

    Returns the exception to raise; the SIGHUP that follows is then only recorded.
    """
    _received.append(signal.SIGHUP)
    detach_terminal()
    return Terminated(signal.SIGHUP)


def received() -> int | None:
    """The first handled signal this process got, if any."""
    return _received[0] if _received else None


def exit_code(default: int) -> int:
    """128 + the first signal received, or ``default`` when none was."""
    first = received()
    return 128 + first if first is not None else default
