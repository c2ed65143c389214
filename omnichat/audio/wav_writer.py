"""Writing a 16-bit PCM WAV that is valid at every moment, without replacing what is not ours.

A regular file is written to a private temp file beside the target (0600, like every file
holding the user's audio) and renamed into place on ``close()``; its header is patched after
every write, so even the temp file left by ``kill -9`` is a playable WAV. A path that names
a FIFO or a device (``/dev/null``) is written in place as a streamed WAV (placeholder sizes,
as ``sox -t wav -`` writes), never renamed over: as root, a rename would replace the device.
A FIFO nobody reads, or a socket, is refused in one line rather than waited on.
"""

from __future__ import annotations

import errno
import os
import stat
import struct
import tempfile
from pathlib import Path

import numpy as np

from omnichat.errors import OmnichatError, UsageError
from omnichat.private_file import make_private_dirs, special_file

_HEADER_BYTES = 44
_STREAMED_SIZE = 0xFFFFFFFF  # "unknown": what streaming writers put in both size fields
_MAX_DATA_BYTES = 0xFFFFFFFF - 36  # the RIFF size field is 32 bits


def wav_header(rate_hz: int, channels: int, data_bytes: int) -> bytes:
    """The 44-byte header of a 16-bit PCM WAV holding ``data_bytes`` of samples."""
    riff = _STREAMED_SIZE if data_bytes == _STREAMED_SIZE else 36 + data_bytes
    return struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", riff, b"WAVE", b"fmt ", 16, 1, channels,
                       rate_hz, rate_hz * channels * 2, channels * 2, 16, b"data", data_bytes)


class WavWriter:
    """A 16-bit WAV at ``path``: atomic for regular files, streamed into FIFOs and devices.

    ``abort()`` (or an exception inside ``with``) removes the temp file and leaves any
    previous ``path`` untouched. A failed write raises ``OmnichatError`` (one line).
    """

    def __init__(self, path: Path, rate_hz: int, channels: int = 1):
        self.path = Path(path)
        self.rate_hz = rate_hz
        self.channels = channels
        self.frames_written = 0
        self._data_bytes = 0
        self._tmp: Path | None = None
        self._fd = -1
        try:  # a bad path is the user's to fix, before any audio is produced
            self._fd = self._open()
            self._seekable = self._tmp is not None
            self._put(wav_header(rate_hz, channels, 0 if self._seekable else _STREAMED_SIZE))
        except OSError as exc:
            self._open_now = True
            self.abort()
            raise self._error(exc, "choose another path") from exc
        self._open_now = True

    def _error(self, exc: OSError, fix: str) -> UsageError:
        return UsageError(f"cannot write WAV '{self.path}': {exc.strerror or exc}; {fix}")

    def _open(self) -> int:
        kind = special_file(self.path)
        if kind == "a FIFO" or kind == "a device":
            return self._open_in_place()
        if kind is not None:
            raise OSError(errno.EINVAL, f"it is {kind}")
        if self.path.is_dir():
            raise IsADirectoryError(errno.EISDIR, "is a directory")
        if self.path.parent.exists() and not self.path.parent.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "Not a directory")
        make_private_dirs(self.path.parent)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.",
                                   suffix=".part")  # 0600: the audio is the user's own
        self._tmp = Path(tmp)
        return fd

    def _open_in_place(self) -> int:
        """A FIFO or a device, opened without waiting (no reader: ENXIO, one line)."""
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            if exc.errno == errno.ENXIO:
                raise OSError(errno.ENXIO, "it is a FIFO nobody is reading") from exc
            raise
        if not stat.S_ISFIFO(os.fstat(fd).st_mode) and not stat.S_ISCHR(os.fstat(fd).st_mode):
            os.close(fd)
            raise OSError(errno.EINVAL, "it is not a FIFO or a character device")
        os.set_blocking(fd, True)  # the reader sets the pace from now on
        return fd

    def _put(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]

    def write(self, samples: np.ndarray | bytes) -> None:
        if isinstance(samples, (bytes, bytearray, memoryview)):
            data = bytes(samples)
        else:
            data = np.ascontiguousarray(samples, dtype="<i2").tobytes()
        if not self._open_now or not data:
            return
        if self._data_bytes + len(data) > _MAX_DATA_BYTES:
            raise OmnichatError(f"cannot write WAV '{self.path}': it reached the 4 GB limit "
                                "of the WAV format")
        try:
            self._put(data)
            self._data_bytes += len(data)
            if self._seekable:  # the file is a valid WAV after every write
                os.pwrite(self._fd, wav_header(self.rate_hz, self.channels, self._data_bytes), 0)
        except OSError as exc:  # a full disk, /dev/full, a reader that went away
            raise OmnichatError(f"cannot write WAV '{self.path}': {exc.strerror or exc}") from exc
        self.frames_written += len(data) // (2 * self.channels)

    def close(self) -> None:
        """Finish the file: rename the temp file into place (never over a FIFO or device)."""
        if not self._open_now:
            return
        self._open_now = False
        os.close(self._fd)
        if self._tmp is None:
            return
        kind = special_file(self.path)
        if kind is not None:  # something special appeared at the path meanwhile
            self._tmp.unlink(missing_ok=True)
            raise UsageError(f"cannot write WAV '{self.path}': it is now {kind}; "
                             "choose another path")
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        if not self._open_now:
            return
        self._open_now = False
        try:
            if self._fd >= 0:
                os.close(self._fd)
        finally:
            if self._tmp is not None:
                self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> WavWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
