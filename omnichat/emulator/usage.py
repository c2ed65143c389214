"""``usage`` of ``response.done``, computed with the vendor guide's token rules per model.

Input is the whole conversation the response was generated from (the real service's input
counts grew turn by turn, docs/protocol.md §4.7): user audio at 7/12.5/25 tokens per second
(``catalog.audio_tokens``), images by 32×32 or 28×28 patches (4..1280 tokens each, reported
as ``video_tokens`` as the service does), and text estimated without a tokenizer: one token
per CJK character, one per 4 other characters. Input text also carries what the service adds
to every request: a chat-template baseline (``TEMPLATE_TOKENS``, so audio-only turns report
text tokens too, as the real service does), and with ``tools`` declared a function-calling
preamble plus the schemas themselves, on every turn. Function-call items and their outputs
carry their wrappers. Calibrated on the real capture with two tools (341/380/444 input text
tokens; the emulator, with its own reply texts, gives 341/375/437). Output is the reply
text the same way plus the reply audio's duration at the model's audio rate. Zero-valued
detail keys are omitted.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from omnichat.catalog import Model, audio_tokens

CHARS_PER_TEXT_TOKEN = 4
CJK_FIRST = 0x2E80  # from here on (CJK, kana, hangul, full-width forms) one token per char
TEMPLATE_TOKENS = 40  # system prompt and chat template of every request
TOOLS_PREAMBLE_TOKENS = 151  # the function-calling instructions, when tools are declared
CALL_ITEM_TOKENS = 10  # the wrapper around a function_call item in the context
CALL_OUTPUT_TOKENS = 8  # the wrapper around a function_call_output item
CALL_GENERATED_TOKENS = 4  # per call, generated on top of its JSON


def text_tokens(text: str) -> int:
    """An estimate of the tokens of ``text`` (the emulator has no tokenizer)."""
    cjk = sum(1 for char in text if ord(char) >= CJK_FIRST)
    return cjk + math.ceil((len(text) - cjk) / CHARS_PER_TEXT_TOKEN)


def call_json(name: str, arguments: str) -> str:
    """A function call as the model writes it."""
    return json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)


def tools_tokens(tools: list[Any]) -> int:
    """What declaring ``tools`` adds to every request."""
    if not tools:
        return 0
    return TOOLS_PREAMBLE_TOKENS + text_tokens(json.dumps(tools, ensure_ascii=False))


@dataclass
class Context:
    """What the model 'read' for one response."""

    text_tokens: int = 0
    audio_s: float = 0.0
    video_tokens: int = 0  # images, already counted with the model's patch rule
    array_audio_s: float = 0.0  # 2- or 4-channel audio (qwen3.8): twice the tokens of mono


def _details(**counts: int) -> dict[str, int]:
    return {name: value for name, value in counts.items() if value}


def usage(model: Model, context: Context, *, output_text: str, output_audio_s: float,
          searched: bool, output_text_tokens: int | None = None) -> dict[str, Any]:
    """``output_text_tokens`` overrides the estimate from ``output_text`` (function calls)."""
    if output_text_tokens is None:
        output_text_tokens = text_tokens(output_text)
    inputs = _details(text_tokens=context.text_tokens,
                      audio_tokens=audio_tokens(model, context.audio_s)
                      + 2 * audio_tokens(model, context.array_audio_s),
                      video_tokens=context.video_tokens)
    outputs = _details(text_tokens=output_text_tokens,
                       audio_tokens=audio_tokens(model, output_audio_s))
    total_in, total_out = sum(inputs.values()), sum(outputs.values())
    result: dict[str, Any] = {"total_tokens": total_in + total_out, "input_tokens": total_in,
                              "output_tokens": total_out, "input_tokens_details": inputs,
                              "output_tokens_details": outputs}
    if searched:
        result["plugins"] = {"search": {"count": 1, "strategy": "agent"}}
    return result
