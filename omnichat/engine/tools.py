"""The function calls of the conversation's responses, as pure bookkeeping.

A response may ask for several calls at once (the real capture has two in parallel). Their
results go back as ``function_call_output`` items, and exactly one ``response.create``
follows once every call of that response is answered and the response itself is done.
When the user moves on (speaks, types, interrupts) the calls nobody waits for are dropped:
their results are not sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class _Round:
    pending: set[str] = field(default_factory=set)
    response_done: bool = False


class ToolCalls:
    """Open calls per response; answers say what to send."""

    def __init__(self) -> None:
        self._rounds: dict[str, _Round] = {}  # response id -> its open calls
        self._owner: dict[str, str] = {}  # call id -> response id

    @property
    def waiting(self) -> bool:
        """A call is still running (its result is wanted): the conversation is not idle."""
        return bool(self._owner)

    def called(self, response_id: str, call_id: str) -> None:
        self._rounds.setdefault(response_id, _Round()).pending.add(call_id)
        self._owner[call_id] = response_id

    def answered(self, call_id: str) -> tuple[bool, bool]:
        """(send the output, then ask for the next response)."""
        response_id = self._owner.pop(call_id, None)
        round_ = self._rounds.get(response_id or "")
        if response_id is None or round_ is None:
            return False, False  # dropped, or never asked for
        round_.pending.discard(call_id)
        return True, self._complete(response_id)

    def response_done(self, response_id: str) -> bool:
        """The response ended; True: its calls are all answered, ask for the next one."""
        round_ = self._rounds.get(response_id)
        if round_ is None:
            return False
        round_.response_done = True
        return self._complete(response_id)

    def _complete(self, response_id: str) -> bool:
        round_ = self._rounds[response_id]
        if round_.response_done and not round_.pending:
            del self._rounds[response_id]
            return True
        return False

    def drop_all(self) -> tuple[str, ...]:
        """Forget every open call; the ids of those still waiting for a result."""
        dropped = tuple(self._owner)
        self._rounds.clear()
        self._owner.clear()
        return dropped
