"""Keep the C libraries' stderr off the live view while it draws.

ALSA, PulseAudio and PortAudio write diagnostics ("ALSA lib pcm.c: underrun occurred")
straight to file descriptor 2. On a terminal those bytes land in the middle of the live
region, and the view's cursor arithmetic no longer matches the screen, so old frames pile
up. While the live view runs, fd 2 goes to a private temporary file instead; when it ends,
fd 2 is restored and what was written is summarised in one line (count and the last
message, cleaned), so nothing is hidden. Python's own error line and tracebacks come after
the restore, on the real stderr.

ALSA's "underrun occurred" (its recovery from a stream that ran empty) is left out of that
line: the speaker lets the device run empty after every reply on purpose
(docs/audio.md), so the line came at the end of every session, and the underflows that can
be heard (during a reply) are counted by the speaker itself and reported by the session.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile
from collections.abc import Iterator

from omnichat.sanitize import clean_text, excerpt
from omnichat.terminal import signals

KEEP_BYTES = 16 * 1024  # only the tail is read back: a chatty library cannot fill memory
RECOVERY = "underrun occurred"  # ALSA: snd_pcm_recover after the stream ran empty


class StderrCapture:
    """What the libraries wrote while fd 2 was redirected: ``lines`` after the block ends."""

    def __init__(self) -> None:
        self.lines: list[str] = []  # what the libraries said, ALSA's recoveries left out

    def summary(self) -> str | None:
        if not self.lines:
            return None
        last = excerpt(clean_text(self.lines[-1], keep_newlines=False), 200)
        count = len(self.lines)
        return (f"the audio system reported {count} message{'s' if count != 1 else ''} "
                f"during the session; the last: {last}")


@contextlib.contextmanager
def capture_stderr(enabled: bool = True,
                   into: StderrCapture | None = None) -> Iterator[StderrCapture]:
    """Redirect fd 2 to a temporary file inside the block (when ``enabled``); the lines go
    to ``into`` (or a new ``StderrCapture``) when the block ends."""
    capture = into if into is not None else StderrCapture()
    if not enabled:
        yield capture
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield capture
        finally:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            if signals.received() == signal.SIGHUP:  # the terminal is gone: not back onto it
                signals.detach_terminal()
            size = sink.seek(0, os.SEEK_END)
            sink.seek(max(0, size - KEEP_BYTES))
            text = sink.read().decode("utf-8", "replace")
            capture.lines = [line for line in text.splitlines()
                             if line.strip() and RECOVERY not in line]
