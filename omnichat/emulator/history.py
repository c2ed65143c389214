"""``History``: what the emulated model has 'read' so far, in constant memory.

Usage counts grow with the conversation (the real service bills the whole context each turn,
docs/protocol.md §4.7), so the emulator keeps running totals, not the items: text characters,
seconds of user audio and image tokens. Only the user items not yet answered (the current turn)
and the last ``RECENT_ITEMS`` items are kept (the latter for features such as function calls
that need to look back). Guarded by the connection's state lock.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from omnichat.catalog import Model, image_tokens
from omnichat.emulator.usage import (
    CALL_ITEM_TOKENS,
    CALL_OUTPUT_TOKENS,
    TEMPLATE_TOKENS,
    Context,
    text_tokens,
    tools_tokens,
)

RECENT_ITEMS = 64
_WRAPPER_TOKENS = {"call": CALL_ITEM_TOKENS, "tool": CALL_OUTPUT_TOKENS}
# "call": a function_call the model made; "tool": a function_call_output the client sent.
Role = Literal["user", "assistant", "tool", "call"]


@dataclass
class Item:
    id: str
    role: Role
    text: str = ""
    audio_s: float = 0.0
    images: list[tuple[int, int]] = field(default_factory=list)
    transcript: str = ""  # of an audio item: read for the function-call rule, not billed
    channels: int = 1  # a microphone array's 2 or 4 channels are billed twice (qwen3.8)


class History:
    def __init__(self, model: Model) -> None:
        self._model = model
        self.recent: deque[Item] = deque(maxlen=RECENT_ITEMS)
        self._turn: list[Item] = []  # user items since the last response started
        self._totals = Context()

    def add(self, item: Item) -> None:
        self.recent.append(item)
        if item.role in ("user", "tool"):
            self._turn.append(item)
        self._totals.text_tokens += text_tokens(item.text) + _WRAPPER_TOKENS.get(item.role, 0)
        if item.channels > 1:  # billed twice (docs/qwen38.md): counted apart from mono
            self._totals.array_audio_s += item.audio_s
        else:
            self._totals.audio_s += item.audio_s
        self._totals.video_tokens += sum(image_tokens(self._model, w, h)
                                         for w, h in item.images)

    def context(self, instructions: str, tools: list[Any] | None = None) -> Context:
        """What the next response reads: the template, instructions, tool schemas and
        everything so far."""
        totals = self._totals
        return Context(text_tokens=(TEMPLATE_TOKENS + text_tokens(instructions)
                                    + tools_tokens(tools or []) + totals.text_tokens),
                       audio_s=totals.audio_s, video_tokens=totals.video_tokens,
                       array_audio_s=totals.array_audio_s)

    def take_turn(self) -> list[Item]:
        """The user items the next response answers (they count as answered from now)."""
        turn, self._turn = self._turn, []
        return turn
