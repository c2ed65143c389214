"""``omnichat serve``: run the emulator in the foreground until Ctrl+C.

Shutdown is bounded: every socket write has a deadline (``--send-timeout``), so a client that
never reads delays the exit by at most that plus the closing-handshake timeout.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omnichat.emulator.options import SEND_TIMEOUT_S, TranscriptionMode
from omnichat.emulator.server import Emulator, read_reply_script
from omnichat.errors import UsageError

# Statuses the service documents or was seen sending in response.done (docs/protocol.md §4.7).
RESPONSE_STATUSES = ("cancelled", "incomplete", "completed", "failed")


def parse_speed(text: str) -> str | float:
    if text in ("realtime", "fast"):
        return text
    try:
        factor = float(text)
    except ValueError:
        factor = 0.0
    if not math.isfinite(factor) or factor <= 0:
        raise UsageError(f"--speed must be 'realtime', 'fast' or a positive factor such as 2, "
                         f"not {text!r}")
    return factor


def check_seconds(flag: str, value: float) -> float:
    """A duration flag must be a positive, finite number of seconds."""
    if not math.isfinite(value) or value <= 0:
        raise UsageError(f"{flag} must be a positive number of seconds, not {value:g}")
    return value


def check_status(status: str | None) -> str | None:
    if status and status not in RESPONSE_STATUSES:
        raise UsageError(f"--cancel-response-done must be one of {', '.join(RESPONSE_STATUSES)}, "
                         f"not {status!r}")
    return status or None


def check_transcription(text: str) -> TranscriptionMode:
    try:
        return TranscriptionMode.parse(text)
    except ValueError as exc:
        raise UsageError(f"--transcription: {exc}") from None


def serve(*, host: str, port: int, api_key: str | None, speed: str, reply_script: str | None,
          trace: str | None, allow_remote: bool, faults: Sequence[str] = (),
          cancel_response_done: str | None = None, idle_timeout_s: float = 300.0,
          max_session_s: float = 7200.0, transcription: str = "prompt",
          send_timeout_s: float = SEND_TIMEOUT_S, heard_script: str | None = None) -> None:
    heard = read_heard_script(heard_script) if heard_script else None
    emulator = Emulator(host=host, port=port, api_key=api_key, speed=parse_speed(speed),
                        reply_script=reply_script, trace=trace, allow_remote=allow_remote,
                        transcripts=heard,
                        cancel_response_done=check_status(cancel_response_done),
                        idle_timeout_s=check_seconds("--idle-timeout", idle_timeout_s),
                        max_session_s=check_seconds("--max-session", max_session_s),
                        transcription=check_transcription(transcription),
                        send_timeout_s=check_seconds("--send-timeout", send_timeout_s))
    for spec in faults:
        emulator.faults.apply_spec(spec)
    try:  # from here on, Ctrl+C at any moment still closes every server thread
        try:
            emulator.start()
        except OSError as exc:
            raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
        print(f"omnichat emulator listening on {emulator.url}?model=MODEL "
              f"({'key required' if api_key else 'no key'}; Ctrl+C stops)", file=sys.stderr,
              flush=True)
        emulator.serve_forever()
    finally:
        emulator.close()


def read_heard_script(path: str | Path) -> list[str]:
    """What each spoken turn said, one non-empty line per turn (``--heard-script``)."""
    return read_reply_script(path, what="heard script")


def local_emulator_options(local: bool, reply_script: Path | None,
                           heard_script: Path | None) -> dict[str, Any] | None:
    """The ``Emulator`` options of ``talk --local --local-reply-script ...``; the scripts are
    read now, so a bad file is one line before anything starts."""
    given = [name for name, path in (("--local-reply-script", reply_script),
                                     ("--local-heard-script", heard_script)) if path]
    if given and not local:
        raise UsageError(f"{given[0]} sets up the local emulator; add --local")
    options: dict[str, Any] = {}
    if reply_script is not None:
        options["replies"] = read_reply_script(reply_script)
    if heard_script is not None:
        options["transcripts"] = read_heard_script(heard_script)
    return options or None
