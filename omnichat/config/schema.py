"""Checking values against the settings table: kinds, choices, ranges and model features.

The table itself (names, kinds, ranges, flags, variables, file keys) is ``config_table``;
``config.py`` gathers values from flags, environment and file, each tagged with where it came
from (a ``Value``); ``validate`` turns them into ``Settings`` arguments or raises a one-line
``ConfigError`` that names that origin and the fix. Values that the table marks as not
available yet are refused here, with the table's text saying what to use instead.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omnichat.catalog import DEFAULT_MODEL, MODELS, Model
from omnichat.config.table import BY_NAME, SAMPLING_NAMES, TURN_DETECTION_PARTS, Setting
from omnichat.errors import ConfigError
from omnichat.protocol.limits import Range


@dataclass(frozen=True)
class Value:
    value: Any
    source: str  # "flag" | "env" | "file" | "default"
    where: str  # "flag --voice", "environment variable OMNICHAT_MODEL", "config file X, key 'y'"


_KIND_TEXT = {
    "str": "a string", "bool": "true or false", "int": "a whole number", "float": "a number",
    "str_list": "a list of strings", "device": "a device name (string) or index (number)",
    "path": "a path (string)",
}


def check_kind(kind: str, value: Any, where: str) -> None:
    checks: dict[str, Callable[[Any], bool]] = {
        "str": lambda v: isinstance(v, str),
        "bool": lambda v: isinstance(v, bool),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "str_list": lambda v: isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v),
        "device": lambda v: isinstance(v, (str, int)) and not isinstance(v, bool),
        "path": lambda v: isinstance(v, (str, Path)),
    }
    if not checks[kind](value):
        raise ConfigError(f"{where}: must be {_KIND_TEXT[kind]}, got {_show(value)}; "
                          f"change the value")


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    return repr(value) if not isinstance(value, (list, tuple)) else repr(list(value))


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


def key_suggestion(dotted: str, file_keys: Iterable[str], tables: Iterable[str]) -> str:
    """The fix for an unknown file key: a close key *of the same table* or a top-level one
    (``[turn_detection] voise`` -> ``voice``, never the table's own name); a top-level
    unknown key may also be the right name of a table's key (``threshold``)."""
    keys = list(file_keys)
    table, _, leaf = dotted.rpartition(".")
    top = [k for k in keys if "." not in k]
    if not table:
        return suggest(dotted, [*keys, *tables])
    same = [k.rpartition(".")[2] for k in keys if k.rpartition(".")[0] == table]
    match = difflib.get_close_matches(leaf, same, n=1) or difflib.get_close_matches(
        leaf, same, n=1, cutoff=0.5)
    if match:
        return f"; did you mean '{match[0]}'?"
    match = difflib.get_close_matches(leaf, top, n=1)
    if match:
        return (f"; did you mean '{match[0]}'? It is a top-level key: move it above the "
                "first [table]")
    return ""


def key_lines(text: str) -> dict[str, int]:
    """The line (1-based) where each dotted key of a TOML text is first set: enough to point
    at a mistake (``tomllib`` keeps no positions)."""
    lines: dict[str, int] = {}
    table = ""
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("["):
            table = line.strip("[] \t").split("]")[0].strip()
            lines.setdefault(table, number)
            continue
        key, equals, _ = line.partition("=")
        key = key.strip().strip("\"'")
        if equals and key and not line.startswith("#"):
            lines.setdefault(f"{table}.{key}" if table else key, number)
    return lines


class Problems:
    """Every configuration mistake found in one pass, reported together: one line each."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, error: ConfigError) -> None:
        self.lines.append(str(error))

    def raise_all(self) -> None:
        """One ConfigError with a line per mistake, in the order of the file's lines."""
        if self.lines:
            ordered = sorted(dict.fromkeys(self.lines), key=_line_number)
            raise ConfigError("\n".join(ordered))


def _line_number(problem: str) -> int:
    match = re.match(r"config file .*?:(\d+), key ", problem)
    return int(match.group(1)) if match else 1 << 30


def validate_all(layered: dict[str, Value], problems: Problems) -> dict[str, Any] | None:
    """``validate``, reporting every bad value: each one found is noted and dropped (its
    default takes its place) and the check runs again. None when any was found."""
    for _ in range(len(layered) + 1):
        try:
            resolved = validate(layered)
        except ConfigError as exc:
            problems.add(exc)
            culprits = sorted((str(exc).find(value.where), name)  # the one named first
                              for name, value in layered.items()
                              if value.source != "default" and value.where in str(exc))
            if not culprits or culprits[0][1] in ("region", "url", "api_key_env"):
                return None
            del layered[culprits[0][1]]
            continue
        return None if problems.lines else resolved
    return None


def _default(value: Any) -> Value:
    return Value(value, "default", "built-in default")


def refuse_unavailable(layered: Mapping[str, Value]) -> None:
    """A setting (or a value of one) that has no effect yet is refused, naming what to use."""
    for name, value in layered.items():
        setting = BY_NAME.get(name)
        if setting is None or value.source == "default":
            continue
        if not setting.available:
            raise ConfigError(f"{value.where}: {setting.refusal}")
        if isinstance(value.value, str) and value.value in setting.refused_values:
            raise ConfigError(f"{value.where}: {setting.refused_values[value.value]}")


def checked(setting: Setting, value: Value) -> Any:
    """The value, after the table's choices and range for ``setting``."""
    if setting.choices and value.value not in setting.choices:
        offered = _offered(setting)
        raise ConfigError(f"{value.where}: {setting.name} '{value.value}' is unknown; use "
                          f"{', '.join(offered[:-1])} or {offered[-1]}"
                          f"{suggest(str(value.value), offered)}")
    if setting.limits is not None and value.value is not None:
        return _ranged(value, setting.limits, range_fix(setting, setting.limits))
    return value.value


def _offered(setting: Setting) -> list[str]:
    return [c for c in setting.choices if c not in setting.refused_values]


def range_fix(setting: Setting, allowed: Range) -> str:
    """``a whole number of milliseconds from 200 to 6000``: how a value must be."""
    noun = "a whole number" if setting.kind == "int" else "a number"
    unit = (" of milliseconds" if setting.name.endswith("_ms")
            else " of seconds" if setting.name.endswith("_s") else "")
    return f"{noun}{unit} {allowed.text()}"


def validate(layered: Mapping[str, Value]) -> dict[str, Any]:
    """Check every value against the table and the model's features; return Settings kwargs."""
    refuse_unavailable(layered)
    model, model_value = _model(layered)

    def get(name: str) -> Value:
        return layered.get(name) or _default(BY_NAME[name].default)

    resolved: dict[str, Any] = {
        "region": layered["region"].value,
        "url": _url(layered["url"]),
        "api_key_env": _env_name(layered["api_key_env"]),
        "api_key": layered["api_key"].value if "api_key" in layered else None,
        "model": model.name,
        "voice": _voice(layered.get("voice") or _default(model.default_voice), model,
                        model_value),
        "instructions": get("instructions").value or None,
        "modalities": _modalities(get("modalities")),
        "turn_detection": _turn_detection(layered, model, model_value),
        "enable_search": _feature(get("enable_search"), model, model_value, "search"),
        "smooth_output": _feature(get("smooth_output"), model, model_value, "smooth"),
        "input_device": _device(get("input_device")),
        "output_device": _device(get("output_device")),
        "echo_mode": checked(BY_NAME["echo_mode"], get("echo_mode")),
        "barge_in": checked(BY_NAME["barge_in"], get("barge_in")),
        "allow_insecure": get("allow_insecure").value,
        "connect_timeout_s": float(checked(BY_NAME["connect_timeout_s"],
                                           get("connect_timeout_s"))),
    }
    resolved.update(_sampling(layered, model))
    for name in ("reconnect_attempts", "context_replay_turns", "context_replay_chars"):
        resolved[name] = int(checked(BY_NAME[name], get(name)))
    resolved["session_rollover_min"] = float(checked(BY_NAME["session_rollover_min"],
                                                     get("session_rollover_min")))
    if "transcript_dir" in layered:
        resolved["transcript_dir"] = _transcript_dir(layered["transcript_dir"])
    return resolved


def _transcript_dir(value: Value) -> Path:
    if not str(value.value).strip():
        raise ConfigError(f"{value.where}: transcript_dir is empty; give a directory such "
                          f"as \"~/omnichat-transcripts\", or remove the key for the default")
    return Path(value.value).expanduser()


def _model(layered: Mapping[str, Value]) -> tuple[Model, Value]:
    value = layered.get("model", _default(DEFAULT_MODEL))
    if value.value not in MODELS:
        raise ConfigError(f"{value.where}: unknown model '{value.value}'"
                          f"{suggest(value.value, MODELS)}; "
                          f"known models: {', '.join(MODELS)}")
    return MODELS[value.value], value


def _url(value: Value) -> str:
    url: str = value.value
    if not url.startswith(("ws://", "wss://")) or len(url.split("://", 1)[1]) == 0:
        raise ConfigError(f"{value.where}: '{url}' is not a WebSocket URL; use "
                          f"wss://HOST/api-ws/v1/realtime")
    return url


def _env_name(value: Value) -> str:
    name: str = value.value
    if not name or not all(c.isalnum() or c == "_" for c in name) or name[0].isdigit():
        raise ConfigError(f"{value.where}: '{name}' is not an environment variable name; use "
                          f"letters, digits and _ such as DASHSCOPE_API_KEY")
    return name


def _voice(value: Value, model: Model, model_value: Value) -> str:
    if model.accepts_voice(value.value):
        return str(value.value)
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


def _turn_detection(layered: Mapping[str, Value], model: Model, model_value: Value) -> Any:
    from omnichat.config.settings import TurnDetection  # the dataclass lives with Settings

    kind = layered.get("turn_detection", _default("server_vad"))
    checked(BY_NAME["turn_detection"], kind)
    if kind.value == "manual":  # reachable once push-to-talk is enabled in the table
        return None
    if kind.value == "semantic_vad" and not model.supports_semantic_vad:
        raise ConfigError(f"{kind.where}: semantic_vad needs a qwen3.5-omni model, but the model "
                          f"is {model.name} (from {_origin(model_value)}); use server_vad")
    parts = {name: checked(BY_NAME[name], layered.get(name) or _default(BY_NAME[name].default))
             for name in TURN_DETECTION_PARTS}
    return TurnDetection(kind.value, float(parts["threshold"]), parts["silence_duration_ms"],
                         parts["prefix_padding_ms"])


def _ranged(value: Value, allowed: Range, fix: str) -> Any:
    if value.value not in allowed:
        raise ConfigError(f"{value.where}: {_show(value.value)} is out of range; use {fix}")
    return value.value


def _sampling(layered: Mapping[str, Value], model: Model) -> dict[str, Any]:
    resolved: dict[str, Any] = {name: None for name in SAMPLING_NAMES}
    for name in SAMPLING_NAMES:
        if name not in layered:
            continue
        setting = BY_NAME[name]
        allowed = setting.limits or Range(-math.inf, math.inf)
        if name == "max_tokens" and model.max_output_tokens:
            allowed = Range(allowed.low, model.max_output_tokens)
            fix = f"{range_fix(setting, allowed)} for {model.name}"
            resolved[name] = _ranged(layered[name], allowed, fix)
        else:
            resolved[name] = checked(setting, layered[name])
    return resolved


def _device(value: Value) -> str | int | None:
    device: str | int | None = value.value
    if device is None:
        return None
    if isinstance(device, int) and device < 0 or isinstance(device, str) and not device.strip():
        raise ConfigError(f"{value.where}: {_show(device)} is not a device; use a name from "
                          f"`omnichat devices` or its index (0 or more)")
    return device
