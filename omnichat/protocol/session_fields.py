"""The qwen3.8 session fields (docs/qwen38.md) as pure builders: no settings, no I/O.

The newest client-events reference gives qwen3.8-omni-flash-realtime a nested ``audio``
object (``audio.input.format`` with channels, packing and layout; ``audio.output.voice``,
which wins over ``voice``), ``video.input.representation_compact``, and ``tools`` entries
of ``type: "mcp"`` that the service calls itself. The client's settings and the emulator's
validation both use these shapes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

INPUT_RATE_HZ = 16_000  # multichannel input is documented for 16 kHz pcm only
CHANNELS = (1, 2, 4)
# The layout sent for each channel count: a microphone array gives raw channels; `foa_ambix`
# (first-order ambisonics, 4 channels) is accepted by the emulator but never sent by omnichat.
CHANNEL_LAYOUT = {1: "mono", 2: "raw_mic_array", 4: "raw_mic_array"}
LAYOUTS = {1: ("mono",), 2: ("raw_mic_array",), 4: ("raw_mic_array", "foa_ambix")}
REPRESENTATION_COMPACT = ("none", "normal")
APPROVAL = ("always", "never")


def audio_input_format(channels: int = 1) -> dict[str, Any]:
    """``audio.input.format`` for 16 kHz s16le PCM with ``channels`` interleaved channels."""
    if channels not in CHANNELS:
        raise ValueError(f"channels must be one of {CHANNELS}, got {channels}")
    return {"type": "pcm", "sample_rate": INPUT_RATE_HZ, "sample_format": "s16le",
            "channels": channels, "packing": "interleaved",
            "channel_layout": CHANNEL_LAYOUT[channels]}


def audio_object(voice: str, channels: int = 1) -> dict[str, Any]:
    """The session's ``audio`` object: the input format and the voice of the replies."""
    return {"input": {"format": audio_input_format(channels)}, "output": {"voice": voice}}


def video_object(representation_compact: str) -> dict[str, Any]:
    """The session's ``video`` object (``normal``: about a quarter of the video tokens)."""
    if representation_compact not in REPRESENTATION_COMPACT:
        raise ValueError(f"representation_compact must be one of {REPRESENTATION_COMPACT}")
    return {"input": {"representation_compact": representation_compact}}


def mcp_tool(server_label: str, server_url: str, *, require_approval: str = "always",
             authorization: str | None = None,
             allowed_tools: Sequence[str] | None = None,
             headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A ``tools`` entry for an MCP server the service calls itself."""
    if require_approval not in APPROVAL:
        raise ValueError(f"require_approval must be one of {APPROVAL}")
    tool: dict[str, Any] = {"type": "mcp", "server_label": server_label,
                            "server_url": server_url}
    if authorization:
        tool["authorization"] = authorization
    if headers:
        tool["headers"] = dict(headers)
    if allowed_tools is not None:
        tool["allowed_tools"] = list(allowed_tools)
    tool["require_approval"] = require_approval
    return tool


def redacted_tools(tools: Any) -> Any:
    """``tools`` with every MCP entry's ``authorization`` and ``headers`` values hidden:
    what may be shown, logged or traced."""
    if not isinstance(tools, list):
        return tools
    shown = []
    for tool in tools:
        if isinstance(tool, dict) and tool.get("type") == "mcp":
            tool = dict(tool)
            if "authorization" in tool:
                tool["authorization"] = "***"
            if isinstance(tool.get("headers"), dict):
                tool["headers"] = {name: "***" for name in tool["headers"]}
        shown.append(tool)
    return shown
