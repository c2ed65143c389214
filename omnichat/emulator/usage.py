"""``usage`` of ``response.done``, computed with the vendor guide's token rules per model.

Input is the whole conversation the response was generated from (the real service's input
counts grew turn by turn, protocol.md §4.7): user audio at 7/12.5/25 tokens per second
(``catalog.audio_tokens``), images by 32×32 or 28×28 patches (4..1280 tokens each, reported
as ``video_tokens`` as the service does), and text at one token per 4 characters (an
estimate: the emulator has no tokenizer). Output is the reply text the same way plus the
reply audio's duration at the model's audio rate. Zero-valued detail keys are omitted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from omnichat.catalog import Model, audio_tokens

CHARS_PER_TEXT_TOKEN = 4


def text_tokens(text: str) -> int:
    return chars_to_tokens(len(text))


def chars_to_tokens(chars: int) -> int:
    return math.ceil(chars / CHARS_PER_TEXT_TOKEN) if chars else 0


@dataclass
class Context:
    """What the model 'read' for one response."""

    text_chars: int = 0
    audio_s: float = 0.0
    video_tokens: int = 0  # images, already counted with the model's patch rule


def _details(**counts: int) -> dict[str, int]:
    return {name: value for name, value in counts.items() if value}


def usage(model: Model, context: Context, *, output_text: str, output_audio_s: float,
          searched: bool) -> dict[str, Any]:
    inputs = _details(text_tokens=chars_to_tokens(context.text_chars),
                      audio_tokens=audio_tokens(model, context.audio_s),
                      video_tokens=context.video_tokens)
    outputs = _details(text_tokens=text_tokens(output_text),
                       audio_tokens=audio_tokens(model, output_audio_s))
    total_in, total_out = sum(inputs.values()), sum(outputs.values())
    result: dict[str, Any] = {"total_tokens": total_in + total_out, "input_tokens": total_in,
                              "output_tokens": total_out, "input_tokens_details": inputs,
                              "output_tokens_details": outputs}
    if searched:
        result["plugins"] = {"search": {"count": 1, "strategy": "agent"}}
    return result
