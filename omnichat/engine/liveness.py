"""When to ask the transport whether the link is alive: probing on suspicion. Pure: no
threads, sockets or clock reads.

A dead link (Wi-Fi, VPN, a sleeping laptop) keeps its socket open: nothing arrives and
writes vanish into the kernel buffer. A live service answers a WebSocket ping at once, even
while its model is busy (a web search, a long tool call), so a probe tells a dead link from a
slow service (docs/reliability.md):

* **A reply is streaming or due** (deltas normally come every 100-200 ms; or the user
  stopped speaking / committed and no answer came yet): once the server has been silent for
  ``urgent_after_s``, probe every ``urgent_every_s`` with a ``urgent_timeout_s`` deadline, so
  a dead link is found about 3 s after the last frame.
* **Idle**: probe every ``idle_every_s`` with a ``idle_timeout_s`` deadline: a dead link is
  found within 10 s, in every mode, with or without reconnection.

``LinkWatch.due`` answers "probe now, with this deadline?" for each tick.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProbeTiming:
    """Seconds; the defaults give the detection times promised in docs/reliability.md."""

    urgent_after_s: float = 0.5
    urgent_every_s: float = 0.8
    urgent_timeout_s: float = 2.0
    idle_every_s: float = 4.0
    idle_timeout_s: float = 5.0


class LinkWatch:
    """Decides when the next probe is due for one connection; ``reset`` for a new one."""

    def __init__(self, timing: ProbeTiming | None = None):
        self.timing = timing or ProbeTiming()
        self._probed_at: float | None = None

    def reset(self) -> None:
        self._probed_at = None

    def due(self, now: float, last_frame_at: float, urgent: bool) -> float | None:
        """The probe's deadline (seconds) when one is due now, else None."""
        t = self.timing
        probed_at = self._probed_at
        since_probe = float("inf")  # a frame since the last probe answered it
        if probed_at is not None and last_frame_at <= probed_at:
            since_probe = now - probed_at
        silent_s = now - last_frame_at
        if urgent:
            due = silent_s >= t.urgent_after_s and since_probe >= t.urgent_every_s
            timeout = t.urgent_timeout_s
        else:
            due = min(silent_s, since_probe) >= t.idle_every_s
            timeout = t.idle_timeout_s
        if not due:
            return None
        self._probed_at = now
        return timeout
