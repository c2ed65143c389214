"""Fault injection: misbehaviours of the service that the client must survive.

Every fault fires once. A fault armed while a connection is open applies to the newest open
connection (counting from the moment it was armed); armed with no connection open, it applies to
the next connection that opens (counting from its first event). ``refuse_handshake`` applies to
the next ``times`` upgrade requests.

The same faults are available on the command line as ``--fault SPEC`` (repeatable):
``close-after=N[:CODE]``, ``close-mid-response[=CODE]``, ``stall=SECONDS[@AFTER_EVENTS]``,
``malformed``, ``unknown-event``, ``error=MESSAGE``, ``refuse=STATUS[xTIMES]``.
"""

from __future__ import annotations

import enum
import http
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from omnichat.errors import UsageError


class FaultKind(str, enum.Enum):
    """What a fault does (a ``str`` so specs and tests can compare it with its name)."""

    CLOSE_AFTER = "close_after"
    CLOSE_MID_RESPONSE = "close_mid_response"
    STALL = "stall"
    MALFORMED = "malformed"
    UNKNOWN_EVENT = "unknown_event"
    ERROR = "error"

    @property
    def instant(self) -> bool:
        """Sent as soon as the fault reaches a connection (the others wait for a frame)."""
        return self in (FaultKind.MALFORMED, FaultKind.UNKNOWN_EVENT, FaultKind.ERROR)


@dataclass
class Fault:
    kind: FaultKind
    args: dict[str, Any] = field(default_factory=dict)
    base: int = 0  # the connection's written-frame count when the fault was bound to it


DELTA_TYPES = frozenset({"response.audio.delta", "response.text.delta"})


class FaultPlan:
    """The faults bound to one connection, consulted by its writer thread around each frame.

    ``bind`` may be called from any thread; the lock guards the list and is never held while
    the writer stalls or writes.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()  # guards _armed
        self._armed: list[Fault] = []

    def bind(self, fault: Fault, written: int) -> None:
        fault.base = written
        with self._lock:
            self._armed.append(fault)

    def _take(self, kind: FaultKind, written: int) -> Fault | None:
        with self._lock:
            for fault in self._armed:
                if fault.kind is kind and written - fault.base >= fault.args.get("n", 0):
                    self._armed.remove(fault)
                    return fault
        return None

    def stall_before(self, written: int) -> float:
        """Seconds to send nothing before the next frame (0 for none)."""
        fault = self._take(FaultKind.STALL, written)
        return float(fault.args["seconds"]) if fault else 0.0

    def close_after(self, written: int, type_name: str) -> tuple[int, str] | None:
        """(code, reason) if the connection must close now that ``written`` frames went out."""
        fault = self._take(FaultKind.CLOSE_AFTER, written)
        if fault is None and type_name in DELTA_TYPES:
            fault = self._take(FaultKind.CLOSE_MID_RESPONSE, written)
        return (fault.args["code"], fault.args["reason"]) if fault else None


class Faults:
    """The fault API of an ``Emulator`` (``emu.faults``); safe to call from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # guards _pending and _refusals
        self._pending: list[Fault] = []
        self._refusals: list[int] = []
        # Set by the Emulator: hand a fault to the newest open connection; False if none is open.
        self._deliver: Callable[[Fault], bool] = lambda fault: False

    # --- the test/CLI API -------------------------------------------------------------------

    def close_after_events(self, n: int, code: int = 1011, reason: str = "") -> None:
        """Close the socket with ``code`` once ``n`` more server events have been sent."""
        self._arm(Fault(FaultKind.CLOSE_AFTER, {"n": int(n), "code": int(code), "reason": reason}))

    def close_mid_response(self, code: int = 1011, reason: str = "") -> None:
        """Close with ``code`` right after the first audio (or text) delta of a response."""
        self._arm(Fault(FaultKind.CLOSE_MID_RESPONSE, {"code": int(code), "reason": reason}))

    def stall(self, seconds: float, after_events: int = 0) -> None:
        """Send nothing for ``seconds`` (wall clock) after ``after_events`` more events."""
        self._arm(Fault(FaultKind.STALL, {"seconds": float(seconds), "n": int(after_events)}))

    def send_malformed(self) -> None:
        """Send one text frame that is not JSON."""
        self._arm(Fault(FaultKind.MALFORMED))

    def send_unknown_event(self, type_name: str = "response.emulator_future_event") -> None:
        """Send one well-formed event of a type no client knows."""
        self._arm(Fault(FaultKind.UNKNOWN_EVENT, {"type": type_name}))

    def send_error(self, message: str = "Internal service error: null", *,
                   type: str = "server_error", code: str = "internal_error",
                   param: str = "") -> None:
        """Send one ``error`` event (the connection stays open)."""
        self._arm(Fault(FaultKind.ERROR, {"message": message, "type": type, "code": code,
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
        """Faults armed while no connection was open; the next connection takes them all."""
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
        elif name == "malformed" and not value:
            self.send_malformed()
        elif name == "unknown-event" and not value:
            self.send_unknown_event()
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
