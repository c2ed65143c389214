"""What the config may contain and what each value must be: keys, types, ranges, features.

``config.py`` gathers values from flags, environment and file, each tagged with where it came
from (a ``Value``); ``validate`` turns them into ``Settings`` arguments or raises a one-line
``ConfigError`` that names that origin and the fix.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omnichat.catalog import DEFAULT_MODEL, MODELS, Model
from omnichat.errors import ConfigError

ECHO_MODES = ("auto", "aec", "gate", "half-duplex", "off")
VAD_TYPES = ("server_vad", "semantic_vad")
MANUAL = "manual"  # turn_detection.type for push-to-talk: the client commits each turn
SAMPLING_NAMES = ("temperature", "top_p", "top_k", "max_tokens", "repetition_penalty",
                  "presence_penalty", "seed")


@dataclass(frozen=True)
class Value:
    value: Any
    source: str  # "flag" | "env" | "file" | "default"
    where: str  # "flag --voice", "environment variable OMNICHAT_MODEL", "config file X, key 'y'"


# key in the file (dotted for tables) -> (setting name, kind)
FILE_KEYS: Mapping[str, tuple[str, str]] = {
    "region": ("region", "str"),
    "model": ("model", "str"),
    "voice": ("voice", "str"),
    "instructions": ("instructions", "str"),
    "modalities": ("modalities", "str_list"),
    "enable_search": ("enable_search", "bool"),
    "smooth_output": ("smooth_output", "bool"),
    "transcript_dir": ("transcript_dir", "path"),
    "turn_detection.type": ("turn_detection", "str"),
    "turn_detection.threshold": ("threshold", "float"),
    "turn_detection.silence_duration_ms": ("silence_duration_ms", "int"),
    "turn_detection.prefix_padding_ms": ("prefix_padding_ms", "int"),
    **{f"sampling.{name}": (name, "int" if name in ("top_k", "max_tokens", "seed") else "float")
       for name in SAMPLING_NAMES},
    "audio.input_device": ("input_device", "device"),
    "audio.output_device": ("output_device", "device"),
    "audio.echo_mode": ("echo_mode", "str"),
}
TABLES = ("turn_detection", "sampling", "audio", "regions")
REGION_KEYS: Mapping[str, str] = {"url": "str", "api_key_env": "str"}

_KIND_TEXT = {
    "str": "a string", "bool": "true or false", "int": "a whole number", "float": "a number",
    "str_list": "a list of strings", "device": "a device name (string) or index (number)",
    "path": "a path (string)", "vad": '"server_vad", "semantic_vad" or "manual"',
}


def check_kind(kind: str, value: Any, where: str) -> None:
    ok = {
        "str": lambda v: isinstance(v, str),
        "bool": lambda v: isinstance(v, bool),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "str_list": lambda v: isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v),
        "device": lambda v: isinstance(v, (str, int)) and not isinstance(v, bool),
        "path": lambda v: isinstance(v, (str, Path)),
        "vad": lambda v: isinstance(v, str),
    }[kind]
    if not ok(value):
        raise ConfigError(f"{where}: must be {_KIND_TEXT[kind]}, got {_show(value)}; "
                          f"change the value")


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    return repr(value) if not isinstance(value, (list, tuple)) else repr(list(value))


# Settings whose command-line flag is not simply the setting's name.
_FLAG_NAMES = {"enable_search": "--search", "modalities": "--text-only"}


def flag_name(name: str) -> str:
    return _FLAG_NAMES.get(name, "--" + name.replace("_", "-"))


def suggest(name: str, candidates: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for a close match (or the same key in another table), else ""."""
    candidates = list(candidates)
    leaf = name.rsplit(".", 1)[-1]
    for candidate in candidates:  # the right name in the wrong table
        if candidate != name and candidate.rsplit(".", 1)[-1] == leaf:
            return f"; did you mean '{candidate}'?"
    match = difflib.get_close_matches(name, candidates, n=1)
    if not match:
        leaves = {c.rsplit(".", 1)[-1]: c for c in candidates}
        close = difflib.get_close_matches(leaf, list(leaves), n=1)
        match = [leaves[close[0]]] if close else []
    return f"; did you mean '{match[0]}'?" if match else ""


def _default(value: Any) -> Value:
    return Value(value, "default", "built-in default")


def validate(layered: Mapping[str, Value]) -> dict[str, Any]:
    """Check every value against its range and the model's features; return Settings kwargs."""
    model, model_value = _model(layered)
    get = lambda name, default=None: layered.get(name, _default(default))  # noqa: E731
    resolved: dict[str, Any] = {
        "region": layered["region"].value,
        "url": _url(layered["url"]),
        "api_key_env": _env_name(layered["api_key_env"]),
        "api_key": layered["api_key"].value if "api_key" in layered else None,
        "model": model.name,
        "voice": _voice(get("voice", model.default_voice), model, model_value),
        "instructions": get("instructions").value or None,
        "modalities": _modalities(get("modalities", ["text", "audio"])),
        "turn_detection": _turn_detection(layered, model, model_value),
        "enable_search": _feature(get("enable_search", False), model, model_value, "search"),
        "smooth_output": _feature(get("smooth_output"), model, model_value, "smooth"),
        "input_device": _device(get("input_device")),
        "output_device": _device(get("output_device")),
        "echo_mode": _choice(get("echo_mode", "auto"), ECHO_MODES),
    }
    resolved.update(_sampling(layered, model))
    if "transcript_dir" in layered:
        value = layered["transcript_dir"]
        if not str(value.value).strip():
            raise ConfigError(f"{value.where}: transcript_dir is empty; give a directory such "
                              f"as \"~/omnichat-transcripts\", or remove the key for the default")
        resolved["transcript_dir"] = Path(value.value).expanduser()
    return resolved


def _model(layered: Mapping[str, Value]) -> tuple[Model, Value]:
    value = layered.get("model", _default(DEFAULT_MODEL))
    if value.value not in MODELS:
        raise ConfigError(f"{value.where}: unknown model '{value.value}'"
                          f"{suggest(value.value, MODELS)}; "
                          f"known models: {', '.join(MODELS)}")
    return MODELS[value.value], value


def _url(value: Value) -> str:
    url = value.value
    if not url.startswith(("ws://", "wss://")) or len(url.split("://", 1)[1]) == 0:
        raise ConfigError(f"{value.where}: '{url}' is not a WebSocket URL; use "
                          f"wss://HOST/api-ws/v1/realtime")
    return url


def _env_name(value: Value) -> str:
    name = value.value
    if not name or not all(c.isalnum() or c == "_" for c in name) or name[0].isdigit():
        raise ConfigError(f"{value.where}: '{name}' is not an environment variable name; use "
                          f"letters, digits and _ such as DASHSCOPE_API_KEY")
    return name


def _voice(value: Value, model: Model, model_value: Value) -> str:
    if model.accepts_voice(value.value):
        return value.value
    close = [v.voice for v in model.voices if v.voice.lower() == str(value.value).lower()]
    hint = f"did you mean '{close[0]}'? " if close else ""
    raise ConfigError(f"{value.where}: model {model.name} (from {_origin(model_value)}) has no "
                      f"voice '{value.value}'; {hint}run `omnichat voices --model {model.name}` "
                      f"to list its voices")


def _origin(value: Value) -> str:
    return "the built-in default" if value.source == "default" else value.where


def _modalities(value: Value) -> tuple[str, ...]:
    given = list(value.value)
    if sorted(given) == ["text"]:
        return ("text",)
    if sorted(given) == ["audio", "text"]:
        return ("text", "audio")
    raise ConfigError(f"{value.where}: modalities {given!r} are not supported; use "
                      f"[\"text\"] or [\"text\", \"audio\"]")


def _feature(value: Value, model: Model, model_value: Value, feature: str) -> Any:
    if value.value is None or (feature == "search" and value.value is False):
        return value.value
    supported, needs, key = {
        "search": (model.supports_search, "a qwen3.5-omni model", "enable_search"),
        "smooth": (model.supports_smooth_output, "a qwen3-omni-flash model", "smooth_output"),
    }[feature]
    if not supported:
        raise ConfigError(f"{value.where}: {key} needs {needs}, but the model is {model.name} "
                          f"(from {_origin(model_value)}); remove {key} or choose such a model")
    return value.value


def _turn_detection(layered: Mapping[str, Value], model: Model, model_value: Value):
    from omnichat.config import TurnDetection  # the dataclass lives with Settings

    kind = layered.get("turn_detection", _default("server_vad"))
    if kind.value == MANUAL:
        return None
    if kind.value not in VAD_TYPES:
        raise ConfigError(f"{kind.where}: turn detection '{kind.value}' is unknown; use "
                          f"server_vad, semantic_vad or manual")
    if kind.value == "semantic_vad" and not model.supports_semantic_vad:
        raise ConfigError(f"{kind.where}: semantic_vad needs a qwen3.5-omni model, but the model "
                          f"is {model.name} (from {_origin(model_value)}); use server_vad")
    threshold = _ranged(layered.get("threshold", _default(0.5)), -1.0, 1.0,
                        "a number from -1 (most sensitive) to 1")
    silence = _ranged(layered.get("silence_duration_ms", _default(800)), 200, 6000,
                      "a whole number of milliseconds from 200 to 6000")
    padding = _ranged(layered.get("prefix_padding_ms", _default(300)), 0, 6000,
                      "a whole number of milliseconds from 0 to 6000")
    return TurnDetection(kind.value, float(threshold), silence, padding)


def _ranged(value: Value, low: float, high: float, fix: str, *, open_high: bool = False):
    number = value.value
    inside = low <= number < high if open_high else low <= number <= high
    if not inside:
        raise ConfigError(f"{value.where}: {_show(number)} is out of range; use {fix}")
    return number


def _sampling(layered: Mapping[str, Value], model: Model) -> dict[str, Any]:
    limit = model.max_output_tokens or 2**31 - 1
    rules = {
        "temperature": (0, 2, "a number from 0 up to (not including) 2", True),
        "top_p": (1e-9, 1, "a number above 0 and at most 1", False),
        "top_k": (0, 2**31 - 1, "0 or more (above 100 disables top_k)", False),
        "max_tokens": (1, limit, f"a whole number from 1 to {limit} for {model.name}", False),
        "repetition_penalty": (1e-9, 2**31 - 1, "a number above 0", False),
        "presence_penalty": (-2, 2, "a number from -2 to 2", False),
        "seed": (0, 2**31 - 1, "a whole number from 0 to 2147483647", False),
    }
    resolved = {}
    for name, (low, high, fix, open_high) in rules.items():
        if name in layered:
            resolved[name] = _ranged(layered[name], low, high, fix, open_high=open_high)
        else:
            resolved[name] = None
    return resolved


def _device(value: Value) -> str | int | None:
    device = value.value
    if device is None:
        return None
    if isinstance(device, int) and device < 0 or isinstance(device, str) and not device.strip():
        raise ConfigError(f"{value.where}: {_show(device)} is not a device; use a name from "
                          f"`omnichat devices` or its index (0 or more)")
    return device


def _choice(value: Value, choices: tuple[str, ...]) -> str:
    if value.value not in choices:
        raise ConfigError(f"{value.where}: '{value.value}' is not one of {', '.join(choices)}"
                          f"{suggest(value.value, choices)}")
    return value.value
