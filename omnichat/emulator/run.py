"""``omnichat serve``: run the emulator in the foreground until Ctrl+C."""

from __future__ import annotations

import sys
from typing import Sequence

from omnichat.emulator.server import Emulator
from omnichat.errors import UsageError


def parse_speed(text: str) -> str | float:
    if text in ("realtime", "fast"):
        return text
    try:
        factor = float(text)
    except ValueError:
        factor = 0.0
    if factor <= 0:
        raise UsageError(f"--speed must be 'realtime', 'fast' or a positive factor, not {text!r}")
    return factor


def serve(*, host: str, port: int, api_key: str | None, speed: str, reply_script: str | None,
          trace: str | None, allow_remote: bool, faults: Sequence[str] = (),
          cancel_response_done: str | None = None, idle_timeout_s: float = 300.0,
          max_session_s: float = 7200.0) -> None:
    emulator = Emulator(host=host, port=port, api_key=api_key, speed=parse_speed(speed),
                        reply_script=reply_script, trace=trace, allow_remote=allow_remote,
                        cancel_response_done=cancel_response_done or None,
                        idle_timeout_s=idle_timeout_s, max_session_s=max_session_s)
    for spec in faults:
        emulator.faults.apply_spec(spec)
    try:
        emulator.start()
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    print(f"omnichat emulator listening on {emulator.url}?model=MODEL "
          f"({'key required' if api_key else 'no key'}; Ctrl+C stops)", file=sys.stderr,
          flush=True)
    try:
        emulator.serve_forever()
    finally:
        emulator.close()
