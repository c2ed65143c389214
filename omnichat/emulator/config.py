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
from omnichat.protocol import limits

DEFAULT_TURN_DETECTION = {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
                          "silence_duration_ms": 800, "create_response": True,
                          "interrupt_response": True}
MODALITIES_MESSAGE = ("Invalid modalities: {0}. Supported combinations are: ['text'] and "
                      "['audio', 'text'].")
INPUT_RATES_HZ = (8000, 16000, 24000, 48000)


@dataclass(frozen=True)
class Rejection:
    message: str
    code: str = "invalid_value"
    param: str = ""


def default_session(model: Model, session_id: str) -> dict[str, Any]:
    """The ``session`` object of ``session.created`` (real shape, protocol.md §4.2)."""
    return {
        "object": "realtime.session", "model": model.name, "modalities": ["text", "audio"],
        "voice": model.default_voice, "input_audio_format": "pcm", "output_audio_format": "pcm",
        "input_audio_transcription": {"model": model.transcription_model},
        "turn_detection": dict(DEFAULT_TURN_DETECTION), "id": session_id,
    }


def echo(session: Mapping[str, Any]) -> dict[str, Any]:
    """The ``session`` object of ``session.updated``: ``id, object, model`` first (real order)."""
    head = {"id": session["id"], "object": session["object"], "model": session["model"]}
    return head | {k: copy.deepcopy(v) for k, v in session.items() if k not in head}


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
        rejection = _check_audio_formats(value)
        if rejection is not None:
            return rejection
    else:
        rejection = _check_sampling(key, value)
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


# max_tokens is left out: its limit depends on the model (catalog.Model.max_output_tokens).
_SAMPLING_RANGES = {k: v for k, v in limits.SAMPLING.items() if k != "max_tokens"}


def _check_sampling(key: str, value: Any) -> Rejection | None:
    if key not in _SAMPLING_RANGES or value is None:
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
