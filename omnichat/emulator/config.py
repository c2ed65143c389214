"""The emulated session configuration: defaults, ``session.update`` merging and validation.

Pure functions over plain dicts. ``apply_update`` either returns the merged session or a
``Rejection`` (the ``error`` fields to send); an update with any invalid value changes nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from omnichat.catalog import Model
from omnichat.protocol import limits, session_fields

DEFAULT_TURN_DETECTION = {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
                          "silence_duration_ms": 800, "create_response": True,
                          "interrupt_response": True}
MODALITIES_MESSAGE = ("Invalid modalities: {0}. Supported combinations are: ['text'] and "
                      "['audio', 'text'].")
INPUT_RATES_HZ = (8000, 16000, 24000, 48000)
QWEN38_MAX_TOKENS = 65_536


@dataclass(frozen=True)
class Rejection:
    message: str
    code: str = "invalid_value"
    param: str = ""


def default_session(model: Model, session_id: str) -> dict[str, Any]:
    """The ``session`` object of ``session.created`` (real shape, docs/protocol.md §4.2)."""
    return {
        "object": "realtime.session", "model": model.name, "modalities": ["text", "audio"],
        "voice": model.default_voice, "input_audio_format": "pcm", "output_audio_format": "pcm",
        "input_audio_transcription": {"model": model.transcription_model},
        "turn_detection": dict(DEFAULT_TURN_DETECTION), "id": session_id,
    }


def echo(session: Mapping[str, Any]) -> dict[str, Any]:
    """The ``session`` object of ``session.updated``: ``id, object, model`` first (real order)."""
    head = {"id": session["id"], "object": session["object"], "model": session["model"]}
    body = {k: copy.deepcopy(v) for k, v in session.items() if k not in head}
    if "tools" in body:  # an MCP server's credentials are not echoed (docs/qwen38.md)
        body["tools"] = session_fields.redacted_tools(body["tools"])
    return head | body


def apply_update(current: Mapping[str, Any], update: Mapping[str, Any], model: Model,
                 *, audio_generated: bool) -> dict[str, Any] | Rejection:
    session = copy.deepcopy(dict(current))
    for key, value in update.items():
        if key in ("id", "object", "model"):
            continue
        rejection = _merge_field(session, key, value, model, audio_generated)
        if rejection is not None:
            return rejection
    return session


def check_response(response: Any) -> Rejection | None:
    """The ``response`` object of ``response.create``: validated like ``session.update``'s
    fields (a wrongly typed field is an ``invalid_value`` error, never an internal one)."""
    if response is None:
        return None
    if not isinstance(response, Mapping):
        return Rejection(f"Invalid response: {response!r}; expected an object.",
                         param="response")
    modalities = response.get("modalities")
    if modalities is not None and (not isinstance(modalities, list) or sorted(
            map(str, modalities)) not in (["text"], ["audio", "text"])):
        return Rejection(MODALITIES_MESSAGE.format(modalities), param="response.modalities")
    instructions = response.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        return Rejection("Instructions must be a string.", param="response.instructions")
    return None


def _merge_field(session: dict[str, Any], key: str, value: Any, model: Model,
                 audio_generated: bool) -> Rejection | None:
    if key == "modalities":
        if not isinstance(value, list) or sorted(map(str, value)) not in (["text"],
                                                                          ["audio", "text"]):
            return Rejection(MODALITIES_MESSAGE.format(value), param="session.modalities")
    elif key == "voice":
        if value is None:
            return None  # the SDK sends null for text sessions: keep the current voice
        if not isinstance(value, str) or not value.strip():
            return Rejection("Voice must be a non-empty string.", param="session.voice")
        if audio_generated and value != session.get("voice"):
            return Rejection("Voice cannot be updated after audio has been generated.",
                             code="cannot_update_voice", param="session.voice")
    elif key == "turn_detection":
        return _merge_turn_detection(session, value, model)
    elif key == "input_audio_transcription":
        # Fixed ASR model: {"model": null} or any model name still means the model's ASR.
        value = None if value is None else {"model": model.transcription_model}
    elif key == "audio":
        rejection = _check_audio_formats(value) or _check_qwen38_audio(value, model)
        if rejection is not None:
            return rejection
    elif key == "video":
        rejection = _check_video(value, model)
        if rejection is not None:
            return rejection
    elif key == "tools":
        rejection = _check_tools(value, model)
        if rejection is not None:
            return rejection
    else:
        rejection = _check_sampling(key, value, model)
        if rejection is not None:
            return rejection
        if key == "enable_search" and value and not model.supports_search:
            return Rejection(f"enable_search is not supported by {model.name}.",
                             param="session.enable_search")
    session[key] = copy.deepcopy(value)
    if session.get("enable_search") and session.get("tools"):
        return Rejection("enable_search cannot be used together with tools.",
                         param="session.tools")
    return None


def _merge_turn_detection(session: dict[str, Any], value: Any, model: Model) -> Rejection | None:
    if value is None:
        session["turn_detection"] = None
        return None
    if not isinstance(value, Mapping):
        return Rejection("turn_detection must be an object or null.",
                         param="session.turn_detection")
    base = session.get("turn_detection") or DEFAULT_TURN_DETECTION
    merged = dict(base) | dict(value)
    kind = merged.get("type")
    if kind not in ("server_vad", "semantic_vad") or (
            kind == "semantic_vad" and not model.supports_semantic_vad):
        return Rejection("Unsupported turn_detection.type", param="session.turn_detection.type")
    for name, allowed in limits.TURN_DETECTION.items():
        number = merged.get(name)
        if name == "idle_timeout_ms" and number is None:
            continue
        if number not in allowed:
            return Rejection(f"Invalid value for turn_detection.{name}: {number!r}; it must be "
                             f"between {allowed.low} and {allowed.high}.",
                             param=f"session.turn_detection.{name}")
    session["turn_detection"] = merged
    return None


def _check_audio_formats(value: Any) -> Rejection | None:
    if not isinstance(value, Mapping):
        return Rejection("audio must be an object.", param="session.audio")
    for side in ("input", "output"):
        fmt = ((value.get(side) or {}).get("format") or {})
        if fmt.get("type", "pcm") not in ("pcm", "wav"):
            return Rejection(f"Unsupported audio format: {fmt.get('type')!r}.",
                             param=f"session.audio.{side}.format.type")
        if fmt.get("sample_rate", 16000) not in INPUT_RATES_HZ:
            return Rejection(f"Unsupported sample rate: {fmt.get('sample_rate')!r}.",
                             param=f"session.audio.{side}.format.sample_rate")
    return None


def _check_qwen38_audio(value: Mapping[str, Any], model: Model) -> Rejection | None:
    """The qwen3.8 parts of ``audio`` (docs/qwen38.md): channels, packing, layout, and
    ``output.voice``; other models reject them."""
    fmt = (value.get("input") or {}).get("format") or {}
    extra = [name for name in ("sample_format", "channels", "packing", "channel_layout")
             if name in fmt]
    voice = (value.get("output") or {}).get("voice")
    multichannel = model.input_channels != (1,)
    if (extra or voice is not None) and not multichannel:
        name = f"input.format.{extra[0]}" if extra else "output.voice"
        return Rejection(f"audio.{name} is not supported by {model.name}.",
                         param=f"session.audio.{name}")
    channels = fmt.get("channels", 1)
    param = "session.audio.input.format"
    if channels not in model.input_channels:
        return Rejection(f"Unsupported channels: {channels!r}; use 1, 2 or 4.",
                         param=f"{param}.channels")
    if channels > 1 and (fmt.get("sample_rate", 16000) != 16000 or fmt.get("type", "pcm") != "pcm"):
        return Rejection("Multichannel input must be pcm at 16000 Hz.", param=param)
    if fmt.get("sample_format", "s16le") != "s16le" or fmt.get(
            "packing", "interleaved") != "interleaved":
        return Rejection("Only s16le interleaved input is supported.", param=param)
    layout = fmt.get("channel_layout")
    if layout is not None and layout not in session_fields.LAYOUTS.get(channels, ()):
        return Rejection(f"Unsupported channel_layout {layout!r} for {channels} channels.",
                         param=f"{param}.channel_layout")
    if voice is not None and (not isinstance(voice, str) or not voice.strip()):
        return Rejection("Voice must be a non-empty string.", param="session.audio.output.voice")
    return None


def _check_video(value: Any, model: Model) -> Rejection | None:
    if not model.supports_video_compact:
        return Rejection(f"video is not supported by {model.name}.", param="session.video")
    compact = ((value if isinstance(value, Mapping) else {}).get("input") or {}).get(
        "representation_compact", "none")
    if compact not in session_fields.REPRESENTATION_COMPACT:
        return Rejection(f"Invalid representation_compact: {compact!r}.",
                         param="session.video.input.representation_compact")
    return None


def _check_tools(value: Any, model: Model) -> Rejection | None:
    """Function tools pass as before; ``type: "mcp"`` needs qwen3.8 and a valid entry."""
    if not isinstance(value, list):
        return Rejection("tools must be a list.", param="session.tools")
    for tool in value:
        if not isinstance(tool, Mapping) or tool.get("type") != "mcp":
            continue
        if not model.supports_remote_mcp:
            return Rejection(f"Tool type 'mcp' is not supported by {model.name}.",
                             param="session.tools")
        label, url = tool.get("server_label"), tool.get("server_url")
        if not isinstance(label, str) or not label or not isinstance(url, str) or \
                not url.startswith(("http://", "https://")):
            return Rejection("An mcp tool needs server_label and an http(s) server_url.",
                             param="session.tools")
        if tool.get("require_approval", "always") not in session_fields.APPROVAL:
            return Rejection("require_approval must be 'always' or 'never'.",
                             param="session.tools")
    return None


def voice(session: Mapping[str, Any]) -> str | None:
    """The voice replies speak with: ``audio.output.voice`` wins over ``voice`` (qwen3.8)."""
    nested = ((session.get("audio") or {}).get("output") or {}).get("voice")
    value = nested if nested is not None else session.get("voice")
    return value if isinstance(value, str) else None


def input_channels(session: Mapping[str, Any]) -> int:
    fmt = (((session.get("audio") or {}).get("input") or {}).get("format") or {})
    channels = fmt.get("channels", 1)
    return channels if isinstance(channels, int) and channels in session_fields.CHANNELS else 1


# max_tokens is left out: its limit depends on the model (catalog.Model.max_output_tokens).
_SAMPLING_RANGES = {k: v for k, v in limits.SAMPLING.items() if k != "max_tokens"}


def _check_sampling(key: str, value: Any, model: Model) -> Rejection | None:
    if value is None:
        return None
    if model.family == "qwen3.8-omni":  # its own documented ranges (docs/qwen38.md)
        if key == "max_tokens" and value not in limits.Range(1, QWEN38_MAX_TOKENS):
            return Rejection(f"Invalid value for max_tokens: {value!r}; it must be between 1 "
                             f"and {QWEN38_MAX_TOKENS}.", param="session.max_tokens")
        if key == "repetition_penalty" and value in limits.REPETITION_PENALTY_QWEN38:
            return None
    if key not in _SAMPLING_RANGES:
        return None
    if value not in _SAMPLING_RANGES[key]:
        return Rejection(f"Invalid value for {key}: {value!r}.", param=f"session.{key}")
    return None


def input_rate_hz(session: Mapping[str, Any]) -> int:
    fmt = (((session.get("audio") or {}).get("input") or {}).get("format") or {})
    return int(fmt.get("sample_rate") or 16000)


def output_rate_hz(session: Mapping[str, Any]) -> int:
    fmt = (((session.get("audio") or {}).get("output") or {}).get("format") or {})
    return int(fmt.get("sample_rate") or 24000)
