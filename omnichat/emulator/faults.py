"""Fault injection: misbehaviours of the service that the client must survive.

Every fault fires once. A fault armed while a session is open applies to the newest open
session (counting from the moment it was armed); armed with no session open, it applies to
the next session that opens (counting from its first event). ``refuse_handshake`` applies to
the next ``times`` upgrade requests.

The same faults are available on the command line as ``--fault SPEC`` (repeatable):
``close-after=N[:CODE]``, ``close-mid-response[=CODE]``, ``stall=SECONDS[@AFTER_EVENTS]``,
``malformed``, ``unknown-event``, ``error=MESSAGE``, ``refuse=STATUS[xTIMES]``.
"""

from __future__ import annotations

import http
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from omnichat.errors import UsageError


@dataclass
class Fault:
    kind: str  # close_after | close_mid_response | stall | malformed | unknown_event | error
    args: dict[str, Any] = field(default_factory=dict)
    base: int = 0  # the session's sent-event count when the fault was bound to it


class Faults:
    """The fault API of an ``Emulator`` (``emu.faults``); safe to call from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # guards _pending and _refusals
        self._pending: list[Fault] = []
        self._refusals: list[int] = []
        # Set by the Emulator: hand a fault to the newest open session; False if none is open.
        self._deliver: Callable[[Fault], bool] = lambda fault: False

    # --- the test/CLI API -------------------------------------------------------------------

    def close_after_events(self, n: int, code: int = 1011, reason: str = "") -> None:
        """Close the socket with ``code`` once ``n`` more server events have been sent."""
        self._arm(Fault("close_after", {"n": int(n), "code": int(code), "reason": reason}))

    def close_mid_response(self, code: int = 1011, reason: str = "") -> None:
        """Close with ``code`` right after the first audio (or text) delta of a response."""
        self._arm(Fault("close_mid_response", {"code": int(code), "reason": reason}))

    def stall(self, seconds: float, after_events: int = 0) -> None:
        """Send nothing for ``seconds`` (wall clock) after ``after_events`` more events."""
        self._arm(Fault("stall", {"seconds": float(seconds), "n": int(after_events)}))

    def send_malformed(self) -> None:
        """Send one text frame that is not JSON."""
        self._arm(Fault("malformed"))

    def send_unknown_event(self, type_name: str = "response.emulator_future_event") -> None:
        """Send one well-formed event of a type no client knows."""
        self._arm(Fault("unknown_event", {"type": type_name}))

    def send_error(self, message: str = "Internal service error: null", *,
                   type: str = "server_error", code: str = "internal_error",
                   param: str = "") -> None:
        """Send one ``error`` event (the session stays open)."""
        self._arm(Fault("error", {"message": message, "type": type, "code": code,
                                  "param": param}))

    def refuse_handshake(self, status: int = 503, times: int = 1) -> None:
        """Answer the next ``times`` upgrade requests with HTTP ``status``."""
        with self._lock:
            self._refusals.extend([int(status)] * int(times))

    # --- the emulator's side ----------------------------------------------------------------

    def take_refusal(self) -> int | None:
        with self._lock:
            return self._refusals.pop(0) if self._refusals else None

    def take_pending(self) -> list[Fault]:
        """Faults armed while no session was open; the next session takes them all."""
        with self._lock:
            pending, self._pending = self._pending, []
            return pending

    def _arm(self, fault: Fault) -> None:
        if not self._deliver(fault):
            with self._lock:
                self._pending.append(fault)

    def apply_spec(self, spec: str) -> None:
        """Arm a fault from its command-line form (see the module docstring)."""
        name, _, value = spec.partition("=")
        try:
            self._apply(name.strip(), value.strip())
        except (ValueError, IndexError):
            raise UsageError(f"bad --fault value {spec!r}; use one of {SPEC_FORMS}") from None

    def _apply(self, name: str, value: str) -> None:
        if name == "close-after":
            count, _, code = value.partition(":")
            self.close_after_events(_count(count), _close_code(code))
        elif name == "close-mid-response":
            self.close_mid_response(_close_code(value))
        elif name == "stall":
            seconds, _, after = value.partition("@")
            if not math.isfinite(float(seconds)) or float(seconds) <= 0:
                raise ValueError(seconds)
            self.stall(float(seconds), _count(after or "0"))
        elif name in ("malformed", "unknown-event") and not value:
            self.send_malformed() if name == "malformed" else self.send_unknown_event()
        elif name == "error" and value:
            self.send_error(value)
        elif name == "refuse":
            status, _, times = value.partition("x")
            if int(status) < 400 or int(times or 1) < 1:
                raise ValueError(value)
            self.refuse_handshake(http.HTTPStatus(int(status)), int(times or 1))
        else:
            raise ValueError(name)


SPEC_FORMS = ("close-after=N[:CODE], close-mid-response[=CODE], stall=SECONDS[@AFTER_EVENTS], "
              "malformed, unknown-event, error=MESSAGE, refuse=STATUS[xTIMES] "
              "(CODE 1000-4999, STATUS an HTTP error status)")


def _count(text: str) -> int:
    count = int(text)
    if count < 0:
        raise ValueError(text)
    return count


def _close_code(text: str) -> int:
    """A WebSocket close code a server may send (1000-4999; default 1011)."""
    code = int(text or 1011)
    if not 1000 <= code <= 4999 or code in (1004, 1005, 1006, 1015):
        raise ValueError(text)
    return code
