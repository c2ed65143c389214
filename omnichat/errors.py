"""The one exception tree of omnichat and the exit codes it maps to.

``str(error)`` is the single sentence a user reads; the CLI translates every
``OmnichatError`` into that sentence and its ``exit_code`` in one place. Boundary modules
(config, audio, transport) raise these ``from`` the library error they caught.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0
    FAILURE = 1
    USAGE = 2  # bad flags, bad config, unknown model or voice
    AUDIO = 3
    CONNECT = 4
    AUTH = 5
    CONNECTION_LOST = 6
    PROTOCOL = 7
    INTERRUPTED = 130  # Ctrl+C


class OmnichatError(Exception):
    """Root of every error omnichat expects; its text is the user-facing sentence.

    ``retryable`` says whether trying the same thing again may succeed (a dropped or timed
    out connection, a 5xx) or cannot (a refused key, a redirect, a TLS failure, bad input);
    a reconnect policy retries only the former.
    """

    exit_code: ExitCode = ExitCode.FAILURE
    retryable: bool = False


class UsageError(OmnichatError):
    """A flag or argument the user gave cannot be used (unknown model, bad file...)."""

    exit_code = ExitCode.USAGE


class ConfigError(UsageError):
    """The configuration is invalid; the message names the file, the key and the fix."""


class AudioDeviceError(OmnichatError):
    """PortAudio is missing, no device exists, or a device refused the stream."""

    exit_code = ExitCode.AUDIO


class ConnectFailed(OmnichatError):
    """The WebSocket could not be opened (DNS, refused, TLS, handshake status)."""

    exit_code = ExitCode.CONNECT

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class AuthFailed(ConnectFailed):
    """The service refused the API key (HTTP 401/403 on the upgrade); never retryable."""

    exit_code = ExitCode.AUTH

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


class ConnectionLost(OmnichatError):
    """An open connection dropped and could not be restored (retryable unless said so)."""

    exit_code = ExitCode.CONNECTION_LOST

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class ProtocolError(OmnichatError):
    """A frame that cannot be decoded: not JSON, not an object, or without a ``type``."""

    exit_code = ExitCode.PROTOCOL


class NoReply(OmnichatError):
    """An ``--input`` session ended without a single completed reply to what it sent."""

    exit_code = ExitCode.FAILURE


class ServiceError(OmnichatError):
    """The service answered with an ``error`` event that ends what the user asked for."""

    exit_code = ExitCode.FAILURE


class VoiceNotSupported(ServiceError):
    """The service refused the voice when it first spoke (``session.updated`` had accepted it:
    the service checks voices only at generation). Retrying cannot help."""

    exit_code = ExitCode.USAGE

    def __init__(self, voice: str, model: str) -> None:
        where = f" -m {model}" if model else ""
        super().__init__(f"the service does not support voice '{voice}'"
                         f"{' for ' + model if model else ''}; pick one from "
                         f"`omnichat voices{where}` and set it with --voice")
        self.voice = voice
